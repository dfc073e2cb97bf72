"""Which engine a ``[station] database`` names: a path is a SQLite file, a ``postgresql://`` URL a shared server."""

from __future__ import annotations

from pathlib import Path

from printd.store.interface import Store

URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(database: str | Path) -> bool:
    return str(database).startswith(URL_SCHEMES)


def open_store(database: str | Path, *, station: str, max_attempts: int = 3) -> Store:
    """The store the setting names, migrated to this printd's schema."""
    if is_postgres(database):
        from printd.store.postgres import PostgresStore  # psycopg is needed only by stations that share a server

        return PostgresStore(str(database), station=station, max_attempts=max_attempts)
    from printd.store.sqlite import SqliteStore

    return SqliteStore(Path(database), station=station, max_attempts=max_attempts)
