"""The printd daemon: opens the store, starts the printers' workers, serves the control socket and spool."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from printd.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from printd.control.methods import Dispatcher
from printd.control.server import ControlServer, ControlSocketError
from printd.logging import configure, get_logger
from printd.notify import Notifier
from printd.printers import BuiltPrinter, build_printer
from printd.spool import SpoolWatcher
from printd.station import Station
from printd.store import SqliteStore

log = get_logger("printd.daemon")

PURGE_EVERY_SECONDS = 60.0


class Daemon:
    """One station: store, printer workers, control socket, spool watcher and content retention."""

    def __init__(self, config: Config, printers: list[BuiltPrinter] | None = None) -> None:
        self.config = config
        station_config = config.station
        self._lock_file = _lock_database(Path(station_config.database))
        self.store = SqliteStore(
            station_config.database, station=station_config.name, max_attempts=station_config.max_attempts
        )
        self.printers = printers if printers is not None else [build_printer(p) for p in config.printer]
        self.station = Station(self.store, self.printers, low_stock_threshold=station_config.low_stock_threshold)
        self.dispatcher = Dispatcher(self.store, self.station, station_config.name)
        self.server = ControlServer(
            self.dispatcher,
            config.control.roles.as_dict(),
            socket_path=station_config.socket,
            socket_group=config.control.socket_group,
            max_message_bytes=config.control.max_message_bytes,
            idle_timeout=config.control.idle_timeout_seconds,
        )
        self.spool = (
            SpoolWatcher(self.store, Path(station_config.spool), self.station.notify_work)
            if station_config.spool
            else None
        )
        self.notifier = Notifier()
        self.stop_requested = asyncio.Event()

    async def run(self, on_ready: Callable[[Daemon], None] | None = None) -> None:
        await self.server.start()
        self.station.start()
        tasks = [asyncio.create_task(self._purge_loop())]
        if self.spool is not None:
            tasks.append(asyncio.create_task(self._spool_loop()))
        log.info("printd.ready", station=self.config.station.name, printers=[p.name for p in self.printers])
        self.notifier.send(ready=1, status=f"printing with {len(self.printers)} printer(s)")
        if on_ready is not None:
            on_ready(self)
        try:
            await self.stop_requested.wait()
        finally:
            self.notifier.send(stopping=1)
            log.info("printd.stopping")
            for task in tasks:
                task.cancel()
            self.server.close()
            await self.server.wait_closed()
            finished = await asyncio.to_thread(self.station.stop, 120.0)
            if not finished:
                log.error("printd.stop_timeout", detail="a printer did not finish its card in time")
            self.store.close()
            self.notifier.close()
            self._lock_file.close()
            log.info("printd.stopped")

    def request_stop(self) -> None:
        self.stop_requested.set()

    async def _spool_loop(self) -> None:
        assert self.spool is not None
        while True:
            try:
                await asyncio.to_thread(self.spool.scan)
            except Exception:
                log.exception("spool.scan_failed")
            await asyncio.sleep(self.config.station.spool_poll_seconds)

    async def _purge_loop(self) -> None:
        retention = self.config.station.retention_hours * 3600
        while True:
            try:
                purged = await asyncio.to_thread(self.store.purge_content, time.time() - retention)
                if purged:
                    log.info("content.purged", jobs=purged)
            except Exception:
                log.exception("content.purge_failed")
            await asyncio.sleep(PURGE_EVERY_SECONDS)


def _lock_database(database: Path) -> IO[bytes]:
    """One daemon per database: a second one would drive the same printers and claim the same jobs."""
    database.parent.mkdir(parents=True, exist_ok=True)
    handle = database.with_name(database.name + ".lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(f"another printd is already using {database}; stop it first") from None
    return handle


async def serve(config: Config) -> None:
    daemon = Daemon(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    await daemon.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="printd", description="The print-station daemon for ID-card printers.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon in the foreground (as systemd does)")
    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    for p in (run, check):
        p.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help=f"default {DEFAULT_CONFIG_PATH}")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"printd: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"{args.config}: ok ({len(config.printer)} printer(s))")
        return 0
    configure(args.log_level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config))
    except (ControlSocketError, OSError, RuntimeError) as exc:
        log.error("printd.start_failed", error=str(exc))
        print(f"printd: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
