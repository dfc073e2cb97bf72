"""Liveness for systemd's watchdog: WATCHDOG=1 only while the loop turns and every printer's driver calls end in time.

How a busy printer is told from a wedged one: every call into a driver is timed against a bound for that call
on that printer. A card in progress is alive work for as long as such a card can take (the simulator's
mechanical time; for an Evolis printer, every exchange of a card at the driver's own motion timeout; for CUPS,
the job timeout), plus slack. A call still running past its bound is a wedge. Between calls, a worker that
makes no driver call for longer than its longest wait (the reconnect back-off) is wedged outside the driver,
unless the database is failing (then it waits for storage on purpose). The asyncio loop is alive by
construction: the pings are sent from a task on it, so a blocked loop sends none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from drivers.base import Card, CardResult, Driver, PrinterInfo, PrinterStatus
from printd.config import CupsPrinterConfig, EvolisPrinterConfig, PrinterConfig, SimPrinterConfig
from printd.logging import get_logger
from printd.notify import Notifier
from printd.printers import BuiltPrinter
from printd.station import PrinterWorker, Station

log = get_logger("printd.watchdog")

T = TypeVar("T")

SLACK_SECONDS = 10.0
"""Beyond a call's own time: rendering the panels, saving the simulator's state, a loaded machine."""

EVOLIS_EXCHANGES_PER_STATUS = 24
"""open() and status(): the identity, counter and sensor queries, read twice when an error shows."""

EVOLIS_EXCHANGES_PER_CARD_BESIDES_PANELS = 8
"""A card's exchanges other than its panels (start, sides, chip station, eject or reject, status reads)."""

CUPS_CALL_SECONDS = 120.0
"""open() and status() through CUPS: a few IPP requests to the scheduler."""

READY_PROBE_SECONDS = 60.0
"""READY=1 waits this long at most for every printer's first status (below the unit's TimeoutStartSec)."""


@dataclass(frozen=True)
class CallBounds:
    """How long a healthy driver call can take on one printer, and the longest pause between two calls."""

    card: float
    call: float
    idle: float = PrinterWorker.RETRY_MAX_SECONDS + SLACK_SECONDS


UNCONFIGURED_BOUNDS = CallBounds(card=1800.0, call=CUPS_CALL_SECONDS)
"""A printer built outside the configuration (none in the daemon): generous, like a slow real printer."""


def bounds_for(config: PrinterConfig | None) -> CallBounds:
    if isinstance(config, SimPrinterConfig):
        # In-process: only the simulated mechanical time is spent (its simulated chip stage takes none).
        return CallBounds(
            card=2 * config.seconds_per_card + SLACK_SECONDS, call=config.seconds_per_card + SLACK_SECONDS
        )
    if isinstance(config, EvolisPrinterConfig):
        from drivers.evolis.render import ribbon_panels

        front, back = ribbon_panels(config.ribbon)
        exchanges = len(front) + len(back) + EVOLIS_EXCHANGES_PER_CARD_BESIDES_PANELS
        call = EVOLIS_EXCHANGES_PER_STATUS * config.reply_timeout + SLACK_SECONDS
        return CallBounds(card=exchanges * config.motion_timeout + 2 * call, call=call)
    if isinstance(config, CupsPrinterConfig):
        return CallBounds(card=config.job_timeout + CUPS_CALL_SECONDS + SLACK_SECONDS, call=CUPS_CALL_SECONDS)
    return UNCONFIGURED_BOUNDS


class Heartbeat:
    """What one printer's worker is doing in its driver, and since when (written by the worker, read by the loop)."""

    def __init__(self, bounds: CallBounds, clock: Callable[[], float] = time.monotonic) -> None:
        self.bounds = bounds
        self._clock = clock
        self._state: tuple[str | None, float] = (None, clock())  # one tuple: read and written whole

    def begin(self, call: str) -> None:
        self._state = (call, self._clock())

    def end(self) -> None:
        self._state = (None, self._clock())

    @property
    def idle(self) -> bool:
        """Between driver calls (waiting, or working on the store)."""
        return self._state[0] is None

    def stalled(self, now: float) -> str | None:
        """Why this worker looks wedged, or None while it is within its bounds."""
        call, since = self._state
        elapsed = now - since
        if call is None:
            if elapsed > self.bounds.idle:
                return f"no driver call for {elapsed:.0f} s (bound {self.bounds.idle:.0f} s)"
            return None
        limit = self.bounds.card if call == "print_card" else self.bounds.call
        if elapsed > limit:
            return f"{call} running for {elapsed:.0f} s (bound {limit:.0f} s)"
        return None


class WatchedDriver:
    """A driver whose calls report to a heartbeat; everything else passes through to the driver.

    ``watch`` makes a subclass per driver type with a timed method for each of the driver's own public
    methods, so optional capabilities (checked with ``isinstance`` against a Protocol) show as they are.
    """

    def __init__(self, driver: Driver, heartbeat: Heartbeat) -> None:
        self.driver = driver
        self.heartbeat = heartbeat

    def open(self) -> PrinterInfo:
        return self._call("open", self.driver.open)

    def close(self) -> None:
        self._call("close", self.driver.close)

    def status(self) -> PrinterStatus:
        return self._call("status", self.driver.status)

    def print_card(self, card: Card) -> CardResult:
        return self._call("print_card", lambda: self.driver.print_card(card))

    def clear_errors(self) -> None:
        self._call("clear_errors", self.driver.clear_errors)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)

    def _call(self, name: str, call: Callable[[], T]) -> T:
        self.heartbeat.begin(name)
        try:
            return call()
        finally:
            self.heartbeat.end()


_watched_types: dict[type, type[WatchedDriver]] = {}


def _timed(name: str) -> Callable[..., Any]:
    def call(self: WatchedDriver, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, lambda: getattr(self.driver, name)(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    return call


def _watched_type(driver_type: type) -> type[WatchedDriver]:
    watched = _watched_types.get(driver_type)
    if watched is None:
        extra = {
            name: _timed(name)
            for name in dir(driver_type)
            if not name.startswith("_") and not hasattr(WatchedDriver, name) and callable(getattr(driver_type, name))
        }
        watched = type(f"Watched{driver_type.__name__}", (WatchedDriver,), extra)
        _watched_types[driver_type] = watched
    return watched


def watch(printer: BuiltPrinter, bounds: CallBounds) -> BuiltPrinter:
    """The same printer with its driver calls timed against ``bounds`` (one already watched keeps its own)."""
    if isinstance(printer.driver, WatchedDriver):
        return printer
    driver = _watched_type(type(printer.driver))(printer.driver, Heartbeat(bounds))
    return BuiltPrinter(printer.name, driver, printer.sim)


def heartbeat_of(worker: PrinterWorker) -> Heartbeat | None:
    driver = worker.printer.driver
    return driver.heartbeat if isinstance(driver, WatchedDriver) else None


def stalled_workers(station: Station, now: float | None = None) -> dict[str, str]:
    """Each wedged printer worker and why (empty: all alive)."""
    now = time.monotonic() if now is None else now
    # While the database cannot take a commit, a worker deliberately waits outside its driver, holding a
    # card's outcome in memory: alive, and a restart would only turn that outcome into an in-doubt blank.
    storage_failing = station.store.health.fault is not None
    stalled: dict[str, str] = {}
    for worker in list(station.workers.values()):
        if worker.join(0.0):  # its thread has ended
            if not (station.stopping.is_set() or worker.retired.is_set()):
                stalled[worker.name] = "its worker thread has ended"
            continue
        beat = heartbeat_of(worker)
        why = beat.stalled(now) if beat is not None else None
        if why is not None and not (beat is not None and beat.idle and storage_failing):
            stalled[worker.name] = why
    return stalled


async def wait_probed(
    station: Station, timeout: float = READY_PROBE_SECONDS, cancel: asyncio.Event | None = None
) -> list[str]:
    """Wait until every printer's status is known, or its being unreachable (or ``cancel`` is set); the names of
    those still unknown."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        waiting = [w.name for w in station.workers.values() if w.view.counters is None and not w.view.detail]
        if not waiting or loop.time() >= deadline or (cancel is not None and cancel.is_set()):
            return waiting
        await asyncio.sleep(0.02)


async def watchdog_loop(notifier: Notifier, station: Station, interval: float) -> None:
    """WATCHDOG=1 every ``interval`` seconds while every worker is alive; withheld (and logged) while one is not."""
    withheld: set[str] = set()
    while True:
        stalled = stalled_workers(station)
        if not stalled:
            notifier.send(watchdog=1)
            if withheld:
                log.info("watchdog.resumed")
        elif set(stalled) != withheld:
            log.error("watchdog.withheld", stalled=stalled, detail="systemd restarts printd if this lasts")
        withheld = set(stalled)
        await asyncio.sleep(interval)
