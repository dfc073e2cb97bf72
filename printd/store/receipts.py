"""The SQL of deliveries: a delivery reference is booked once, and no blank's serial is received twice."""

from __future__ import annotations

from dataclasses import dataclass

from printd.errors import PrintdError
from printd.serials import SerialRange, parse_serials
from printd.store.records import iso
from printd.store.sql import Db


@dataclass(frozen=True)
class Receipt:
    """A delivery as the ledger holds it. ``duplicate``: this request repeated one already booked."""

    event_id: int
    reference: str
    count: int
    serials: str | None
    at: float
    actor: str
    duplicate: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "ref": self.reference,
            "count": self.count,
            "serials": self.serials,
            "at": iso(self.at),
            "actor": self.actor,
            "duplicate": self.duplicate,
        }


def booked(db: Db, reference: str) -> Receipt | None:
    row = db.execute(
        "SELECT id, count, detail, at, actor FROM ledger WHERE kind = 'received' AND reference = ?", (reference,)
    ).fetchone()
    if row is None:
        return None
    event_id, count, detail, at, actor = row
    return Receipt(int(event_id), reference, int(count), detail or None, float(at), str(actor))


def check_new(db: Db, count: int, reference: str, serials: str | None) -> Receipt | None:
    """The receipt already booked under ``reference`` if this is the same delivery again, None if it is new.

    Raises ``stock.ref_conflict`` when the reference was booked with another count or serial range,
    ``stock.serials_mismatch`` when a range does not hold ``count`` blanks and ``stock.serials_overlap`` when it
    shares a blank with a delivery already received."""
    first = booked(db, reference)
    if first is not None:
        if (first.count, first.serials) != (count, serials):
            said = f"{first.count} blank(s)" + (f", serials {first.serials}" if first.serials else "")
            raise PrintdError(
                "stock.ref_conflict",
                f"delivery {reference!r} was already booked with {said} (ledger event {first.event_id});"
                " a delivery is booked once: check the delivery note, and book a real difference with"
                " 'printctl stock adjust'",
                {"event_id": first.event_id, "count": first.count, "serials": first.serials},
            )
        return Receipt(first.event_id, reference, first.count, first.serials, first.at, first.actor, duplicate=True)
    if serials is not None:
        _check_range(db, count, parse_serials(serials))
    return None


def _check_range(db: Db, count: int, new: SerialRange) -> None:
    if new.size != count:
        raise PrintdError(
            "stock.serials_mismatch",
            f"the serial range {new.text} holds {new.size} blank(s), not {count}; check the count and the range"
            " on the delivery note",
        )
    rows = db.execute("SELECT id, reference, detail FROM ledger WHERE kind = 'received' AND detail != ''")
    for event_id, reference, detail in rows:
        try:
            earlier = parse_serials(detail)
        except PrintdError:
            continue  # a range booked before ranges were checked: it cannot be compared
        if earlier.overlaps(new):
            raise PrintdError(
                "stock.serials_overlap",
                f"the serial range {new.text} shares blanks with {earlier.text}, received under {reference!r}"
                f" (ledger event {event_id}); no blank is received twice: check the delivery note",
                {"event_id": int(event_id), "ref": reference, "serials": earlier.text},
            )
