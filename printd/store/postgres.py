"""The PostgreSQL engine: the store shared by every station of an office (psycopg 3).

Each thread that writes (a printer's worker, the socket's request handlers, the spool) has a connection of its
own; the socket's readers share one, in read-only snapshots. Losing the server is a storage fault like a full disk
for SQLite: no blank is fed, an outcome in hand waits, and a probe reconnects until the server answers again.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from printd.errors import PrintdError
from printd.logging import get_logger
from printd.store import pg_schema
from printd.store.core import SqlStore
from printd.store.health import Condition, StorageFault, StorageHealth, StorageUnavailableError
from printd.store.sql import POSTGRES, Cursor

log = get_logger("printd.store")

# A server that stops answering (a cut cable, a dead switch) must not hold a printer's thread for long: the kernel
# gives up on the TCP connection after this, and a statement after this.
CONNECT_OPTIONS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
    "application_name": "printd",
}
STATEMENT_TIMEOUT_MS = 30_000
STATION_LOCK = 0x70726E74  # "prnt": with the station name's hash, the advisory lock of a running station
LISTEN_POLL_SECONDS = 5.0
"""The listener checks this often that it should still run; the printers' own idle poll is the safety net."""


@functools.lru_cache(maxsize=2048)
def _pg_sql(sql: str) -> str:
    """The store's ``?`` parameters as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgDb:
    """A psycopg connection as a ``Db``."""

    dialect = POSTGRES

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(_pg_sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_pg_sql(sql), rows)


def describe(url: str) -> str:
    """The server a URL reaches, for messages: user, host and database, never a password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the PostgreSQL server"
    host = str(info.get("host") or "the local socket")
    port = f":{info['port']}" if info.get("port") else ""
    return f"PostgreSQL database {info.get('dbname') or info.get('user') or '?'!s} on {host}{port}"


def check_url(url: str) -> None:
    """Refuse a URL that carries its password: it would be in the configuration file and in ``ps`` output."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise PrintdError(
            "config.invalid", f"[station] database is not a valid PostgreSQL URL ({type(exc).__name__})"
        ) from None
    if info.get("password"):
        raise PrintdError(
            "config.invalid",
            "[station] database: a PostgreSQL URL must not hold the password; put it in a passfile"
            " (?passfile=/etc/printd/pgpass, mode 0600, owned by printd) or use a peer-authenticated socket",
        )


def classify(exc: psycopg.Error, where: str) -> StorageFault | None:
    """The storage condition behind a psycopg error, or None for an error that is not about storage."""
    state = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, pg_errors.DiskFull | pg_errors.OutOfMemory) or state.startswith("53"):
        condition = Condition.FULL
        message = f"{where} cannot take more data (its disk is full); free disk space on the database server"
    elif isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        condition = Condition.READ_ONLY
        message = f"{where} accepts no writes (a read-only server or standby); point printd at the primary"
    elif isinstance(exc, pg_errors.QueryCanceled):  # 57014: statement_timeout, e.g. behind another's lock
        condition = Condition.LOCKED
        message = (
            f"{where} did not finish a statement within {STATEMENT_TIMEOUT_MS // 1000} s (a lock held by another"
            " station or a maintenance task, or an overloaded server); it is tried again"
        )
    elif isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure | pg_errors.LockNotAvailable):
        condition = Condition.LOCKED
        message = f"{where} refused a transaction that waited for another station's; it is tried again"
    elif isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) or state.startswith(("08", "57")):
        condition = Condition.UNREACHABLE
        message = (
            f"{where} cannot be reached ({_first_line(exc)}): check that the server runs and the network to it;"
            " printing and new jobs wait, and resume by themselves when it answers"
        )
    else:
        return None
    return StorageFault(condition, message, state or type(exc).__name__, time.time(), engine="postgresql")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class PostgresStore(SqlStore):
    """The store in a PostgreSQL database that several stations share."""

    def __init__(self, url: str, *, station: str = "station", max_attempts: int = 3) -> None:
        check_url(url)
        self.url = url
        self.where = describe(url)
        self._init_core(station, max_attempts)
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._connections_lock = threading.Lock()
        self._closing = threading.Event()
        self._listener: threading.Thread | None = None
        self.health = StorageHealth(self._probe_storage)
        try:
            with self._connect() as conn:
                pg_schema.migrate(conn)
        except psycopg.Error as exc:
            raise PrintdError(
                "store.unreachable", f"cannot open {self.where}: {_first_line(exc)}; check [station] database"
            ) from None
        self._read_lock = threading.Lock()
        self._reader: psycopg.Connection[Any] | None = None

    # ---- connections ----------------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self.url,
            autocommit=True,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            **CONNECT_OPTIONS,  # type: ignore[arg-type]
        )

    def _thread_connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._connect()
            self._local.conn = conn
            with self._connections_lock:
                self._connections = [c for c in self._connections if not c.closed] + [conn]
        return conn

    def _reader_connection(self) -> psycopg.Connection[Any]:
        if self._reader is None or self._reader.closed:
            self._reader = self._connect()
            # every BEGIN on it opens a read-only snapshot, in that one statement
            self._reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self._reader.read_only = True
        return self._reader

    @staticmethod
    def _begin(stack: ExitStack, connection: Callable[[], psycopg.Connection[Any]]) -> psycopg.Connection[Any]:
        """A transaction begun on ``connection()``, ended by ``stack``. A connection found dead at its BEGIN (the
        server restarted, or the idle link to it was cut) is replaced once: nothing of the transaction was sent
        yet, so beginning it again on a new connection is safe, and a server that answers is no storage fault."""
        conn = connection()
        try:
            stack.enter_context(conn.transaction())
        except psycopg.OperationalError:
            if not conn.closed:
                raise
            conn = connection()  # a closed connection is replaced
            stack.enter_context(conn.transaction())
        return conn

    def _forget_thread_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[PgDb]:
        """One write transaction on this thread's connection (READ COMMITTED: rows each statement changes are
        locked until the commit; the custody row and SKIP LOCKED make claims safe without serializable)."""
        try:
            with ExitStack() as stack:
                yield PgDb(self._begin(stack, self._thread_connection))
        except psycopg.Error as exc:
            fault = classify(exc, self.where)
            if fault is None:
                raise
            if fault.condition is Condition.UNREACHABLE:
                self._forget_thread_connection()
            raise StorageUnavailableError(self.health.failed(fault)) from exc

    @contextmanager
    def _read(self) -> Iterator[PgDb]:
        """A consistent, read-only snapshot on the readers' shared connection."""
        with self._read_lock:
            try:
                with ExitStack() as stack:
                    yield PgDb(self._begin(stack, self._reader_connection))
            except psycopg.Error as exc:
                fault = classify(exc, self.where)
                if fault is None:
                    raise
                if fault.condition is Condition.UNREACHABLE and self._reader is not None:
                    self._reader.close()
                raise StorageUnavailableError(self.health.failed(fault)) from exc

    def _probe_storage(self, fault: StorageFault) -> StorageFault | None:
        """A transaction that takes a transaction id, committed: None once the server takes writes again."""
        try:
            with self._write() as db:
                db.execute("SELECT txid_current()")
        except StorageUnavailableError as exc:
            return exc.fault
        return None

    # ---- one process per station ----------------------------------------------------------------------

    def lock_station(self) -> None:
        """Hold the station's advisory lock on a connection of its own for as long as this store is open: a second
        printd started as the same station (another PC with a copied configuration) is refused, and the lock goes
        with the process, however it ends."""
        conn = self._connect()
        row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (STATION_LOCK, self.station)).fetchone()
        if not (row and row[0]):
            conn.close()
            running = [view for view in self.stations() if view.name == self.station]
            where = f" (last heard from {running[0].host}, pid {running[0].pid})" if running else ""
            raise PrintdError(
                "station.running",
                f"station {self.station!r} is already running on {self.where}{where}; every print PC needs its own"
                " [station] name",
            )
        with self._connections_lock:
            self._connections.append(conn)

    # ---- waking stations -----------------------------------------------------------------------------

    def watch_queue(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` on a notification of work for this station or for any (a job queued, blanks arrived),
        and once after every reconnection, since notifications sent meanwhile were lost."""
        if self._listener is not None:
            return
        self._listener = threading.Thread(target=self._listen, args=(wake,), name="store-listen", daemon=True)
        self._listener.start()

    def _listen(self, wake: Callable[[], None]) -> None:
        delay = 0.5
        while not self._closing.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {pg_schema.WORK_CHANNEL}")
                    delay = 0.5
                    wake()
                    while not self._closing.is_set():
                        for note in conn.notifies(timeout=LISTEN_POLL_SECONDS):
                            if note.payload in ("", self.station):
                                wake()
            except psycopg.Error as exc:
                log.info("store.listen_lost", error=_first_line(exc), retry_seconds=delay)
                self._closing.wait(delay)
                delay = min(delay * 2, 10.0)

    def close(self) -> None:
        self._closing.set()
        self.health.close()
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
        if self._listener is not None:
            self._listener.join(LISTEN_POLL_SECONDS + 1)
