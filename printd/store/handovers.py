"""The SQL of berita acara: spoiled blanks not yet handed over, and the handovers booked, each blank at most once."""

from __future__ import annotations

import datetime as dt

import msgspec

from printd.store.ledger_reads import OPERATOR
from printd.store.records import Handover, HandoverItem, Person
from printd.store.sql import Db

_SPOILED = "(l.kind = 'spoiled' OR (l.kind = 'resolved' AND l.resolution = 'spoiled'))"
_ITEM_COLUMNS = f"l.id, l.at, coalesce(l.category, 'print_failed'), l.chip_uid, l.printer, l.station, j.ref, {OPERATOR}"


class _Parties(msgspec.Struct):
    officers: list[Person]
    witnesses: list[Person]


def pending(db: Db, before: float | None) -> list[HandoverItem]:
    """Spoiled blanks in no berita acara yet, booked before ``before`` (None: all), oldest first."""
    sql = (
        f"SELECT {_ITEM_COLUMNS} FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id WHERE {_SPOILED}"
        " AND NOT EXISTS (SELECT 1 FROM handover_items h WHERE h.spoil_id = l.id)"
    )
    args: tuple[float, ...] = ()
    if before is not None:
        sql, args = sql + " AND l.at < ?", (before,)
    return [HandoverItem(*row) for row in db.execute(sql + " ORDER BY l.id", args)]


def items_of(db: Db, number: str) -> list[HandoverItem]:
    rows = db.execute(
        f"SELECT {_ITEM_COLUMNS} FROM handover_items h JOIN ledger l ON l.id = h.spoil_id"
        " LEFT JOIN jobs j ON j.id = l.job_id WHERE h.number = ? ORDER BY l.id",
        (number,),
    )
    return [HandoverItem(*row) for row in rows]


def record(db: Db, handover: Handover, booked: list[tuple[int, int]]) -> None:
    """The handover row and, per blank, (spoil event, the destroyed/returned event that took it)."""
    parties = msgspec.json.encode(_Parties(handover.officers, handover.witnesses)).decode()
    db.execute(
        "INSERT INTO handovers (number, kind, at, station, place, through, parties, actor)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            handover.number,
            handover.kind,
            handover.at,
            handover.station,
            handover.place,
            handover.through.isoformat() if handover.through else None,
            parties,
            handover.actor,
        ),
    )
    db.executemany(
        "INSERT INTO handover_items (spoil_id, number, ledger_id) VALUES (?, ?, ?)",
        [(spoil_id, handover.number, ledger_id) for spoil_id, ledger_id in booked],
    )


def load(db: Db, number: str, *, with_items: bool = True) -> Handover | None:
    row = db.execute(
        "SELECT number, kind, at, station, place, through, parties, actor FROM handovers WHERE number = ?", (number,)
    ).fetchone()
    if row is None:
        return None
    number, kind, at, station, place, through, parties, actor = row
    people = msgspec.json.decode(parties, type=_Parties)
    items = items_of(db, number) if with_items else []
    day = dt.date.fromisoformat(through) if through else None
    return Handover(number, kind, at, station, place, day, people.officers, people.witnesses, items, actor)


def numbers(db: Db, limit: int) -> list[tuple[str, int]]:
    """The latest handovers' numbers, newest first, with how many blanks each took."""
    rows = db.execute(
        "SELECT h.number, (SELECT count(*) FROM handover_items i WHERE i.number = h.number) FROM handovers h"
        " ORDER BY h.at DESC, h.number DESC LIMIT ?",
        (limit,),
    )
    return [(str(n), int(c)) for n, c in rows]
