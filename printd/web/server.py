"""``printd-web --config PATH``: the dashboard's process. Reads the station's TOML (its ``[web]`` table), serves the
application with uvicorn on ``[web] listen`` (HTTPS when ``tls_cert``/``tls_key`` are set), logs as printd does,
tells systemd READY=1 once it listens, and stops cleanly on SIGTERM (open event streams are closed).

A clean stop ends the process by the signal that asked for it, as uvicorn does (systemd counts SIGTERM as a clean
exit); 2 when the configuration cannot be used (the message names the key), 1 when the server cannot start (the
address taken, the certificate unreadable).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import socket
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from printd import logging as printd_logging
from printd.config import DEFAULT_CONFIG_PATH, ConfigError, listen_address, load_config
from printd.notify import Notifier
from printd.web.app import create_app
from printd.web.state import Settings

log = printd_logging.get_logger("printd.web")

GRACEFUL_SECONDS = 5  # on SIGTERM: how long open requests get to finish
STOP_REPORT_SECONDS = 10  # past the graceful time: a stop still under way is reported with every thread's stack


class _Server(uvicorn.Server):
    """uvicorn's server, telling systemd when it listens and when it stops."""

    def __init__(self, config: uvicorn.Config, notifier: Notifier, settings: Settings) -> None:
        super().__init__(config)
        self.notifier = notifier
        self.settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            scheme = "https" if self.settings.tls else "http"
            log.info("web.listening", url=f"{scheme}://{self.settings.web.listen}", socket=self.settings.socket)
            self.notifier.send(ready=1, status=f"serving {scheme}://{self.settings.web.listen}")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.notifier.send(stopping=1)
        log.info("web.stopping")
        # A stop that overruns the graceful time by far leaves every thread's stack on stderr (the journal): what
        # held it is then known, before systemd's kill.
        faulthandler.dump_traceback_later(GRACEFUL_SECONDS + STOP_REPORT_SECONDS, exit=False)
        await super().shutdown(sockets)


class _ToStructlog(logging.Handler):
    """uvicorn's own log records (start-up errors, a failed request) as printd-web's structured lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format must not take the server down
            message = str(record.msg)
        level = record.levelname.lower()
        event = {"text": message}
        if record.exc_info:
            event["exception"] = logging.Formatter().formatException(record.exc_info)
        log.log(logging.getLevelNamesMapping().get(record.levelname, logging.INFO), f"uvicorn.{level}", **event)


def _route_uvicorn_logs() -> None:
    handler = _ToStructlog()
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # requests are not logged: their paths may carry refs only,
    # but the station's journal has no use for every poll of every open page


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="printd-web",
        description="The print station's dashboard: printers, queue, stock and alerts, live, in a browser.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG_PATH,
        metavar="PATH",
        help=f"the station's configuration, with its [web] table (default {DEFAULT_CONFIG_PATH})",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    printd_logging.configure(args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"printd-web: {exc}", file=sys.stderr)
        return 2
    settings = Settings.from_config(config)
    host, port = listen_address(settings.web.listen)
    if settings.insecure:
        log.warning(
            "web.insecure_lan",
            listen=settings.web.listen,
            message="serving the LAN without TLS (insecure_lan = true): passwords cross the network unencrypted",
        )
    _route_uvicorn_logs()
    notifier = Notifier()
    uvicorn_config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        ssl_certfile=settings.web.tls_cert,
        ssl_keyfile=settings.web.tls_key,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    server = _Server(uvicorn_config, notifier, settings)
    try:
        server.run()
    except (OSError, ssl.SSLError) as exc:  # the certificate or key cannot be read or do not match
        log.error("web.start_failed", reason=str(exc), tls_cert=settings.web.tls_cert, tls_key=settings.web.tls_key)
        print(f"printd-web: cannot start: {exc}; check [web] tls_cert and tls_key", file=sys.stderr)
        return 1
    finally:
        notifier.close()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
