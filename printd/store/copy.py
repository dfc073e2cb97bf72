"""``printd store copy``: a station's whole history, from its SQLite file into the PostgreSQL database that the
office's stations share.

Rules (a refusal says why and leaves the target as it was):
- Rule 1: the SQLite file is read, never written. While a printd runs on it (holding the lock file beside it) the
  copy is refused, and it holds that lock itself until it ends, so none starts meanwhile. The file and its
  write-ahead log are copied into a private temporary directory; that snapshot is what is migrated to this printd's
  schema and read. The station can go back to its file, at the schema version it had, whatever happens here.
- Rule 2: the target holds none of the file's stations: no station row, ledger event or attempt under a name that
  the file's history uses.
- Rule 3: nothing in the target shares a key with the file: job references (two offices' queues are not merged
  silently), delivery and transfer references, berita acara numbers, printer names.
- Rule 4: ids are kept as they are (a resolution names its in-doubt event by id, a berita acara's items their ledger
  events), so each table's ids already in the target must lie outside the range of the file's. In practice the
  target is a new database, or one whose history has none of these ids.
- Rule 5: all or nothing. The schema, the rows, the identity sequences and the kept totals (added to the target's)
  are written in one transaction, committed only once every fold of the target (the balance kept and folded from
  the ledger, per station and per printer, the queue counts kept and counted, the quarter-hour sums, the rows of
  each table) equals what it was before plus the file's.
- Rule 6: dashboard accounts are the office's, not a station's: the file's are copied, except a name the target has
  already, whose account in the target is kept as it is (the summary names them). Each copied account must read
  back as it was in the file, in the same transaction.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from printd.config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from printd.errors import PrintdError
from printd.ledger import PRINTER_PLACES, Balance
from printd.logging import configure, get_logger
from printd.store import pg_schema
from printd.store.core import SqlStore
from printd.store.engines import is_postgres
from printd.store.postgres import CONNECT_OPTIONS, PgDb, check_url, describe
from printd.store.sqlite import SqliteStore

log = get_logger("printd.store")

HISTORY = (
    "jobs",
    "job_content",
    "job_events",
    "attempts",
    "ledger",
    "reconciliations",
    "printers",
    "printer_events",
    "handovers",
    "handover_items",
    "stations",
)
"""Copied row for row with their ids and keys, in an order in which every reference finds its row already there."""

TOTALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "queue_counts": (("station", "state", "priority"), ("count",)),
    "stock_totals": (("station", "place"), ("count",)),
    "printer_totals": (("printer", "place"), ("count",)),
    "ledger_quarters": (
        ("quarter", "station", "kind", "resolution", "from_issued", "category"),
        ("events", "count"),
    ),
}
"""The kept totals, (key columns, summed columns): the file's are added to the target's."""

ACCOUNTS = "accounts"
"""Dashboard accounts: copied by Rule 6, not row for row."""

IDENTITY = ("jobs", "job_events", "attempts", "ledger", "printer_events")
"""Tables whose ``id`` PostgreSQL numbers itself: their sequences are moved past the copied ids."""

BATCH_ROWS = 5000
CONTENT_BATCH_ROWS = 50
"""Card faces and chip data are up to a few hundred kilobytes a job: fewer of them are held at once."""
LOCK_TIMEOUT = "60s"
"""How long the copy waits for the stations already writing to the target to finish their transactions."""
MOST_DIFFERENCES = 8


# ---- what the copy shows a person ------------------------------------------------------------------------


class CopyProgress(Protocol):
    def stage(self, description: str, total: int | None = None) -> None:
        """A new step begins (the one before it has ended); ``total``: the rows it moves, when it moves rows."""

    def advance(self, rows: int) -> None: ...

    def done(self) -> None:
        """The last step has ended: the copy is committed."""

    def close(self) -> None: ...


class NoProgress:
    def stage(self, description: str, total: int | None = None) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass

    def done(self) -> None:
        pass

    def close(self) -> None:
        pass


class LineProgress(NoProgress):
    """Plain lines, for a pipe or a log: each step as it begins, and each tenth of a long one."""

    LONG = 10_000

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._total, self._done, self._tenths = 0, 0, 0

    def stage(self, description: str, total: int | None = None) -> None:
        self._total, self._done, self._tenths = total or 0, 0, 0
        rows = "" if total is None else f" ({total:,} row{'' if total == 1 else 's'})"
        print(description + rows, file=self.stream, flush=True)

    def advance(self, rows: int) -> None:
        self._done += rows
        if self._total < self.LONG:
            return
        tenths = self._done * 10 // self._total
        if tenths > self._tenths:
            self._tenths = tenths
            print(f"  {self._done:,} of {self._total:,} rows", file=self.stream, flush=True)


class _Rows(MofNCompleteColumn):
    """Rows copied of the table's, left blank for a step that moves no rows."""

    def render(self, task: Task) -> Text:
        return Text("") if task.fields.get("step") else super().render(task)


class BarProgress(NoProgress):
    """A rich progress bar on the terminal: a line a step, each table's rows counted as they go. A step that failed
    stays as far as it came."""

    def __init__(self, console: Console | None = None) -> None:
        self._bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            _Rows(),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._task: TaskID | None = None
        self._bar.start()

    def stage(self, description: str, total: int | None = None) -> None:
        self.done()
        self._task = self._bar.add_task(description, total=total, step=total is None)

    def advance(self, rows: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, rows)

    def done(self) -> None:
        if self._task is not None:
            total = self._bar.tasks[-1].total
            self._bar.update(self._task, total=1 if total is None else total, completed=1 if total is None else total)
            self._task = None

    def close(self) -> None:
        if self._task is not None:  # the step that was refused or failed
            task = self._bar.tasks[-1]
            self._bar.update(self._task, description=f"{task.description}: stopped", total=task.total or 1)
        self._bar.stop()


class _CurrentStderr:
    """``sys.stderr`` as it is at each write: while the bar is drawn rich stands in for it, so a log line prints
    above the bar instead of through it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


# ---- the figures that must agree ------------------------------------------------------------------------------


@dataclass
class Figures:
    """What a store's folds say, each figure under a label a person can read; zeros are left out.

    ``kept``: the totals kept in step with each change; ``recounted``: the same figures folded from the ledger or
    counted from the jobs (equal to ``kept`` in a store that is in order); ``rows``: the rows of each table."""

    kept: dict[str, int] = field(default_factory=dict)
    recounted: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    quarters_consistent: bool = True
    balance: Balance = field(default_factory=Balance)
    """The whole balance folded from the ledger."""

    @classmethod
    def of(cls, store: SqlStore, rows: dict[str, int]) -> Figures:
        found = cls(rows={table: count for table, count in rows.items() if count})
        found.quarters_consistent = store.quarters_consistent()
        _put(found.kept, "balance", store.balance().as_dict())
        found.balance = store.balance_from_ledger()
        _put(found.recounted, "balance", found.balance.as_dict())
        for station, balance in store.balance_by_station().items():
            _put(found.kept, f"station {station!r}", balance.as_dict())
        for station, balance in store.balance_by_station_from_ledger().items():
            _put(found.recounted, f"station {station!r}", balance.as_dict())
        for printer, places in store.balance_by_printer().items():
            _put(found.kept, f"printer {printer!r}", places)
        for printer, balance in store.balance_by_printer_from_ledger().items():
            _put(found.recounted, f"printer {printer!r}", {place: getattr(balance, place) for place in PRINTER_PLACES})
        _put(found.kept, "queue", store.queue_counts())
        _put(found.recounted, "queue", store.queue_counts_from_jobs())
        _put(found.kept, "waiting", store.backlog_by_priority())
        _put(found.recounted, "waiting", store.backlog_by_priority_from_jobs())
        return found

    def plus(self, other: Figures) -> Figures:
        return Figures(
            _sum(self.kept, other.kept),
            _sum(self.recounted, other.recounted),
            _sum(self.rows, other.rows),
            self.quarters_consistent and other.quarters_consistent,
        )

    def differences(self, expected: Figures) -> list[str]:
        """Where these figures are not ``expected``'s, each as 'what: expected N, found M'."""
        found = []
        for what, mine, theirs in (
            ("kept", self.kept, expected.kept),
            ("recounted", self.recounted, expected.recounted),
            ("rows of", self.rows, expected.rows),
        ):
            for label in sorted(mine.keys() | theirs.keys()):
                if mine.get(label, 0) != theirs.get(label, 0):
                    found.append(f"{what} {label}: expected {theirs.get(label, 0)}, found {mine.get(label, 0)}")
        return found

    def inconsistencies(self) -> list[str]:
        """Where the kept totals are not what the ledger and the jobs say."""
        found = [
            f"{label}: kept {self.kept.get(label, 0)}, recounted {self.recounted.get(label, 0)}"
            for label in sorted(self.kept.keys() | self.recounted.keys())
            if self.kept.get(label, 0) != self.recounted.get(label, 0)
        ]
        if not self.quarters_consistent:
            found.append("the kept quarter-hour sums differ from the ledger's")
        return found


def _put(into: dict[str, int], prefix: str, values: dict[str, int]) -> None:
    for name, value in values.items():
        if value:
            into[f"{prefix} {name}"] = int(value)


def _sum(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    total = {label: a.get(label, 0) + b.get(label, 0) for label in a.keys() | b.keys()}
    return {label: value for label, value in total.items() if value}


class _InTransaction(SqlStore):
    """The target as the copy's open transaction sees it, read through the store's own folds."""

    def __init__(self, conn: psycopg.Connection[Any], station: str) -> None:
        self._init_core(station, 1)
        self._db = PgDb(conn)

    @contextmanager
    def _read(self) -> Iterator[PgDb]:
        yield self._db

    def close(self) -> None:
        pass


# ---- the copy --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CopyResult:
    station: str
    target: str
    source_version: int
    rows: dict[str, int]
    balance: Balance
    seconds: float
    accounts_kept: list[str] = field(default_factory=list)
    """Accounts of the file whose name the target had already: the target's were kept (Rule 6)."""

    def summary(self) -> str:
        width = max(len(table) for table in self.rows)
        lines = [
            f"Copied station {self.station!r} into {self.target} in {self.seconds:.1f} s.",
            "Every fold of the target equals the file's; the file was read, not changed"
            f" (it stays at schema version {self.source_version}).",
            "",
            f"  {'table':<{width}}  {'rows':>9}",
        ]
        for table, count in self.rows.items():
            note = "  (added to the target's kept totals)" if table in TOTALS else ""
            lines.append(f"  {table:<{width}}  {count:>9,}{note}")
        places = ", ".join(f"{name.replace('_', ' ')} {n:,}" for name, n in self.balance.as_dict().items() if n)
        lines += [
            "",
            f"Blanks in the file's ledger: {places or 'none'}.",
        ]
        if self.accounts_kept:
            names = ", ".join(self.accounts_kept)
            lines.append(
                f"Dashboard accounts the target had already, kept as they were there (not the file's): {names}."
            )
        lines += [
            "Next: set [station] database in the station's printd.toml to this PostgreSQL database, and start printd.",
            "Keep the SQLite file as the record of what was copied.",
        ]
        return "\n".join(lines)


def copy_station(
    source: Path,
    url: str,
    *,
    station: str | None = None,
    configured: str | None = None,
    progress: CopyProgress | None = None,
) -> CopyResult:
    """Copy the SQLite file ``source`` into the PostgreSQL database at ``url`` (see the rules above).

    ``station``: the station the file's history is (needed when it names several, or none); ``configured``: the
    name a configuration gives, taken when the file's history names it. Raises ``PrintdError`` when refused."""
    progress = progress or NoProgress()
    where = _target(url)
    try:
        return _copy_station(source, url, where, station, configured, progress)
    except sqlite3.Error as exc:  # a file damaged past its first pages
        raise PrintdError(
            "copy.source_invalid", f"--from {source}: reading it failed ({_first_line(exc)}); nothing was written"
        ) from None


def _copy_station(
    source: Path, url: str, where: str, station: str | None, configured: str | None, progress: CopyProgress
) -> CopyResult:
    started = time.monotonic()
    with _printd_stopped(source), tempfile.TemporaryDirectory(prefix="printd-copy-") as private:
        snapshot = _snapshot(source, Path(private))
        with closing(sqlite3.connect(snapshot)) as raw:
            version = int(raw.execute("PRAGMA user_version").fetchone()[0])
            name = choose_station(_stations_named(raw), station, configured, source)
        progress.stage(f"reading {source.name} (schema version {version})")
        try:
            file_store = SqliteStore(snapshot, station=name)
        except RuntimeError as exc:  # a file newer than this printd
            raise PrintdError("copy.source_invalid", f"--from {source}: {exc}") from None
        try:
            with closing(sqlite3.connect(snapshot)) as src:
                rows = {table: _count(src, table) for table in (*HISTORY, *TOTALS)}
                expected = Figures.of(file_store, {table: rows[table] for table in HISTORY})
                wrong = expected.inconsistencies()
                if wrong:
                    raise PrintdError(
                        "copy.source_inconsistent",
                        f"--from {source}: the file's kept totals disagree with its own ledger and jobs ("
                        + _listed(wrong)
                        + "); printd keeps them in step, so the file was changed outside printd: nothing was copied",
                    )
                log.info("store.copy_started", source=str(source), target=where, station=name, version=version)
                with _connect(url, where) as pg:
                    stations = sorted({*_stations_named(src), name})
                    kept = _copy(pg, src, stations, rows, expected, where, progress)
                rows[ACCOUNTS] = _count(src, ACCOUNTS) - len(kept)
        finally:
            file_store.close()
    seconds = time.monotonic() - started
    log.info("store.copy_done", station=name, target=where, rows=sum(rows.values()), seconds=round(seconds, 2))
    return CopyResult(name, where, version, {t: n for t, n in rows.items() if n}, expected.balance, seconds, kept)


def _copy(
    pg: psycopg.Connection[Any],
    src: sqlite3.Connection,
    stations: list[str],
    rows: dict[str, int],
    expected: Figures,
    where: str,
    progress: CopyProgress,
) -> list[str]:
    """Rules 2 to 6, in one transaction of ``pg``: leaving it by an exception rolls everything back. Returns the
    names of the file's accounts the target had already."""
    target = _InTransaction(pg, stations[0])
    try:
        with pg.transaction():
            pg.execute("SET LOCAL statement_timeout = 0")
            progress.stage(f"checking {where}")
            try:
                pg_schema.migrate(pg)
            except RuntimeError as exc:  # a database newer than this printd
                raise PrintdError("copy.target_invalid", f"{where}: {exc}") from None
            _lock_tables(pg, where)
            columns = {table: _columns(pg, src, table) for table in (*HISTORY, *TOTALS, ACCOUNTS)}
            _refuse_overlaps(pg, src, stations, where)
            before = Figures.of(target, {table: _count_pg(pg, table) for table in HISTORY})
            for table in HISTORY:
                progress.stage(f"copying {table}", rows[table])
                _copy_rows(pg, src, table, columns[table], progress)
                log.info("store.copy_table", table=table, rows=rows[table])
            for table, (keys, sums) in TOTALS.items():
                progress.stage(f"adding {table}", rows[table])
                _add_totals(pg, src, table, keys, sums, progress)
                log.info("store.copy_table", table=table, rows=rows[table])
            _advance_sequences(pg, [table for table in IDENTITY if rows[table]])
            accounts_before = _count_pg(pg, ACCOUNTS)
            progress.stage("copying accounts")
            copied, kept = _copy_accounts(pg, src, columns[ACCOUNTS])
            log.info("store.copy_table", table=ACCOUNTS, rows=len(copied), kept=len(kept))
            progress.stage("verifying every fold")
            after = Figures.of(target, {table: _count_pg(pg, table) for table in HISTORY})
            wrong = after.differences(before.plus(expected)) + after.inconsistencies()
            wrong += _account_differences(pg, columns[ACCOUNTS], copied, accounts_before)
            if wrong:
                log.error("store.copy_mismatch", differences=len(wrong))
                raise PrintdError(
                    "copy.mismatch",
                    f"after the copy, {len(wrong)} figure(s) of {where} were not the file's added to what it held"
                    f" before ({_listed(wrong)}); the copy was rolled back and nothing was written. The file is as"
                    " it was: keep it, and report this as a fault of printd",
                )
            log.info("store.copy_verified", figures=len(after.kept) + len(after.recounted) + len(after.rows))
        progress.done()
        return kept
    except psycopg.Error as exc:
        raise PrintdError(
            "copy.failed",
            f"the copy into {where} failed: {_first_line(exc)}. Its one transaction was rolled back, so nothing was"
            " written (had the connection dropped while it committed, run the copy again: it refuses a target that"
            " holds the station)",
        ) from None


def _listed(items: list[str]) -> str:
    shown = "; ".join(items[:MOST_DIFFERENCES])
    return shown + (f"; and {len(items) - MOST_DIFFERENCES} more" if len(items) > MOST_DIFFERENCES else "")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


# ---- the source: Rule 1 ----------------------------------------------------------------------------------


@contextmanager
def _printd_stopped(path: Path) -> Iterator[None]:
    """Hold printd's lock of the file (``PATH.lock``, as ``printd.daemon`` takes it) while the copy runs. No lock
    file: no printd has run on the file where it is now, and none is created (it would belong to this user)."""
    _require_sqlite_file(path)
    lock = path.with_name(path.name + ".lock")
    try:
        fd: int | None = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None
    except OSError as exc:
        raise PrintdError("copy.source_invalid", f"--from {path}: cannot open {lock.name} ({exc.strerror})") from None
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PrintdError(
                    "copy.source_busy",
                    f"printd is running on {path} (it holds {lock.name}): stop it first (systemctl stop printd), so"
                    " that no card is booked in the file after the copy is taken; nothing was written",
                ) from None
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _require_sqlite_file(path: Path) -> None:
    try:
        with path.open("rb") as file:
            header = file.read(16)
    except FileNotFoundError:
        problem = "no such file; give the station's SQLite database ([station] database in its printd.toml)"
    except IsADirectoryError:
        problem = "a directory, not the station's SQLite database file"
    except PermissionError:
        problem = "cannot be read (permission denied): run the copy as root or as printd's user"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    else:
        if header == b"SQLite format 3\x00":
            return
        problem = "not a SQLite database"
    raise PrintdError("copy.source_invalid", f"--from {path}: {problem}; nothing was written")


def _snapshot(path: Path, private: Path) -> Path:
    """The file and its write-ahead log, copied into ``private`` (a directory only this user may enter)."""
    snapshot = private / "source.db"
    for suffix in ("", "-wal"):
        original = path.with_name(path.name + suffix)
        if suffix and not original.exists():
            continue
        try:
            shutil.copyfile(original, snapshot.with_name(snapshot.name + suffix))
        except OSError as exc:
            raise PrintdError(
                "copy.source_invalid",
                f"--from {path}: cannot copy {original.name} into a temporary directory ({exc.strerror}); set TMPDIR"
                " to a directory with room for the file",
            ) from None
    with closing(sqlite3.connect(snapshot)) as raw:
        try:
            tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise PrintdError("copy.source_invalid", f"--from {path}: not a readable SQLite database ({exc})") from None
    if not {"jobs", "ledger"} <= tables:
        raise PrintdError("copy.source_invalid", f"--from {path}: a SQLite database, but not printd's (no ledger)")
    return snapshot


def _stations_named(conn: sqlite3.Connection) -> list[str]:
    """The stations a file's history names: those that booked its ledger events or own its attempts, printers and
    station rows (before schema version 6 only the ledger names one)."""
    names: set[str] = set()
    for table, column in (
        ("ledger", "station"),
        ("attempts", "station"),
        ("printers", "station"),
        ("stations", "name"),
    ):
        if column in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            names.update(row[0] for row in conn.execute(f"SELECT DISTINCT {column} FROM {table}") if row[0])
    return sorted(names)


def choose_station(found: list[str], given: str | None, configured: str | None, source: Path) -> str:
    """The station the file's history is: ``given`` (``--station``), else the configuration's, else the only one
    the file names. A name the file's history does not use is refused: its events would be another station's."""
    named = ", ".join(repr(name) for name in found)
    if given is not None:
        if found and given not in found:
            raise PrintdError(
                "copy.station_unknown",
                f"--from {source}: the file's history is station {named}, not {given!r}; give one of those",
            )
        return given
    if configured is not None and (not found or configured in found):
        return configured
    if len(found) == 1:
        if configured is None:
            return found[0]
        raise PrintdError(
            "copy.station_unknown",
            f"--from {source}: the file's history is station {named}, but the configuration names {configured!r}:"
            f" give --station {found[0]} (and name the station so in printd.toml before it runs on PostgreSQL)",
        )
    if not found:
        raise PrintdError("copy.station_unknown", f"--from {source}: the file names no station yet; give --station")
    raise PrintdError(
        "copy.station_unknown", f"--from {source}: the file's history names stations {named}; give --station"
    )


def _count(src: sqlite3.Connection, table: str) -> int:
    return int(src.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# ---- the target: Rules 2 to 5 ------------------------------------------------------------------------------


def _target(url: str) -> str:
    if not is_postgres(url):
        raise PrintdError(
            "copy.target_invalid",
            "--to must be a postgresql:// URL (postgresql://USER@HOST/DATABASE): the copy goes into PostgreSQL",
        )
    try:
        check_url(url)
    except PrintdError as exc:
        raise PrintdError(exc.code, exc.message.replace("[station] database", "--to", 1)) from None
    return describe(url)


def _connect(url: str, where: str) -> psycopg.Connection[Any]:
    options = {**CONNECT_OPTIONS, "application_name": "printd-store-copy"}
    try:
        return psycopg.connect(make_conninfo(url, **options), autocommit=True)
    except psycopg.Error as exc:
        raise PrintdError(
            "store.unreachable", f"cannot open {where}: {_first_line(exc)}; check --to; nothing was written"
        ) from None


def _lock_tables(pg: psycopg.Connection[Any], where: str) -> None:
    """Stations keep reading the target, and wait to write, until the copy commits: what the checks found stays
    true, and no id is taken under the copy's feet."""
    tables = sql.SQL(", ").join(sql.Identifier(table) for table in (*HISTORY, *TOTALS, ACCOUNTS))
    pg.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
    try:
        pg.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(tables))
    except psycopg.errors.LockNotAvailable:
        raise PrintdError(
            "copy.target_busy", f"{where} stayed busy for {LOCK_TIMEOUT}; try again, nothing was written"
        ) from None
    pg.execute("SET LOCAL lock_timeout = 0")


def _columns(pg: psycopg.Connection[Any], src: sqlite3.Connection, table: str) -> list[str]:
    """The table's columns, in PostgreSQL's order; the two schemas must have the same ones."""
    target = [
        str(name)
        for (name,) in pg.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
    ]
    source = {str(row[1]) for row in src.execute(f"PRAGMA table_info({table})")}
    if set(target) != source:
        raise PrintdError(
            "copy.schema_differs",
            f"table {table}: SQLite has columns {sorted(source - set(target))} that PostgreSQL's schema lacks and"
            f" lacks {sorted(set(target) - source)}; this printd's two schemas disagree (a fault of printd: report"
            " it); nothing was written",
        )
    return target


_SHARED_KEYS = (
    ("printer name", "SELECT name FROM printers", "SELECT name FROM printers WHERE name = ANY(%s)"),
    ("berita acara number", "SELECT number FROM handovers", "SELECT number FROM handovers WHERE number = ANY(%s)"),
    (
        "delivery reference",
        "SELECT reference FROM ledger WHERE kind = 'received'",
        "SELECT reference FROM ledger WHERE kind = 'received' AND reference = ANY(%s)",
    ),
    (
        "transfer reference",
        "SELECT reference FROM ledger WHERE kind = 'transferred'",
        "SELECT reference FROM ledger WHERE kind = 'transferred' AND reference = ANY(%s)",
    ),
)
"""Keys the target may hold once: (what they are, the file's, the target's among a batch of the file's)."""


def _refuse_overlaps(pg: psycopg.Connection[Any], src: sqlite3.Connection, stations: list[str], where: str) -> None:
    nothing = "; nothing was written"
    row = pg.execute(
        "SELECT w.name FROM unnest(%s::text[]) AS w (name)"
        " WHERE EXISTS (SELECT 1 FROM stations s WHERE s.name = w.name)"
        " OR EXISTS (SELECT 1 FROM ledger l WHERE l.station = w.name)"
        " OR EXISTS (SELECT 1 FROM attempts a WHERE a.station = w.name) ORDER BY w.name LIMIT 1",
        (stations,),
    ).fetchone()
    if row is not None:
        raise PrintdError(
            "copy.station_exists",
            f"{where} already holds station {row[0]!r} (its station row, ledger events or attempts): its history was"
            " copied before, or a print PC runs there under that name. A station's history is copied once, into a"
            f" database that has none of it{nothing}",
        )
    if _scalar(pg.execute("SELECT EXISTS (SELECT 1 FROM jobs)")):
        ref = _first_shared(pg, src, "SELECT ref FROM jobs", "SELECT ref FROM jobs WHERE ref = ANY(%s)")
        if ref is not None:
            raise PrintdError(
                "copy.ref_taken",
                f"job reference {ref[:128]!r} is in the file and in {where} already: two offices' queues are not"
                f" merged silently; a reference names one job in the office{nothing}",
            )
    for what, in_source, in_target in _SHARED_KEYS:
        key = _first_shared(pg, src, in_source, in_target)
        if key is not None:
            raise PrintdError("copy.key_taken", f"{what} {key[:128]!r} is in the file and in {where} already{nothing}")
    for kind, what in (("received", "delivery"), ("transferred", "transfer")):
        twice = src.execute(
            "SELECT reference FROM ledger WHERE kind = ? GROUP BY reference HAVING count(*) > 1 LIMIT 1", (kind,)
        ).fetchone()
        if twice is not None:
            raise PrintdError(
                "copy.key_taken",
                f"the file books {what} reference {twice[0][:128]!r} more than once (as printd did before a reference"
                f" was booked once); PostgreSQL's schema holds each once, so the file cannot be copied as it is"
                f"{nothing}",
            )
    for table in IDENTITY:
        low, high = src.execute(f"SELECT min(id), max(id) FROM {table}").fetchone()
        if low is None:
            continue
        taken = _scalar(
            pg.execute(
                sql.SQL("SELECT min(id) FROM {} WHERE id BETWEEN %s AND %s").format(sql.Identifier(table)), (low, high)
            )
        )
        if taken is not None:
            raise PrintdError(
                "copy.ids_taken",
                f"{where} already uses {table} id {taken}, inside the range the file's {table} keep ({low} to"
                f" {high}): ids are copied as they are, since resolutions and berita acara name ledger events by id."
                f" Copy into a new database, or one whose ids lie outside the file's{nothing}",
            )


def _first_shared(pg: psycopg.Connection[Any], src: sqlite3.Connection, in_source: str, in_target: str) -> str | None:
    """The first of the file's keys that the target holds too, asked a batch at a time."""
    cursor = src.execute(in_source)
    while batch := cursor.fetchmany(BATCH_ROWS):
        keys = [key for (key,) in batch if key is not None]
        row = pg.execute(f"{in_target} ORDER BY 1 LIMIT 1", (keys,)).fetchone()
        if row is not None:
            return str(row[0])
    return None


def _count_pg(pg: psycopg.Connection[Any], table: str) -> int:
    return int(_scalar(pg.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))))


def _scalar(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    assert row is not None, "a query of one row returned none"
    return row[0]


def _copy_rows(
    pg: psycopg.Connection[Any], src: sqlite3.Connection, table: str, columns: list[str], progress: CopyProgress
) -> None:
    """The table's rows as they are, a COPY a batch: each ends once the server holds it, so the progress shown is
    what PostgreSQL took, not what waits in a buffer."""
    cursor = src.execute(f"SELECT {', '.join(columns)} FROM {table}")
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(column) for column in columns)
    )
    size = CONTENT_BATCH_ROWS if table == "job_content" else BATCH_ROWS
    with pg.cursor() as cur:
        while batch := cursor.fetchmany(size):
            with cur.copy(statement) as copy:
                for row in batch:
                    copy.write_row(row)
            progress.advance(len(batch))


def _add_totals(
    pg: psycopg.Connection[Any],
    src: sqlite3.Connection,
    table: str,
    keys: tuple[str, ...],
    sums: tuple[str, ...],
    progress: CopyProgress,
) -> None:
    """The file's kept totals added to the target's (a row the target has not is inserted)."""
    columns = (*keys, *sums)
    statement = sql.SQL("INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({keys}) DO UPDATE SET {add}")
    ident = sql.Identifier(table)
    add = sql.SQL(", ").join(sql.SQL("{c} = {t}.{c} + excluded.{c}").format(c=sql.Identifier(c), t=ident) for c in sums)
    query = statement.format(
        table=ident,
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() for _ in columns),
        keys=sql.SQL(", ").join(map(sql.Identifier, keys)),
        add=add,
    )
    cursor = src.execute(f"SELECT {', '.join(columns)} FROM {table}")
    with pg.cursor() as cur:
        while batch := cursor.fetchmany(BATCH_ROWS):
            cur.executemany(query, batch)
            progress.advance(len(batch))


def _copy_accounts(
    pg: psycopg.Connection[Any], src: sqlite3.Connection, columns: list[str]
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Rule 6: the file's accounts whose name the target lacks, copied as they are; returns (the rows copied, the
    names the target had already)."""
    taken = {str(name) for (name,) in pg.execute("SELECT name FROM accounts")}
    at = columns.index("name")
    rows = [tuple(row) for row in src.execute(f"SELECT {', '.join(columns)} FROM accounts ORDER BY name")]
    copied = [row for row in rows if row[at] not in taken]
    statement = sql.SQL("COPY accounts ({}) FROM STDIN").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
    with pg.cursor() as cur, cur.copy(statement) as copy:
        for row in copied:
            copy.write_row(row)
    return copied, sorted(str(row[at]) for row in rows if row[at] in taken)


def _account_differences(
    pg: psycopg.Connection[Any], columns: list[str], copied: list[tuple[Any, ...]], before: int
) -> list[str]:
    """Each copied account read back as the file has it, and no other account added or lost."""
    at = columns.index("name")
    found = {
        row[at]: tuple(row)
        for row in pg.execute(
            sql.SQL("SELECT {} FROM accounts WHERE name = ANY(%s)").format(
                sql.SQL(", ").join(map(sql.Identifier, columns))
            ),
            ([row[at] for row in copied],),
        )
    }
    wrong = [f"account {row[at]!r}: not as in the file" for row in copied if found.get(row[at]) != row]
    total = _count_pg(pg, ACCOUNTS)
    if total != before + len(copied):
        wrong.append(f"rows of accounts: expected {before + len(copied)}, found {total}")
    return wrong


def _advance_sequences(pg: psycopg.Connection[Any], tables: list[str]) -> None:
    """Each identity's next id past every id in its table, copied or not (and never back)."""
    for table in tables:
        pg.execute(
            sql.SQL(
                "SELECT setval(s, greatest((SELECT max(id) FROM {}), coalesce(pg_sequence_last_value(s), 0)))"
                " FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS s) AS identity"
            ).format(sql.Identifier(table)),
            (table,),
        )


# ---- the command ----------------------------------------------------------------------------------------

DESCRIPTION = """\
Copy a station's whole history (its jobs and their card content, attempts, ledger, reconciliations, berita acara,
printers and their events) from its SQLite file into a PostgreSQL database that the office's stations share; then
check that every balance (whole, per station, per printer) and every queue count in the target equals the file's.

The SQLite file is not changed. Stop the station's printd first: the copy is refused while it runs, and keeps it
from starting meanwhile. The file and its write-ahead log are copied into a private temporary directory ($TMPDIR,
else /tmp; it needs room for the file), brought to this printd's schema there and read; the temporary copy is
removed afterwards. The station can go back to its file, unchanged, at any time.

Refused, writing nothing: a target that already holds the station (its row, ledger events or attempts), or shares a
job reference, delivery or transfer reference, berita acara number or printer name with the file, or already uses
ids in the range of the file's (ids are copied as they are: resolutions and berita acara name ledger events by id);
in practice, a new database for each station's history. Everything is written in one transaction, committed only
after the check; stations that use the target wait while it runs.

Exit status: 0 copied and checked; 1 refused or failed (nothing written); 2 wrong arguments."""


def add_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``printd store copy``, added to printd's commands."""
    store = commands.add_parser("store", help="the store: copy a station's SQLite history into PostgreSQL")
    actions = store.add_subparsers(dest="store_command", required=True)
    copy = actions.add_parser(
        "copy",
        help="copy a station's whole history from its SQLite file into PostgreSQL, and check it",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    copy.add_argument("--from", dest="source", type=Path, required=True, metavar="PATH", help="the SQLite file")
    copy.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="postgresql://USER@HOST/DATABASE, without a password (a passfile or a peer-authenticated socket)",
    )
    copy.add_argument(
        "--station",
        metavar="NAME",
        help="the station the file's history is (default: the configuration's [station] name, else the only one"
        " the file names)",
    )
    copy.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"where the station's name is read (default {DEFAULT_CONFIG_PATH}, when it exists)",
    )


def run(args: argparse.Namespace) -> int:
    """``printd store copy``: the summary on stdout, progress and log lines on stderr."""
    configure("info", stream=_CurrentStderr())
    progress: CopyProgress = BarProgress() if sys.stderr.isatty() else LineProgress(sys.stderr)
    try:
        try:
            configured = None if args.station is not None else _configured_station(args.config)
            result = copy_station(
                args.source, args.target, station=args.station, configured=configured, progress=progress
            )
        finally:
            progress.close()
    except PrintdError as exc:
        log.error("store.copy_refused", code=exc.code)
        print(f"printd store copy: {exc.message}.", file=sys.stderr)
        return 1
    except OSError as exc:  # no temporary directory could be made
        log.error("store.copy_refused", code="os.error")
        print(f"printd store copy: {exc}; nothing was written.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("printd store copy: interrupted; nothing was written.", file=sys.stderr)
        return 130
    print(result.summary())
    return 0


def _configured_station(path: Path | None) -> str | None:
    """The ``[station] name`` of the configuration (the default one only when it exists)."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return None
        path = DEFAULT_CONFIG_PATH
    try:
        return load_config(path).station.name
    except ConfigError as exc:
        raise PrintdError("config.invalid", f"{exc}; fix it, or give --station") from None
