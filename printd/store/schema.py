"""The SQLite schema and its forward-only migrations, versioned with PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from printd.store.ledger_reads import FILL_QUARTERS

# Migration 5's fill of ledger_quarters as it was then, before 6 kept the sums per station.
_FILL_QUARTERS_5 = (
    "INSERT OR IGNORE INTO ledger_quarters SELECT CAST(at / 900 AS INTEGER), kind, coalesce(resolution, ''),"
    " from_issued, coalesce(category, ''), count(*), sum(count) FROM ledger GROUP BY 1, 2, 3, 4, 5"
)


def _counted_totals(conn: sqlite3.Connection, station: str) -> None:
    """2: jobs counted by state and blanks by printer and place, kept in step with each change, so a status
    reply costs the same with a million jobs queued as with ten."""
    from printd.ledger import PRINTER_PLACES, Balance, LedgerEntry, LedgerKind, Resolution

    conn.execute("CREATE TABLE queue_counts (state TEXT PRIMARY KEY, count INTEGER NOT NULL)")
    conn.execute(
        "CREATE TABLE printer_totals (printer TEXT NOT NULL, place TEXT NOT NULL, count INTEGER NOT NULL,"
        " PRIMARY KEY (printer, place))"
    )
    conn.execute("INSERT INTO queue_counts (state, count) SELECT state, count(*) FROM jobs GROUP BY state")
    per: dict[str, Balance] = {}
    rows = conn.execute(
        "SELECT printer, kind, count, resolution, from_issued FROM ledger WHERE printer IS NOT NULL ORDER BY id"
    )
    for printer, kind, count, resolution, from_issued in rows:
        entry = LedgerEntry(LedgerKind(kind), count, Resolution(resolution) if resolution else None, bool(from_issued))
        per.setdefault(printer, Balance()).apply(entry)
    for printer, balance in per.items():
        for place, count in balance.as_dict().items():
            if count and place in PRINTER_PLACES:
                conn.execute("INSERT INTO printer_totals VALUES (?, ?, ?)", (printer, place, count))


def _stations(conn: sqlite3.Connection, station: str) -> None:
    """6: stations sharing a queue. Jobs may be bound to a station; attempts, printers and ledger events belong to
    one (this file's attempts and printers to ``station``, the one that opens it); the stock is kept per station's
    custody, folded from the ledger by the station each event was booked at; transfers move blanks between them,
    each reference booked once; the queue counts and quarter-hour sums are kept per station. (Written to run again
    over its own tables, as 3 to 5 are.)"""
    from printd.ledger import Balance, LedgerEntry, LedgerKind, Resolution

    for table in ("jobs", "attempts", "printers", "ledger"):
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        column = "to_station" if table == "ledger" else "station"
        if column not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
    for statement in _statements(_STATIONS):
        conn.execute(statement)
    conn.execute("UPDATE attempts SET station = ? WHERE station IS NULL", (station,))
    conn.execute("UPDATE printers SET station = ? WHERE station IS NULL", (station,))
    _kept_per_station(conn, station)
    if "station" in {row[1] for row in conn.execute("PRAGMA table_info(stock_totals)")}:
        return
    per: dict[str, Balance] = {}
    rows = conn.execute("SELECT station, kind, count, resolution, from_issued FROM ledger ORDER BY id")
    for owner, kind, count, resolution, from_issued in rows:
        entry = LedgerEntry(LedgerKind(kind), count, Resolution(resolution) if resolution else None, bool(from_issued))
        per.setdefault(owner, Balance()).apply(entry)
    for owner, balance in per.items():
        for place, count in balance.as_dict().items():
            if count:
                conn.execute("INSERT INTO custody_totals VALUES (?, ?, ?)", (owner, place, count))
    conn.execute("DROP TABLE stock_totals")
    conn.execute("ALTER TABLE custody_totals RENAME TO stock_totals")


def _reports(conn: sqlite3.Connection, station: str) -> None:
    """5: reports read the ledger by time: events by time, and kept sums by UTC quarter hour (every local midnight
    is on one, so a day or a month is a range of them); spoiled blanks leave under a berita acara (handover), each
    at most once. (Run again over 6's tables, the sums already there in 6's shape are left to it.)"""
    for statement in _statements(_REPORTS):
        conn.execute(statement)
    if "station" not in {row[1] for row in conn.execute("PRAGMA table_info(ledger_quarters)")}:
        conn.execute(_FILL_QUARTERS_5)


_REPORTS = """
CREATE INDEX IF NOT EXISTS ledger_at ON ledger (at);
CREATE TABLE IF NOT EXISTS ledger_quarters (
    quarter INTEGER NOT NULL,
    kind TEXT NOT NULL,
    resolution TEXT NOT NULL,
    from_issued INTEGER NOT NULL,
    category TEXT NOT NULL,
    events INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (quarter, kind, resolution, from_issued, category)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS handovers (
    number TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    station TEXT NOT NULL,
    place TEXT NOT NULL,
    through TEXT,
    parties TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS handover_items (
    spoil_id INTEGER PRIMARY KEY REFERENCES ledger (id),
    number TEXT NOT NULL REFERENCES handovers (number),
    ledger_id INTEGER NOT NULL UNIQUE REFERENCES ledger (id)
);
CREATE INDEX IF NOT EXISTS handover_items_number ON handover_items (number);
CREATE TRIGGER IF NOT EXISTS handovers_no_update BEFORE UPDATE ON handovers
    BEGIN SELECT RAISE(ABORT, 'a berita acara is never changed'); END;
CREATE TRIGGER IF NOT EXISTS handovers_no_delete BEFORE DELETE ON handovers
    BEGIN SELECT RAISE(ABORT, 'a berita acara is never changed'); END;
CREATE TRIGGER IF NOT EXISTS handover_items_no_update BEFORE UPDATE ON handover_items
    BEGIN SELECT RAISE(ABORT, 'a berita acara is never changed'); END;
CREATE TRIGGER IF NOT EXISTS handover_items_no_delete BEFORE DELETE ON handover_items
    BEGIN SELECT RAISE(ABORT, 'a berita acara is never changed'); END;
"""


def _counts_by_priority(conn: sqlite3.Connection, station: str) -> None:
    """The kept job counts by priority too: the station page shows walk-ins waiting without counting the queue."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(queue_counts)")}
    if "priority" in columns:
        return
    conn.execute("DROP TABLE queue_counts")
    conn.execute(
        "CREATE TABLE queue_counts (station TEXT NOT NULL, state TEXT NOT NULL, priority INTEGER NOT NULL,"
        " count INTEGER NOT NULL, PRIMARY KEY (station, state, priority)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO queue_counts SELECT ?, state, priority, count(*) FROM jobs GROUP BY state, priority", (station,)
    )


def _kept_per_station(conn: sqlite3.Connection, station: str) -> None:
    """Queue counts and quarter-hour sums kept per station (the station that made each change), rebuilt from the
    jobs and the ledger themselves."""
    if "station" not in {row[1] for row in conn.execute("PRAGMA table_info(queue_counts)")}:
        conn.execute("DROP TABLE queue_counts")
        conn.execute(
            "CREATE TABLE queue_counts (station TEXT NOT NULL, state TEXT NOT NULL, count INTEGER NOT NULL,"
            " PRIMARY KEY (station, state))"
        )
        conn.execute("INSERT INTO queue_counts SELECT ?, state, count(*) FROM jobs GROUP BY state", (station,))
    if "station" not in {row[1] for row in conn.execute("PRAGMA table_info(ledger_quarters)")}:
        conn.execute("DROP TABLE ledger_quarters")
        conn.execute(
            "CREATE TABLE ledger_quarters (quarter INTEGER NOT NULL, station TEXT NOT NULL, kind TEXT NOT NULL,"
            " resolution TEXT NOT NULL, from_issued INTEGER NOT NULL, category TEXT NOT NULL, events INTEGER NOT NULL,"
            " count INTEGER NOT NULL, PRIMARY KEY (quarter, station, kind, resolution, from_issued, category))"
            " WITHOUT ROWID"
        )
        conn.execute(FILL_QUARTERS)


_STATIONS = """
CREATE INDEX IF NOT EXISTS jobs_bound ON jobs (station, state) WHERE station IS NOT NULL;
DROP INDEX IF EXISTS attempts_open;
CREATE INDEX attempts_open ON attempts (station, printer) WHERE outcome IS NULL;
CREATE TABLE IF NOT EXISTS custody_totals (
    station TEXT NOT NULL,
    place TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (station, place)
);
CREATE TABLE IF NOT EXISTS stations (
    name TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    last_heard REAL NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS ledger_transfers ON ledger (reference) WHERE kind = 'transferred';
CREATE TRIGGER IF NOT EXISTS ledger_transfer_once BEFORE INSERT ON ledger
    WHEN NEW.kind = 'transferred'
        AND EXISTS (SELECT 1 FROM ledger WHERE kind = 'transferred' AND reference = NEW.reference)
    BEGIN SELECT RAISE(ABORT, 'a transfer reference is booked once'); END;
"""


Migration = str | Callable[[sqlite3.Connection, str], None]

MIGRATIONS: list[Migration] = [
    # 1: jobs, their content and history, write-ahead attempts, the ledger, stock totals, printer pauses.
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,
        digest TEXT NOT NULL,
        priority INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        printer TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        ended_at REAL
    );
    CREATE INDEX jobs_claim ON jobs (state, priority, id);
    CREATE INDEX jobs_ended ON jobs (ended_at) WHERE ended_at IS NOT NULL;
    CREATE TABLE job_content (
        job_id INTEGER PRIMARY KEY REFERENCES jobs (id),
        front BLOB NOT NULL,
        back BLOB,
        chip BLOB,
        holder TEXT
    );
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs (id),
        at REAL NOT NULL,
        event TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        actor TEXT NOT NULL,
        printer TEXT,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX job_events_job ON job_events (job_id);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs (id),
        printer TEXT NOT NULL,
        number INTEGER NOT NULL,
        started_at REAL NOT NULL,
        cards_fed_before INTEGER,
        outcome TEXT,
        settled_at REAL,
        cards_fed_after INTEGER,
        chip_uid TEXT,
        detail TEXT
    );
    CREATE INDEX attempts_open ON attempts (printer) WHERE outcome IS NULL;
    CREATE INDEX attempts_job ON attempts (job_id);
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        count INTEGER NOT NULL,
        resolution TEXT,
        from_issued INTEGER NOT NULL DEFAULT 0,
        station TEXT NOT NULL,
        printer TEXT,
        job_id INTEGER REFERENCES jobs (id),
        attempt_id INTEGER REFERENCES attempts (id),
        chip_uid TEXT,
        category TEXT,
        detail TEXT NOT NULL DEFAULT '',
        reference TEXT,
        actor TEXT NOT NULL
    );
    CREATE INDEX ledger_kind_at ON ledger (kind, at);
    CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
    CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
    CREATE TABLE stock_totals (
        place TEXT PRIMARY KEY,
        count INTEGER NOT NULL
    );
    CREATE TABLE printers (
        name TEXT PRIMARY KEY,
        paused INTEGER NOT NULL DEFAULT 0,
        pause_reason TEXT,
        updated_at REAL NOT NULL
    );
    CREATE TABLE printer_events (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        printer TEXT NOT NULL,
        event TEXT NOT NULL,
        reason TEXT,
        actor TEXT NOT NULL
    );
    """,
    _counted_totals,
    # 3: reconciliations of each printer's card counter with the ledger, append-only like the ledger itself
    # (IF NOT EXISTS: a database rebuilt from an older version's tables may hold them already).
    """
    CREATE TABLE IF NOT EXISTS reconciliations (
        ledger_id INTEGER PRIMARY KEY REFERENCES ledger (id),
        printer TEXT NOT NULL,
        counter INTEGER NOT NULL,
        previous_counter INTEGER NOT NULL,
        consumed INTEGER NOT NULL,
        explained INTEGER NOT NULL,
        difference INTEGER NOT NULL,
        unexplained INTEGER NOT NULL,
        consumed_total INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS reconciliations_printer ON reconciliations (printer, ledger_id);
    CREATE INDEX IF NOT EXISTS ledger_adjusted_by_printer ON ledger (printer, id) WHERE kind = 'adjusted';
    CREATE TRIGGER IF NOT EXISTS reconciliations_no_update BEFORE UPDATE ON reconciliations
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS reconciliations_no_delete BEFORE DELETE ON reconciliations
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
    """,
    # 4: a delivery reference is booked once. A trigger rather than a unique index: a database written before
    # this rule may hold a reference twice, and that history stays as it was booked.
    """
    CREATE INDEX IF NOT EXISTS ledger_receipts ON ledger (reference) WHERE kind = 'received';
    CREATE TRIGGER IF NOT EXISTS ledger_receipt_once BEFORE INSERT ON ledger
        WHEN NEW.kind = 'received'
            AND EXISTS (SELECT 1 FROM ledger WHERE kind = 'received' AND reference = NEW.reference)
        BEGIN SELECT RAISE(ABORT, 'a delivery reference is booked once'); END;
    """,
    _reports,  # 5: reads by time, quarter-hour sums, berita acara
    _stations,  # 6: stations, custody, transfers
    # 7: dashboard accounts (printd-web's logins), changed in place: not ledger data.
    """
    CREATE TABLE IF NOT EXISTS accounts (
        name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'supervisor')),
        password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        language TEXT CHECK (language IN ('id', 'en')),
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        changed_at REAL NOT NULL,
        changed_by TEXT NOT NULL
    );
    """,
    # 8: one priority's jobs, newest first (the dashboard's filter), without scanning the others.
    "CREATE INDEX IF NOT EXISTS jobs_priority ON jobs (priority, id);",
    _counts_by_priority,  # 9: job counts kept by priority too
]


def migrate(conn: sqlite3.Connection, station: str) -> int:
    """Bring the database to the newest schema; returns the version it is at."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this printd ({len(MIGRATIONS)});"
            " upgrade printd or use the database it was made with"
        )
    for number in range(version, len(MIGRATIONS)):
        step = MIGRATIONS[number]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(step, str):
                for statement in _statements(step):
                    conn.execute(statement)
            else:
                step(conn, station)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    if version == 0:
        # A new file went through every step, some of which rebuild a table: leave it without their free pages.
        conn.execute("VACUUM")
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (a trigger body's inner ';' stays inside its statement)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete statement in a migration: {current.strip()[:60]}")
    return statements
