"""A configuration reload (SIGHUP) applied to a running station: printers added, removed or changed, no card lost.

A removed or changed printer is retired: it claims nothing more, the card in it finishes and is booked, then
its thread ends; only then does a changed printer start again on its new settings (never two workers on one
printer, so a card is never settled twice). Jobs are not bound to printers: what a retired printer did not
claim stays queued for the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from printd.config import Config, PrinterConfig
from printd.logging import get_logger
from printd.printers import BuiltPrinter
from printd.station import PrinterWorker, Station

log = get_logger("printd.reload")

LIVE_STATION_KEYS = ("low_stock_threshold", "max_attempts", "retention_hours", "spool_poll_seconds")
"""[station] keys a reload applies; the others (name, database, socket, spool) and [control] need a restart."""


def live_config(current: Config, loaded: Config) -> tuple[Config, list[str]]:
    """The configuration to run with after a reload, and the changed keys that only a restart applies."""
    station = msgspec.structs.replace(
        current.station, **{key: getattr(loaded.station, key) for key in LIVE_STATION_KEYS}
    )
    restart = [
        f"station.{field}"
        for field in current.station.__struct_fields__
        if getattr(station, field) != getattr(loaded.station, field)
    ]
    if loaded.control != current.control:
        restart.append("control")
    return msgspec.structs.replace(current, station=station, printer=list(loaded.printer)), restart


@dataclass
class _Running:
    config: PrinterConfig
    worker: PrinterWorker


class PrinterSet:
    """The printers the station runs, brought in line with the configured ones one printer at a time."""

    def __init__(
        self, station: Station, configs: list[PrinterConfig], build: Callable[[PrinterConfig], BuiltPrinter]
    ) -> None:
        self._station = station
        self._build = build
        self._wanted = {c.name: c for c in configs}
        self._running = {c.name: _Running(c, station.workers[c.name]) for c in configs if c.name in station.workers}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def apply(self, configs: list[PrinterConfig]) -> dict[str, list[str]]:
        """Start converging on ``configs``; returns the printers added, removed and changed (for the log)."""
        self._wanted = {c.name: c for c in configs}
        changes: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
        for name in sorted(set(self._wanted) | set(self._running)):
            running, wanted = self._running.get(name), self._wanted.get(name)
            if running is not None and running.config == wanted and not running.worker.retired.is_set():
                continue
            if running is None:
                changes["added"].append(name)
            elif wanted is None:
                changes["removed"].append(name)
            else:
                changes["changed"].append(name)
            task = self._tasks.get(name)
            if task is None or task.done():
                self._tasks[name] = asyncio.create_task(self._converge(name), name=f"printer-{name}-reload")
        return changes

    async def settled(self) -> None:
        """Wait until every printer runs as configured (retired printers' cards finished)."""
        while pending := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def _converge(self, name: str) -> None:
        """Retire what runs under ``name`` if it is not what is configured, then start what is."""
        while not self._station.stopping.is_set():
            running, wanted = self._running.get(name), self._wanted.get(name)
            if running is not None:
                if running.config == wanted and not running.worker.retired.is_set():
                    return
                await self._retire(name, running, "removed" if wanted is None else "changed")
                continue
            if wanted is None:
                return
            try:
                printer = await asyncio.to_thread(self._build, wanted)
            except Exception as exc:
                log.error("printer.start_failed", printer=name, error=str(exc), detail="fix it and reload again")
                return
            if self._station.stopping.is_set():
                return
            self._running[name] = _Running(wanted, self._station.add_printer(printer))
            log.info("printer.started", printer=name)

    async def _retire(self, name: str, running: _Running, why: str) -> None:
        worker = running.worker
        log.info("printer.retiring", printer=name, reason=why, current_job=worker.view.current_job)
        self._station.retire_worker(worker)
        while not await asyncio.to_thread(worker.join, 1.0):
            if self._station.stopping.is_set():
                return  # the station's stop joins it with the others
        self._station.remove_worker(worker)
        del self._running[name]
        log.info("printer.retired", printer=name, reason=why)
