"""The stations sharing one store: who they are and when each was last heard, and blanks moved between them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from printd.errors import PrintdError
from printd.store.records import iso
from printd.store.sql import Db

ALIVE_SECONDS = 120.0
"""A station heard within this long may still be running: its printers' names are not given to another."""


@dataclass(frozen=True)
class Transfer:
    """Blanks moved from one station's custody to another's, booked once under ``reference``."""

    event_id: int
    at: float
    count: int
    source: str
    to: str
    reference: str
    actor: str
    duplicate: bool = False
    """Asked for again as it was booked: nothing more moved."""

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "duplicate": self.duplicate,
            "at": iso(self.at),
            "count": self.count,
            "from": self.source,
            "to": self.to,
            "reference": self.reference,
            "actor": self.actor,
        }


@dataclass(frozen=True)
class StationView:
    """A station as the store knows it: when it started and was last heard, and what it last said of itself."""

    name: str
    started_at: float
    last_heard: float
    host: str
    pid: int
    summary: dict[str, object] = field(default_factory=dict)
    in_doubt: int = 0
    on_hand: int = 0

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "name": self.name,
            "started_at": iso(self.started_at),
            "last_heard": iso(self.last_heard),
            "seconds_since_heard": round(max(0.0, now - self.last_heard), 1),
            "host": self.host,
            "pid": self.pid,
            "on_hand": self.on_hand,
            "in_doubt": self.in_doubt,
            **self.summary,
        }


_TRANSFER_COLUMNS = "id, at, count, station, to_station, reference, actor"


def transfer_booked(db: Db, reference: str) -> Transfer | None:
    row = db.execute(
        f"SELECT {_TRANSFER_COLUMNS} FROM ledger WHERE kind = 'transferred' AND reference = ? ORDER BY id LIMIT 1",
        (reference,),
    ).fetchone()
    return None if row is None else Transfer(*row)


def transfers(db: Db, limit: int) -> list[Transfer]:
    rows = db.execute(
        f"SELECT {_TRANSFER_COLUMNS} FROM ledger WHERE kind = 'transferred' ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    return [Transfer(*row) for row in rows]


def same_transfer(first: Transfer, count: int, source: str, to: str) -> Transfer:
    """The transfer booked under a reference when it is asked for again as it was; anything else is refused."""
    if (first.count, first.source, first.to) != (count, source, to):
        raise PrintdError(
            "stock.ref_conflict",
            f"transfer reference {first.reference!r} was booked on {iso(first.at)} for {first.count} blank(s) from"
            f" {first.source!r} to {first.to!r}; a new transfer needs a new reference",
            {"event_id": first.event_id},
        )
    return replace(first, duplicate=True)


def require_known(db: Db, name: str) -> None:
    if db.execute("SELECT 1 FROM stations WHERE name = ?", (name,)).fetchone() is None:
        raise unknown(name, [row[0] for row in db.execute("SELECT name FROM stations ORDER BY name").fetchall()])


def unknown(name: str, known: list[str]) -> PrintdError:
    return PrintdError(
        "station.not_found",
        f"no station named {name[:64]!r} has run on this database (stations: {', '.join(known) or 'none'});"
        " check the name, or start that station's printd once first",
    )


def register(db: Db, station: str, printers: list[str], host: str, pid: int, now: float) -> None:
    """Record ``station`` as running with ``printers``. A printer name belongs to one station at a time: one still
    owned by another station that is alive, or that has a card of it unsettled, is refused."""
    for printer in printers:
        row = db.execute("SELECT station FROM printers WHERE name = ?", (printer,)).fetchone()
        owner = row[0] if row else None
        if owner not in (None, station) and _holds(db, owner, printer, now):
            raise PrintdError(
                "station.printer_taken",
                f"printer name {printer!r} belongs to station {owner!r}, which is running or has a card of it"
                " unsettled; give each printer a name unique in the office",
            )
        db.execute(
            "INSERT INTO printers (name, paused, pause_reason, updated_at, station) VALUES (?, 0, NULL, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET station = excluded.station",
            (printer, now, station),
        )
    db.execute(
        "INSERT INTO stations (name, started_at, last_heard, host, pid, summary) VALUES (?, ?, ?, ?, ?, '{}')"
        " ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, last_heard = excluded.last_heard,"
        " host = excluded.host, pid = excluded.pid",
        (station, now, now, host, pid),
    )


def _holds(db: Db, owner: str, printer: str, now: float) -> bool:
    heard = db.execute("SELECT last_heard FROM stations WHERE name = ?", (owner,)).fetchone()
    if heard is not None and now - float(heard[0]) < ALIVE_SECONDS:
        return True
    open_card = db.execute(
        "SELECT 1 FROM attempts WHERE printer = ? AND station = ? AND outcome IS NULL LIMIT 1", (printer, owner)
    ).fetchone()
    return open_card is not None


def heard(db: Db, station: str, summary: dict[str, object], now: float) -> None:
    db.execute(
        "UPDATE stations SET last_heard = ?, summary = ? WHERE name = ?",
        (now, json.dumps(summary, sort_keys=True), station),
    )


def views(db: Db) -> list[StationView]:
    totals: dict[tuple[str, str], int] = {
        (station, place): int(count)
        for station, place, count in db.execute(
            "SELECT station, place, count FROM stock_totals WHERE place IN ('on_hand', 'in_doubt')"
        )
    }
    rows = db.execute("SELECT name, started_at, last_heard, host, pid, summary FROM stations ORDER BY name").fetchall()
    return [
        StationView(
            name,
            started,
            last,
            host,
            pid,
            json.loads(summary or "{}"),
            totals.get((name, "in_doubt"), 0),
            totals.get((name, "on_hand"), 0),
        )
        for name, started, last, host, pid, summary in rows
    ]
