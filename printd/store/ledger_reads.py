"""The SQL the reports read the ledger with: events of a period as rows, and grouped sums after a time."""

from __future__ import annotations

from dataclasses import dataclass

from printd.store.sql import SQLITE, Db


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
    category: str | None = None  # in groups by quarter hour: spoils are grouped by category too


@dataclass(frozen=True, slots=True)
class PeriodReads:
    """What a stock report over a period needs, read in one snapshot: every event before it, grouped (they fold to
    the stock on hand when it began), and its own events one by one (``rows``) or grouped by quarter hour."""

    before: list[LedgerSum]
    rows: list[LedgerRow]
    quarters: list[tuple[float, LedgerSum]]


# A card printed by printd books "printd" as the actor; the person is whoever submitted the job.
OPERATOR = (
    "CASE WHEN l.actor = 'printd' AND l.job_id IS NOT NULL THEN coalesce((SELECT e.actor FROM job_events e"
    " WHERE e.job_id = l.job_id AND e.event = 'submit' ORDER BY e.id LIMIT 1), l.actor) ELSE l.actor END"
)


def rows_between(db: Db, start: float, end: float) -> list[LedgerRow]:
    """Every event booked at ``start`` <= at < ``end``, in booking order."""
    cur = db.execute(
        "SELECT l.id, l.at, l.kind, l.count, l.resolution, l.from_issued, l.category, l.printer, l.station,"
        f" {OPERATOR} FROM ledger l WHERE l.at >= ? AND l.at < ? ORDER BY l.id",
        (start, end),
    )
    return [LedgerRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8], r[9]) for r in cur]


_QUARTER_SUMS = (
    "SELECT {quarter}, station, kind, coalesce(resolution, ''), from_issued, coalesce(category, ''),"
    " count(*), sum(count) FROM ledger GROUP BY 1, 2, 3, 4, 5, 6"
)
"""The quarter-hour sums of every event in the ledger, as ``ledger_quarters`` keeps them: per station, so stations
booking cards at once never wait for one another's row (only their sums mean anything to a report)."""

FILL_QUARTERS = "INSERT OR IGNORE INTO ledger_quarters " + _QUARTER_SUMS.format(quarter=SQLITE.quarter_of_at)
"""Fill a ``ledger_quarters`` that has no rows yet from the ledger."""


def sums_before(db: Db, start: float) -> list[LedgerSum]:
    """Every event booked before ``start`` (a quarter hour's start), grouped by what it does to the balance."""
    cur = db.execute(
        "SELECT kind, resolution, from_issued, sum(events), sum(count) FROM ledger_quarters WHERE quarter < ?"
        " GROUP BY kind, resolution, from_issued",
        (_quarter(start),),
    )
    return [LedgerSum(r[0], r[1] or None, bool(r[2]), r[3], r[4]) for r in cur]


def count_in_quarter(
    db: Db,
    station: str,
    at: float,
    kind: str,
    resolution: str | None,
    from_issued: bool,
    category: str | None,
    count: int,
) -> None:
    """Keep the quarter hour's sums in step with one event booked (in the booking's transaction)."""
    db.execute(
        "INSERT INTO ledger_quarters VALUES (?, ?, ?, ?, ?, ?, 1, ?)"
        " ON CONFLICT (quarter, station, kind, resolution, from_issued, category) DO UPDATE"
        " SET events = ledger_quarters.events + 1, count = ledger_quarters.count + excluded.count",
        (int(at // 900), station, kind, resolution or "", int(from_issued), category or "", count),
    )


def quarters_from_ledger(db: Db) -> list[tuple[object, ...]]:
    """The quarter-hour sums by a scan of every event: the truth the kept ones must equal (tests, audits)."""
    sums = _QUARTER_SUMS.format(quarter=db.dialect.quarter_of_at)
    return [tuple(row) for row in db.execute(f"{sums} ORDER BY 1, 2, 3, 4, 5, 6").fetchall()]


def kept_quarters(db: Db) -> list[tuple[object, ...]]:
    return [tuple(row) for row in db.execute("SELECT * FROM ledger_quarters ORDER BY 1, 2, 3, 4, 5, 6").fetchall()]


def _quarter(at: float) -> int:
    quarter, rest = divmod(at, 900)
    if rest:
        raise ValueError(f"{at} is not the start of a UTC quarter hour, as every local midnight is")
    return int(quarter)


def quarter_hours(db: Db, start: float, end: float) -> list[tuple[float, LedgerSum]]:
    """Events at ``start`` <= at < ``end`` (quarter hours' starts) grouped by the UTC quarter hour they fall in and
    by shape, oldest first: every zone's offset is a multiple of 15 minutes, so each group lies on one local day."""
    cur = db.execute(
        "SELECT quarter, kind, resolution, from_issued, category, sum(events), sum(count) FROM ledger_quarters"
        " WHERE quarter >= ? AND quarter < ? GROUP BY quarter, kind, resolution, from_issued, category"
        " ORDER BY quarter",
        (_quarter(start), _quarter(end)),
    )
    return [(float(r[0] * 900), LedgerSum(r[1], r[2] or None, bool(r[3]), r[5], r[6], r[4] or None)) for r in cur]
