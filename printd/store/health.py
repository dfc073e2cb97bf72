"""Storage health: SQLite errors classified as a condition (full, locked, read-only, I/O), probed until it ends."""

from __future__ import annotations

import enum
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from printd.errors import PrintdError
from printd.logging import get_logger

log = get_logger("printd.store")

# SQLite primary result codes (sqlite3.h); an extended code carries its primary code in the low byte.
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14

# After "full", printing resumes only with this much room, so one freed page does not start and stop it again.
MIN_FREE_PAGES = 64
MIN_FREE_BYTES = 1 << 20


class Condition(enum.Enum):
    FULL = "store.full"
    LOCKED = "store.locked"
    READ_ONLY = "store.read_only"
    IO_ERROR = "store.io_error"
    UNREACHABLE = "store.unreachable"


@dataclass(frozen=True)
class StorageFault:
    """Why the database cannot take a commit now, said so a person can act on it."""

    condition: Condition
    message: str
    sqlite_error: str
    """The engine's own name for the error (SQLite's error name, PostgreSQL's SQLSTATE)."""
    since: float
    engine: str = "sqlite"

    @property
    def code(self) -> str:
        return self.condition.value


class StorageUnavailableError(PrintdError):
    """A write (or read) the database could not take; the fault says why and what to do."""

    def __init__(self, fault: StorageFault, context: str = "") -> None:
        message = f"{context}: {fault.message}" if context else fault.message
        super().__init__(fault.code, message, {f"{fault.engine}_error": fault.sqlite_error})
        self.fault = fault


def classify(exc: sqlite3.Error, database: Path) -> StorageFault | None:
    """The storage condition behind a SQLite error, or None for an error that is not about storage."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    primary = code & 0xFF
    if primary == SQLITE_FULL:
        condition = Condition.FULL
    elif primary in (SQLITE_BUSY, SQLITE_LOCKED):
        condition = Condition.LOCKED
    elif primary in (SQLITE_READONLY, SQLITE_PERM):
        condition = Condition.READ_ONLY
    elif primary in (SQLITE_IOERR, SQLITE_CANTOPEN):
        condition = _diagnose_io_error(database)
    else:
        return None
    name = str(getattr(exc, "sqlite_errorname", f"SQLite error {code}"))
    return StorageFault(condition, _message(condition, database, name), name, time.time())


def has_room(db: sqlite3.Connection, database: Path) -> bool:
    """Room for a useful amount of work: pages under the database's size limit and bytes on its file system."""
    (limit,) = db.execute("PRAGMA max_page_count").fetchone()
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    (free_pages,) = db.execute("PRAGMA freelist_count").fetchone()
    return int(limit) - int(pages) + int(free_pages) >= MIN_FREE_PAGES and _free_bytes(database) >= MIN_FREE_BYTES


def _diagnose_io_error(database: Path) -> Condition:
    """An I/O error names no cause; the file system tells a read-only file or mount, or a full disk, apart."""
    wal = database.with_name(database.name + "-wal")
    if any(p.exists() and not os.access(p, os.W_OK) for p in (database, wal, database.parent)):
        return Condition.READ_ONLY
    if _free_bytes(database) < MIN_FREE_BYTES:
        return Condition.FULL
    return Condition.IO_ERROR


def _free_bytes(database: Path) -> int:
    try:
        fs = os.statvfs(database.parent)
    except OSError:
        return MIN_FREE_BYTES  # cannot tell: do not call it full
    blocks = fs.f_bfree if os.geteuid() == 0 else fs.f_bavail  # root may use the reserved blocks
    return blocks * fs.f_frsize


def _message(condition: Condition, database: Path, sqlite_error: str) -> str:
    where = database.parent
    resume = "printing and new jobs wait, and resume by themselves"
    if condition is Condition.FULL:
        return (
            f"the database {database} cannot grow ({sqlite_error}): its file system is full or a size limit was"
            f" reached; free disk space there (see 'df -h {where}'); {resume} when there is room again"
        )
    if condition is Condition.LOCKED:
        return (
            f"another process holds the write lock on the database {database} ({sqlite_error}); find it with"
            f" 'fuser -v {database}' and stop it, only printd may write there; {resume} when the lock is released"
        )
    if condition is Condition.READ_ONLY:
        return (
            f"the database {database} cannot be written: the file, its -wal file or its directory is read-only or"
            f" immutable, or the file system is mounted read-only ({sqlite_error}); check 'ls -l' and 'lsattr' there"
            f" and 'findmnt -T {where}'; {resume} when it is writable again"
        )
    return (
        f"writing the database {database} failed with an I/O error ({sqlite_error}); check the disk and the kernel"
        f" log ('journalctl -k'); {resume} when writes succeed again"
    )


Probe = Callable[[StorageFault], StorageFault | None]


class StorageHealth:
    """The store's storage condition. While one holds, a probe retries with backoff until the database takes a
    commit again; the log says when a condition begins and when it ends, never on a retry."""

    PROBE_FIRST_SECONDS = 0.25
    PROBE_MAX_SECONDS = 1.0  # a probe is one tiny commit: cheap enough to find recovery within a second

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._fault: StorageFault | None = None
        self._changed = threading.Condition()
        self._prober: threading.Thread | None = None
        self._closed = False

    @property
    def fault(self) -> StorageFault | None:
        return self._fault

    def failed(self, fault: StorageFault) -> StorageFault:
        """Record a failed write; returns the condition now in force (the first one, for a repeat of it)."""
        with self._changed:
            current = self._fault
            if current is not None and current.condition is fault.condition:
                return current
            self._fault = fault
            if current is None:
                log.error("store.unavailable", code=fault.code, sqlite_error=fault.sqlite_error, message=fault.message)
            else:
                log.error(
                    "store.unavailable",
                    code=fault.code,
                    sqlite_error=fault.sqlite_error,
                    message=fault.message,
                    previous=current.code,
                )
            if self._prober is None and not self._closed:
                self._prober = threading.Thread(target=self._probe_until_recovered, name="store-probe", daemon=True)
                self._prober.start()
            return fault

    def recovered(self) -> None:
        with self._changed:
            fault, self._fault = self._fault, None
            if fault is not None:
                log.info("store.recovered", code=fault.code, after_seconds=round(time.time() - fault.since, 1))
            self._changed.notify_all()

    def check(self, context: str = "") -> None:
        """Raise the condition in force, if any (for requests refused outright while it holds)."""
        fault = self._fault
        if fault is not None:
            raise StorageUnavailableError(fault, context)

    def wait_available(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the condition to end; True if storage is available."""
        with self._changed:
            self._changed.wait_for(lambda: self._fault is None or self._closed, timeout)
            return self._fault is None

    def as_dict(self) -> dict[str, object]:
        from printd.store.records import iso

        fault = self._fault
        if fault is None:
            return {"available": True}
        return {
            "available": False,
            "code": fault.code,
            "message": fault.message,
            f"{fault.engine}_error": fault.sqlite_error,
            "since": iso(fault.since),
        }

    def close(self) -> None:
        with self._changed:
            self._closed = True
            prober = self._prober
            self._changed.notify_all()
        if prober is not None and prober is not threading.current_thread():
            prober.join(10.0)

    def _probe_until_recovered(self) -> None:
        delay = self.PROBE_FIRST_SECONDS
        reported = False
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self._fault is None, delay)
                fault = self._fault
                if fault is None or self._closed:
                    self._prober = None
                    return
            # outside the lock: the probe takes the store's writer lock, and a failed probe reports here
            try:
                still = self._probe(fault)
            except Exception as exc:  # not a storage condition (corruption, a bug): said once, probed on
                if not reported:
                    log.error("store.probe_failed", error=type(exc).__name__, detail=str(exc))
                    reported = True
                still = fault
            if still is None:
                self.recovered()
            delay = min(delay * 2, self.PROBE_MAX_SECONDS)
