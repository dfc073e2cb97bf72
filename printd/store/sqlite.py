"""The SQLite engine: the store in one durable file (WAL, synchronous=FULL, one writer), the embedded default."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from printd.store.core import SqlStore
from printd.store.health import Condition, StorageFault, StorageHealth, StorageUnavailableError, classify, has_room
from printd.store.schema import migrate
from printd.store.size_cap import SizeCap
from printd.store.sql import SqliteDb


class SqliteStore(SqlStore):
    """The store in one SQLite file. Thread-safe: one writing connection behind one lock, one for readers."""

    def __init__(self, path: Path | str, *, station: str = "station", max_attempts: int = 3) -> None:
        self.path = Path(path)
        self._init_core(station, max_attempts)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Job content holds personal data: the database is readable by the daemon's user only.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # purged card faces are overwritten in the file, not just unlinked from the b-tree
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        migrate(self._conn, station)
        self.health = StorageHealth(self._probe_storage)
        self._size_cap = SizeCap.from_environment(self._conn)
        # Readers have a connection of their own: with WAL they see the last commit and never wait for the
        # writer's fsync, so a status reply stays fast while cards and batches are being committed.
        self._read_lock = threading.Lock()
        if str(path) == ":memory:":
            self._reader, self._read_lock = self._conn, self._lock  # type: ignore[assignment]
        else:
            self._reader = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
            self._reader.execute("PRAGMA busy_timeout=5000")
            self._reader.execute("PRAGMA query_only=ON")
        self._db, self._reading = SqliteDb(self._conn), SqliteDb(self._reader)

    def close(self) -> None:
        self.health.close()
        with self._lock, self._read_lock:
            if self._reader is not self._conn:
                self._reader.close()
            self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[SqliteDb]:
        """One write transaction. A failure of the storage itself (full, locked, read-only, I/O) rolls it back,
        is recorded in ``health`` and raised as ``StorageUnavailableError``; nothing of the transaction remains."""
        with self._lock:
            try:
                if self._size_cap is not None:
                    self._size_cap.apply(self._conn)
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            except sqlite3.Error as exc:
                fault = classify(exc, self.path)
                if fault is None:
                    raise
                raise StorageUnavailableError(self.health.failed(fault)) from exc

    def _rollback(self) -> None:
        # After SQLITE_FULL or an I/O error SQLite may have rolled back already; a ROLLBACK then only fails.
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    @contextmanager
    def _read(self) -> Iterator[SqliteDb]:
        """A consistent snapshot for the duration of the block (one read transaction)."""
        with self._read_lock:
            try:
                self._reader.execute("BEGIN")
                try:
                    yield self._reading
                finally:
                    self._reader.execute("COMMIT")
            except sqlite3.Error as exc:
                fault = classify(exc, self.path)
                if fault is None:
                    raise
                raise StorageUnavailableError(self.health.failed(fault)) from exc

    def _probe_storage(self, fault: StorageFault) -> StorageFault | None:
        """A trivial write transaction, committed: None once the database takes commits again (and, after
        "full", has room to grow), else the condition still in force."""
        try:
            with self._write() as db:
                # Rewriting the header's application id dirties page 1 even when the value is unchanged (a
                # no-op UPDATE writes nothing), so the commit goes through the lock, the WAL and its fsync.
                (application_id,) = db.execute("PRAGMA application_id").fetchone()
                db.execute(f"PRAGMA application_id = {int(application_id)}")
                short_of_room = fault.condition is Condition.FULL and not has_room(db.conn, self.path)
        except StorageUnavailableError as exc:
            return exc.fault
        return fault if short_of_room else None
