"""The printd daemon: opens the store, starts the printers' workers, serves the control socket and spool."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from printd.activation import ActivationError, bound_path, control_socket, inherited_fds
from printd.card_metrics import CardMetrics
from printd.config import DEFAULT_CONFIG_PATH, Config, ConfigError, PrinterConfig, load_config
from printd.control.methods import Dispatcher
from printd.control.server import ControlServer, ControlSocketError
from printd.errors import PrintdError
from printd.logging import configure, get_logger
from printd.notify import Notifier
from printd.printers import BuiltPrinter, build_printer
from printd.reload import PrinterSet, live_config
from printd.reports.settings import ReportSettings
from printd.service_status import status_loop
from printd.spool import SpoolWatcher
from printd.station import Station
from printd.store import Store
from printd.store.engines import is_postgres, open_store
from printd.store.health import StorageUnavailableError
from printd.watchdog import bounds_for, wait_probed, watch, watchdog_loop

log = get_logger("printd.daemon")

PURGE_EVERY_SECONDS = 60.0
HEARD_EVERY_SECONDS = 5.0
"""How often the station tells the store it is alive (other stations' status shows when it was last heard)."""
STOP_TIMEOUT_SECONDS = 120.0
"""How long SIGTERM waits for the card in each printer; below TimeoutStopSec= in systemd/printd.service."""


class Daemon:
    """One station: store, printer workers, control socket, spool watcher and content retention."""

    def __init__(
        self,
        config: Config,
        printers: list[BuiltPrinter] | None = None,
        *,
        config_path: Path | None = None,
        listen_socket: socket.socket | None = None,
    ) -> None:
        """``config_path``: re-read on SIGHUP; ``listen_socket``: the control socket systemd passed."""
        self.config = config
        self.config_path = config_path
        station_config = config.station
        shared = is_postgres(station_config.database)
        # One daemon per station: for a SQLite file a lock file beside it, on PostgreSQL a lock the server holds
        # for as long as this station's connection lives.
        self._lock_file = None if shared else _lock_database(Path(station_config.database))
        self.store: Store = open_store(
            station_config.database, station=station_config.name, max_attempts=station_config.max_attempts
        )
        self.store.lock_station()
        built = printers if printers is not None else [build_printer(p) for p in config.printer]
        self.store.register_station([p.name for p in built], socket.gethostname(), os.getpid())
        self.printers = [watch(p, bounds_for(config.printer_named(p.name))) for p in built]
        self.metrics = CardMetrics(ZoneInfo(station_config.timezone))
        self.metrics.seed_today(
            self.store.period_reads(self.metrics.day_start(), time.time() + 1).rows, station_config.name
        )
        self.station = Station(
            self.store,
            self.printers,
            low_stock_threshold=station_config.low_stock_threshold,
            metrics=self.metrics,
        )
        self.dispatcher = Dispatcher(self.store, self.station, station_config.name, ReportSettings.from_config(config))
        self.station.reorder = self.dispatcher.report_methods.reorder_point
        self.server = ControlServer(
            self.dispatcher,
            config.control.roles.as_dict(),
            socket_path=None if listen_socket is not None else station_config.socket,
            sock=listen_socket,
            socket_group=config.control.socket_group,
            max_message_bytes=config.control.max_message_bytes,
            idle_timeout=config.control.idle_timeout_seconds,
            request_timeout=config.control.request_timeout_seconds,
            write_timeout=config.control.write_timeout_seconds,
            max_clients=config.control.max_clients,
            max_clients_per_user=config.control.max_clients_per_user,
            reserved_for_supervisors=config.control.reserved_for_supervisors,
            web_users=config.control.web_users,
        )
        self.dispatcher.user_methods.roles = config.control.roles.as_dict()
        self.spool = (
            SpoolWatcher(
                self.store, Path(station_config.spool), self.station.notify_work, config.control.roles.as_dict()
            )
            if station_config.spool
            else None
        )
        self.printer_set = PrinterSet(self.station, list(config.printer), self._build_printer)
        self.notifier = Notifier()
        self.stop_requested = asyncio.Event()
        self._reload_requested = asyncio.Event()

    async def run(self, on_ready: Callable[[Daemon], None] | None = None) -> None:
        await self.server.start()
        self.station.start()
        watchdog = None
        if self.notifier.watchdog_seconds is not None:
            interval = self.notifier.watchdog_seconds / 2
            watchdog = asyncio.create_task(watchdog_loop(self.notifier, self.station, interval))
        self.store.watch_queue(self.station.notify_work)
        tasks = [asyncio.create_task(self._purge_loop()), asyncio.create_task(self._heard_loop())]
        if self.spool is not None:
            tasks.append(asyncio.create_task(self._spool_loop()))
        try:
            self.notifier.send(status="starting: probing the printers")
            unprobed = await wait_probed(self.station, cancel=self.stop_requested)
            if not self.stop_requested.is_set():
                if unprobed:
                    log.warning("printd.probe_timeout", printers=unprobed, detail="ready without their first status")
                log.info("printd.ready", station=self.config.station.name, printers=list(self.station.workers))
                self.notifier.send(ready=1)
                tasks.append(asyncio.create_task(status_loop(self.notifier, self.station)))
                tasks.append(asyncio.create_task(self._reload_loop()))
                if on_ready is not None:
                    on_ready(self)
            await self.stop_requested.wait()
        finally:
            self.notifier.send(stopping=1, status="stopping: letting the card in each printer finish")
            log.info("printd.stopping")
            for task in tasks:
                task.cancel()
            self.printer_set.cancel()
            self.server.close()
            await self.server.wait_closed()
            finished = await asyncio.to_thread(self.station.stop, STOP_TIMEOUT_SECONDS)
            if not finished:
                log.error("printd.stop_timeout", detail="a printer did not finish its card in time")
            if watchdog is not None:
                watchdog.cancel()
            self.store.close()
            self.notifier.close()
            if self._lock_file is not None:
                self._lock_file.close()
            log.info("printd.stopped")

    def request_stop(self) -> None:
        self.stop_requested.set()

    def request_reload(self) -> None:
        self._reload_requested.set()

    async def reload(self) -> None:
        """Re-read the configuration file: a valid one is applied (printers one by one), an invalid one logged."""
        if self.config_path is None:
            log.warning("config.reload_ignored", detail="printd was started without a configuration file")
            return
        self.notifier.send(reloading=1, monotonic_usec=time.monotonic_ns() // 1000)
        try:
            loaded = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as exc:
            log.error("config.reload_rejected", error=str(exc), detail="still running on the previous configuration")
        else:
            config, restart_keys = live_config(self.config, loaded)
            if restart_keys:
                log.warning("config.restart_needed", keys=restart_keys, detail="these take effect at the next start")
            self.config = config
            self.station.low_stock_threshold = config.station.low_stock_threshold
            self.store.max_attempts = config.station.max_attempts
            self.dispatcher.reports = ReportSettings.from_config(config)
            changes = self.printer_set.apply(list(config.printer))
            try:
                names = list(self.station.workers)
                await asyncio.to_thread(self.store.register_station, names, socket.gethostname(), os.getpid())
            except (PrintdError, StorageUnavailableError) as exc:
                log.error("station.register_failed", code=exc.code, error=exc.message)
            log.info("config.reloaded", **changes)
        finally:
            self.notifier.send(ready=1)  # the status line follows from the status loop

    def _build_printer(self, config: PrinterConfig) -> BuiltPrinter:
        return watch(build_printer(config), bounds_for(config))

    async def _reload_loop(self) -> None:
        while True:
            await self._reload_requested.wait()
            self._reload_requested.clear()
            try:
                await self.reload()
            except Exception:
                log.exception("config.reload_failed")

    async def _spool_loop(self) -> None:
        assert self.spool is not None
        while True:
            try:
                if self.store.health.fault is None:  # while storage fails, job files wait in the spool
                    await asyncio.to_thread(self.spool.scan)
            except StorageUnavailableError:
                pass  # the store logged the condition; the file stays in the spool and is taken after it
            except Exception:
                log.exception("spool.scan_failed")
            await asyncio.sleep(self.config.station.spool_poll_seconds)

    async def _heard_loop(self) -> None:
        """Tell the store, every few seconds, that this station is alive and what its printers are doing."""
        while True:
            summary: dict[str, object] = {
                "printers": [
                    {key: view[key] for key in ("name", "state", "paused", "pause_reason", "current_job")}
                    for view in (v.as_dict() for v in self.station.views())
                ]
            }
            try:
                if self.store.health.fault is None:
                    await asyncio.to_thread(self.store.station_heard, summary)
            except StorageUnavailableError:
                pass  # the store logged the condition; the next round tries again
            except Exception:
                log.exception("station.heard_failed")
            await asyncio.sleep(HEARD_EVERY_SECONDS)

    async def _purge_loop(self) -> None:
        while True:
            retention = self.config.station.retention_hours * 3600
            try:
                cutoff = time.time() - retention
                purged = await asyncio.to_thread(self.store.purge_content, cutoff)
                if purged:
                    log.info("content.purged", jobs=purged)
                if self.spool is not None:
                    files = await asyncio.to_thread(self.spool.purge, cutoff)
                    if files:
                        log.info("spool.purged", files=files)
            except StorageUnavailableError:
                pass  # the store logged the condition; the next round purges
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


async def serve(config: Config, config_path: Path | None = None) -> None:
    passed = control_socket(inherited_fds(), config.station.socket)
    if passed is not None:
        where = bound_path(passed)
        log.info("control.socket_activated", socket=where)
        if where != config.station.socket:
            log.warning("control.socket_differs", socket=where, configured=config.station.socket)
    daemon = Daemon(config, config_path=config_path, listen_socket=passed)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
    # What is loaded by now (modules, the configuration, the store) lives as long as the daemon: frozen, it is out
    # of the cyclic collector's sight, whose full collections stop every thread (a status reply too) for as long as
    # they take to walk it, ~20-40 ms, a few times a big batch.
    gc.collect()
    gc.freeze()
    await daemon.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="printd", description="The print-station daemon for ID-card printers.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon in the foreground (as systemd does)")
    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    for p in (run, check):
        p.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help=f"default {DEFAULT_CONFIG_PATH}")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    from printd.store import copy as store_copy  # printd store copy: a station's SQLite history into PostgreSQL

    store_copy.add_arguments(sub)
    args = parser.parse_args(argv)
    if args.command == "store":
        return store_copy.run(args)
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
            asyncio.run(serve(config, args.config))
    except (ActivationError, ControlSocketError, OSError, RuntimeError, PrintdError) as exc:
        log.error("printd.start_failed", error=str(exc))
        print(f"printd: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
