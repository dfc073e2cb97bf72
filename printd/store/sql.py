"""What the store's SQL needs of an engine: a connection that runs ``?``-parameter statements, and a dialect.

The store's statements are written once, in the SQL that SQLite and PostgreSQL share, with ``?`` parameters;
the few places where the engines differ (row locks, truncating a time to its quarter hour) read the
``Dialect`` of the connection in hand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


@dataclass(frozen=True)
class Dialect:
    name: str
    quarter_of_at: str
    """The UTC quarter hour (an integer) of the row's ``at``."""
    for_update: str
    """Appended to a SELECT of rows the transaction is about to change: waits for other writers of those rows."""
    skip_locked: str
    """Appended to the claim's SELECT: rows another station is claiming are passed over, not waited for."""


SQLITE = Dialect("sqlite", "CAST(at / 900 AS INTEGER)", "", "")
"""SQLite: one writer at a time (BEGIN IMMEDIATE), so a row read in a write transaction cannot change under it."""

POSTGRES = Dialect("postgresql", "CAST(floor(at / 900) AS INTEGER)", " FOR UPDATE", " FOR UPDATE SKIP LOCKED")


class Db(Protocol):
    """One connection, inside the transaction the store opened on it."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class SqliteDb:
    """A sqlite3 connection as a ``Db``."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


def lock_key(db: Db, key: str) -> None:
    """Hold a lock on ``key`` (a delivery or transfer reference) until the transaction ends, so two stations booking
    one reference at once take turns and the second sees the first. SQLite's writer lock does this already."""
    if db.dialect is POSTGRES:
        db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))
