"""The SQL of the stock's history: the ledger events that move blanks in or out of custody, newest first.

Receipts, adjustments and transfers are one row each. A berita acara books one event a blank (``destroyed`` or
``returned``), so its events are one row per berita acara and station, with their count. Cards (issued, spoiled, in
doubt) are the reports' business, not this history's. No row carries personal data: references, reasons, printers
and who booked it.
"""

from __future__ import annotations

from dataclasses import dataclass

from printd.store.records import iso
from printd.store.sql import Db

MOVEMENTS = ("received", "adjusted", "transferred")
"""Kinds of one event a row."""
HANDOVERS = ("destroyed", "returned")
"""Kinds booked a blank an event, shown one row per berita acara (its number is the reference)."""
KINDS = MOVEMENTS + HANDOVERS


@dataclass(frozen=True)
class StockEvent:
    """One row of the history. ``count``: blanks (negative for an adjustment that writes blanks off); ``detail``:
    the adjustment's reason or the delivery's serial range; ``to``: a transfer's receiving station."""

    event_id: int  # the latest event of the row
    at: float
    kind: str
    count: int
    reference: str | None
    detail: str
    actor: str
    station: str
    to: str | None
    printer: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "at": iso(self.at),
            "kind": self.kind,
            "count": self.count,
            "reference": self.reference,
            "detail": self.detail,
            "actor": self.actor,
            "station": self.station,
            "to": self.to,
            "printer": self.printer,
        }


def history(db: Db, limit: int, kind: str | None = None) -> list[StockEvent]:
    """The ``limit`` newest rows (of ``kind`` only when given), newest first.

    Each kind is read on its own through the ledger's (kind, at) index, newest first, so the millions of card
    events beside them are never scanned."""
    found: list[StockEvent] = []
    for wanted in (kind,) if kind is not None else KINDS:
        if wanted in MOVEMENTS:
            rows = db.execute(
                "SELECT id, at, kind, count, reference, detail, actor, station, to_station, printer FROM ledger"
                " WHERE kind = ? ORDER BY at DESC, id DESC LIMIT ?",
                (wanted, limit),
            ).fetchall()
            found += [StockEvent(*row) for row in rows]
        else:
            rows = db.execute(
                "SELECT max(id), max(at), kind, sum(count), reference, max(actor), station FROM ledger"
                " WHERE kind = ? GROUP BY kind, reference, station ORDER BY max(at) DESC, max(id) DESC LIMIT ?",
                (wanted, limit),
            ).fetchall()
            found += [
                StockEvent(event_id, at, k, int(count), reference, "", actor, station, None, None)
                for event_id, at, k, count, reference, actor, station in rows
            ]
    found.sort(key=lambda event: (event.at, event.event_id), reverse=True)
    return found[:limit]
