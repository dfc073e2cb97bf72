"""Stock over a period as a fold of ledger events: what came in, what the printers took and what became of it.

Invariants (tested against ``Balance.fold`` of the same events):
- ``closing = opening + inflow - outflow`` for every period, printer totals included.
- ``opening`` of a period is the stock on hand folded from every event before it; ``closing`` of one local day
  is the ``opening`` of the next.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from printd.ledger import Balance, LedgerEntry, LedgerKind, Resolution
from printd.reports.model import Movements, StockPeriod
from printd.store.ledger_reads import LedgerRow, LedgerSum


@dataclass
class Tally:
    """A mutable ``Movements`` while events are folded in."""

    received: int = 0
    transferred_in: int = 0
    transferred_out: int = 0
    adjusted: int = 0
    issued: int = 0
    spoiled: dict[str, int] = field(default_factory=dict)
    in_doubt: int = 0

    def add(
        self, kind: str, count: int, resolution: str | None, from_issued: bool, category: str | None, events: int = 1
    ) -> None:
        """Fold ``events`` events of one shape; ``count``: blanks they moved, for the kinds that carry a count."""
        if kind == "received":
            self.received += count
        elif kind == "adjusted":
            self.adjusted += count
        elif kind == "transferred_in":
            self.transferred_in += count
        elif kind == "transferred_out":
            self.transferred_out += count
        elif kind == "issued":
            self.issued += events
        elif kind == "spoiled":
            self._spoil(category, events)
            self.issued -= events if from_issued else 0  # a card rejected at inspection had been counted issued
        elif kind == "in_doubt":
            self.in_doubt += events
        elif kind == "resolved":
            self.in_doubt -= events
            if resolution == "issued":
                self.issued += events
            elif resolution == "spoiled":
                self._spoil(category, events)

    def _spoil(self, category: str | None, events: int) -> None:
        key = category or "print_failed"
        self.spoiled[key] = self.spoiled.get(key, 0) + events

    def frozen(self) -> Movements:
        return Movements(
            self.received,
            self.transferred_in,
            self.transferred_out,
            self.adjusted,
            self.issued,
            dict(sorted(self.spoiled.items())),
            self.in_doubt,
        )


def movements(rows: Iterable[LedgerRow]) -> Movements:
    tally = Tally()
    for row in rows:
        tally.add(row.kind, row.count, row.resolution, row.from_issued, row.category)
    return tally.frozen()


def grouped_movements(groups: Iterable[LedgerSum]) -> Movements:
    """The movements of events read grouped by shape (and category) rather than one by one."""
    tally = Tally()
    for group in groups:
        tally.add(group.kind, group.count, group.resolution, group.from_issued, group.category, group.events)
    return tally.frozen()


def movements_by(rows: Iterable[LedgerRow], key: Callable[[LedgerRow], str | None]) -> dict[str, Movements]:
    """Movements per printer, operator...: rows whose key is None (a delivery has no printer) are left out."""
    tallies: dict[str, Tally] = {}
    for row in rows:
        name = key(row)
        if name is not None:
            tallies.setdefault(name, Tally()).add(row.kind, row.count, row.resolution, row.from_issued, row.category)
    return {name: tally.frozen() for name, tally in sorted(tallies.items())}


def on_hand_change(group: LedgerSum) -> int:
    """How a group of events of one shape moved the stock on hand."""
    kind = LedgerKind(group.kind)
    if kind in _COUNTED:
        return group.count
    one = LedgerEntry(kind, 1, Resolution(group.resolution) if group.resolution else None, group.from_issued)
    return Balance.fold([one]).on_hand * group.events  # one blank an event


_COUNTED = frozenset({LedgerKind.RECEIVED, LedgerKind.ADJUSTED})
"""Kinds whose ``count`` is the number of blanks put on hand; every other kind moves one blank an event."""


def stock_period(rows: list[LedgerRow], opening: int, start: dt.date, end: dt.date) -> StockPeriod:
    """The period's report from its events and the stock on hand when it began, per printer and operator too."""
    period = period_of(start, end, opening, movements(rows))
    by_printer, by_operator = movements_by(rows, lambda r: r.printer), movements_by(rows, lambda r: r.operator)
    return replace(period, printers=by_printer, operators=by_operator)


def period_of(start: dt.date, end: dt.date, opening: int, moved: Movements) -> StockPeriod:
    """The period that began with ``opening`` blanks on hand and saw ``moved``: its closing follows from both."""
    return StockPeriod(start, end, opening, moved, opening + moved.inflow - moved.outflow)


def local_span(start: dt.date, end: dt.date, zone: ZoneInfo) -> tuple[float, float]:
    """The UTC epochs of local midnight starting ``start`` and of local midnight after ``end``."""
    first = dt.datetime.combine(start, dt.time(), zone)
    after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone)
    return first.timestamp(), after.timestamp()


def local_date(epoch: float, zone: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(epoch, zone).date()
