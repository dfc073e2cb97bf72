"""The SQL the reports read the ledger with: events of a period as rows, and grouped sums after a time."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from printd.ledger import Balance


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One ledger event as a report folds it. ``operator``: the person behind it (for a card printed by printd,
    the one who submitted its job; for a receipt, adjustment, QC spoil or resolution, whoever booked it)."""

    id: int
    at: float
    kind: str
    count: int
    resolution: str | None
    from_issued: bool
    category: str | None
    printer: str | None
    station: str
    operator: str


@dataclass(frozen=True, slots=True)
class LedgerSum:
    """Events of one shape (kind, resolution, from_issued) after a time: how many, and their counts summed."""

    kind: str
    resolution: str | None
    from_issued: bool
    events: int
    count: int


@dataclass(frozen=True, slots=True)
class PeriodReads:
    """What a stock report over a period needs, read in one snapshot."""

    balance_now: Balance
    since_start: list[LedgerSum]
    rows: list[LedgerRow]


# A card printed by printd books "printd" as the actor; the person is whoever submitted the job.
OPERATOR = (
    "CASE WHEN l.actor = 'printd' AND l.job_id IS NOT NULL THEN coalesce((SELECT e.actor FROM job_events e"
    " WHERE e.job_id = l.job_id AND e.event = 'submit' ORDER BY e.id LIMIT 1), l.actor) ELSE l.actor END"
)


def rows_between(db: sqlite3.Connection, start: float, end: float) -> list[LedgerRow]:
    """Every event booked at ``start`` <= at < ``end``, in booking order."""
    cur = db.execute(
        "SELECT l.id, l.at, l.kind, l.count, l.resolution, l.from_issued, l.category, l.printer, l.station,"
        f" {OPERATOR} FROM ledger l WHERE l.at >= ? AND l.at < ? ORDER BY l.id",
        (start, end),
    )
    return [LedgerRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8], r[9]) for r in cur]


def sums_since(db: sqlite3.Connection, start: float) -> list[LedgerSum]:
    """Every event booked at or after ``start``, grouped by what it does to the balance."""
    cur = db.execute(
        "SELECT kind, resolution, from_issued, count(*), coalesce(sum(count), 0) FROM ledger WHERE at >= ?"
        " GROUP BY kind, resolution, from_issued",
        (start,),
    )
    return [LedgerSum(r[0], r[1], bool(r[2]), r[3], r[4]) for r in cur]


def quarter_hours(db: sqlite3.Connection, start: float, end: float) -> list[tuple[float, LedgerSum]]:
    """Events at ``start`` <= at < ``end`` grouped by the UTC quarter hour they fall in (its start) and by shape:
    every zone's offset is a multiple of 15 minutes, so a caller can put each group on its local day exactly."""
    cur = db.execute(
        "SELECT CAST(at / 900 AS INTEGER) * 900, kind, resolution, from_issued, count(*), coalesce(sum(count), 0)"
        " FROM ledger WHERE at >= ? AND at < ? GROUP BY 1, 2, 3, 4",
        (start, end),
    )
    return [(float(r[0]), LedgerSum(r[1], r[2], bool(r[3]), r[4], r[5])) for r in cur]
