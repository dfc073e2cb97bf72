"""What the station counts of its cards as they happen: outcomes per printer, card cycle times and today's cards.

The ledger is the record; these are running figures for the dashboard and Prometheus. Outcomes and cycle times
count from the daemon's start (Prometheus counters, which a restart resets as the format expects); today's cards
are read from the ledger at start, then counted, and begin again at the office's midnight.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from drivers.base import CardResult, Outcome
from printd.store.ledger_reads import LedgerRow

CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 45.0, 60.0, 120.0, 300.0)
"""Upper bounds (seconds) of the cycle-time histogram: a real card takes 15-30 s, the simulator far less."""

TODAY_KEYS = ("issued", "spoiled", "in_doubt")

_TODAY_OF_OUTCOME = {Outcome.PRINTED: "issued", Outcome.SPOILED: "spoiled", Outcome.UNKNOWN: "in_doubt"}


@dataclass
class _Printer:
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (outcome, spoil category or "")
    buckets: list[int] = field(default_factory=lambda: [0] * (len(CYCLE_BUCKETS) + 1))  # the last: over 300 s
    cycle_sum: float = 0.0
    today: Counter[str] = field(default_factory=Counter)


class CardMetrics:
    """Thread-safe: printer workers record, the control socket's threads read."""

    def __init__(self, zone: ZoneInfo, clock: Callable[[], float] = time.time) -> None:
        self._zone = zone
        self._clock = clock
        self._lock = threading.Lock()
        self._printers: dict[str, _Printer] = {}
        self._day = self._local_day(clock())
        self.started_at = clock()

    def day_start(self, at: float | None = None) -> float:
        """The epoch of the office's midnight that began the day ``at`` (default now) is in."""
        day = self._local_day(self._clock() if at is None else at)
        return dt.datetime.combine(day, dt.time(), self._zone).timestamp()

    def _local_day(self, at: float) -> dt.date:
        return dt.datetime.fromtimestamp(at, self._zone).date()

    def _printer(self, name: str) -> _Printer:
        found = self._printers.get(name)
        if found is None:
            found = self._printers[name] = _Printer()
        return found

    def _roll_day(self) -> None:
        day = self._local_day(self._clock())
        if day != self._day:
            self._day = day
            for printer in self._printers.values():
                printer.today.clear()

    def seed_today(self, rows: Iterable[LedgerRow], station: str) -> None:
        """Today's cards so far, from the ledger's events of this station since the office's midnight."""
        with self._lock:
            self._roll_day()
            for row in rows:
                if row.printer is None or row.station != station:
                    continue
                if row.kind == "issued" or (row.kind == "spoiled" and not row.from_issued) or row.kind == "in_doubt":
                    key = "issued" if row.kind == "issued" else row.kind
                    self._printer(row.printer).today[key] += row.count

    def card_cycle(self, printer: str, seconds: float) -> None:
        """One card's time in the printer, from the driver's first command to its outcome."""
        with self._lock:
            entry = self._printer(printer)
            entry.buckets[bisect.bisect_left(CYCLE_BUCKETS, seconds)] += 1
            entry.cycle_sum += seconds

    def card_booked(self, printer: str, result: CardResult) -> None:
        """A card's outcome is in the ledger."""
        with self._lock:
            self._roll_day()
            entry = self._printer(printer)
            category = result.category.value if result.category is not None else ""
            entry.outcomes[(result.outcome.value, category)] += 1
            today = _TODAY_OF_OUTCOME.get(result.outcome)
            if today is not None:
                entry.today[today] += 1

    def today(self, printer: str) -> dict[str, int]:
        with self._lock:
            self._roll_day()
            counts = self._printers.get(printer)
            return {key: counts.today[key] if counts else 0 for key in TODAY_KEYS}

    def snapshot(self) -> dict[str, object]:
        """Every printer's counts: outcomes by category, the cumulative cycle-time histogram, today's cards."""
        with self._lock:
            self._roll_day()
            printers: dict[str, object] = {}
            for name, entry in sorted(self._printers.items()):
                cumulative, total = [], 0
                for bound, count in zip((*CYCLE_BUCKETS, float("inf")), entry.buckets, strict=True):
                    total += count
                    cumulative.append(["+Inf" if bound == float("inf") else bound, total])
                printers[name] = {
                    "outcomes": [
                        {"outcome": outcome, "category": category or None, "count": count}
                        for (outcome, category), count in sorted(entry.outcomes.items())
                    ],
                    "cycle_seconds": {"buckets": cumulative, "sum": round(entry.cycle_sum, 6), "count": total},
                    "today": {key: entry.today[key] for key in TODAY_KEYS},
                }
            return {"started_at": self.started_at, "printers": printers}
