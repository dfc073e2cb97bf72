"""The SQL of reconciliations: a printer's counter against the ledger, inside the store's transactions."""

from __future__ import annotations

from printd.ledger import PRINTER_PLACES, Reconciliation
from printd.store.sql import Db

_COLUMNS = (
    "r.printer, r.counter, r.previous_counter, r.consumed, r.explained, r.unexplained - r.difference + r.explained,"
    " r.consumed_total, r.ledger_id, l.at, l.actor"
)
_FROM = " FROM reconciliations r JOIN ledger l ON l.id = r.ledger_id"


def consumed_total(db: Db, printer: str) -> int:
    """Blanks the ledger books as taken by ``printer``: its issued, spoiled and in-doubt blanks (kept totals)."""
    marks = ", ".join("?" for _ in PRINTER_PLACES)
    (total,) = db.execute(
        f"SELECT coalesce(sum(count), 0) FROM printer_totals WHERE printer = ? AND place IN ({marks})",
        (printer, *PRINTER_PLACES),
    ).fetchone()
    return int(total)


def explained_since(db: Db, printer: str, after_event: int) -> int:
    """Blanks written off against ``printer`` by adjustments booked after ledger event ``after_event``."""
    (total,) = db.execute(
        "SELECT coalesce(sum(count), 0) FROM ledger WHERE kind = 'adjusted' AND printer = ? AND id > ?",
        (printer, after_event),
    ).fetchone()
    return -int(total)


def in_flight(db: Db, printer: str) -> int:
    """Attempts on ``printer`` without an outcome: cards being printed, or printed and not booked yet."""
    (count,) = db.execute("SELECT count(*) FROM attempts WHERE printer = ? AND outcome IS NULL", (printer,)).fetchone()
    return int(count)


def last(db: Db, printer: str) -> Reconciliation | None:
    row = db.execute(
        f"SELECT {_COLUMNS}{_FROM} WHERE r.printer = ? ORDER BY r.ledger_id DESC LIMIT 1", (printer,)
    ).fetchone()
    return None if row is None else Reconciliation(*row)


def history(db: Db, printer: str | None, limit: int) -> list[Reconciliation]:
    where = " WHERE r.printer = ?" if printer is not None else ""
    args: tuple[object, ...] = (printer, limit) if printer is not None else (limit,)
    rows = db.execute(f"SELECT {_COLUMNS}{_FROM}{where} ORDER BY r.ledger_id DESC LIMIT ?", args).fetchall()
    return [Reconciliation(*row) for row in rows]


def measure(db: Db, printer: str, counter: int) -> Reconciliation:
    """What a reconciliation of ``printer`` at card counter ``counter`` finds now (not yet recorded).

    The first one compares with the counter before printd's first card on the printer (its first attempt); a
    printer printd never fed a card on, or whose driver reports no counter, gets its baseline: nothing to
    compare yet, the next reconciliation starts from here."""
    total = consumed_total(db, printer)
    previous = last(db, printer)
    if previous is not None:
        return Reconciliation(
            printer,
            counter,
            previous_counter=previous.counter,
            consumed=total - previous.consumed_total,
            explained=explained_since(db, printer, previous.event_id),
            unexplained_before=previous.unexplained,
            consumed_total=total,
        )
    row = db.execute(
        "SELECT cards_fed_before FROM attempts WHERE printer = ? AND cards_fed_before IS NOT NULL ORDER BY id LIMIT 1",
        (printer,),
    ).fetchone()
    if row is None:
        return Reconciliation(printer, counter, counter, 0, 0, 0, total)
    return Reconciliation(printer, counter, int(row[0]), total, explained_since(db, printer, 0), 0, total)


def record(db: Db, event_id: int, found: Reconciliation) -> None:
    db.execute(
        "INSERT INTO reconciliations (ledger_id, printer, counter, previous_counter, consumed, explained, difference,"
        " unexplained, consumed_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event_id,
            found.printer,
            found.counter,
            found.previous_counter,
            found.consumed,
            found.explained,
            found.difference,
            found.unexplained,
            found.consumed_total,
        ),
    )
