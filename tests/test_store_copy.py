"""printd store copy: a station's SQLite history into PostgreSQL with every fold equal, or nothing written."""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.errors import PrintdError
from printd.jobs import JobEvent, JobState
from printd.ledger import Resolution
from printd.store import SqliteStore
from printd.store import copy as store_copy
from printd.store.core import SqlStore
from printd.store.postgres import PostgresStore
from printd.store.records import Handover, Person
from printd.store.schema import MIGRATIONS
from tests.conftest import assert_ledger_consistent, new_job
from tests.postgres import Cluster

STATION = "mataram-1"
ROOT = Path(__file__).resolve().parent.parent


class Printer:
    """A printer's card counter, moving as blanks leave its feeder."""

    def __init__(self, name: str, fed: int) -> None:
        self.name, self.fed = name, fed

    def card(self, store: SqlStore, outcome: Outcome, **result: Any) -> int:
        """Claim the next job on this printer and settle it with ``outcome``; the attempt's id."""
        claim = store.claim_next(self.name, Counters(cards_fed=self.fed))
        assert claim is not None
        self.fed += outcome is not Outcome.NOT_FED
        chip = f"04A1{claim.attempt.id:04X}"
        store.settle_attempt(
            claim.attempt, CardResult(outcome, chip_uid=chip, counters_after=Counters(cards_fed=self.fed), **result)
        )
        return claim.attempt.id


def build_history(path: Path, png: bytes) -> None:
    """A station's file after some weeks: deliveries with serials, printed, spoiled, in-doubt and resolved cards, a
    spoil at inspection, adjustments, a reconciliation, a berita acara, a paused printer and purged content."""
    store = SqliteStore(path, station=STATION)
    store.register_station(["loket-1", "loket-2"], "print-pc", 4242)
    store.receive_stock(30, "DO-2024-001", "supervisor", serials="KTP0000001-KTP0000030")
    store.receive_stock(10, "DO-2024-002", "supervisor")
    for i in range(9):
        store.submit(new_job(f"REF-{i}", png, holder=f"holder-{i}"), "operator")
    store.transition("REF-5", JobEvent.HOLD, "operator")
    store.transition("REF-6", JobEvent.CANCEL, "operator")
    one, two = Printer("loket-1", 100), Printer("loket-2", 500)
    one.card(store, Outcome.PRINTED)  # REF-0
    one.card(store, Outcome.SPOILED, category=SpoilCategory.ENCODE_FAILED, detail="chip did not answer")  # REF-1
    one.card(store, Outcome.PRINTED)  # REF-1 again
    two.card(store, Outcome.UNKNOWN, detail="link lost")  # REF-2
    two.card(store, Outcome.UNKNOWN, detail="link lost")  # REF-3, left in doubt
    store.resolve("REF-2", Resolution.ISSUED, "supervisor", "found in the output hopper")
    inspected = one.card(store, Outcome.PRINTED)  # REF-4
    store.qc_spoil("REF-4", inspected, SpoilCategory.DAMAGED, "scratched face", "operator")
    one.card(store, Outcome.PRINTED)  # REF-4 again
    store.adjust_stock(-2, "two blanks damaged in storage", "supervisor")
    store.adjust_stock(-1, "a test card from the printer's menu", "supervisor", printer="loket-1")
    store.reconcile("loket-1", one.fed + 1, "supervisor")
    officers, witnesses = [Person("Officer A", "0001", "III-c", "Head of section")], [Person("Witness B")]
    handover = Handover("BA-001", "destroyed", 0.0, "", "Office", None, officers, witnesses, [], "supervisor")
    store.book_handover(handover, None)
    one.card(store, Outcome.SPOILED, category=SpoilCategory.PRINT_FAILED, detail="ribbon broke")  # REF-7, pending
    store.set_printer_paused("loket-2", True, "cover-open-error", "printd")
    store.station_heard({"printers": 2})
    store.purge_content(time.time() + 1)
    assert_ledger_consistent(store)
    store.close()


def old_file(path: Path) -> None:
    """A station's file as printd left it at schema version 5, before stations: its ledger alone names the station."""
    at = time.time() - 86400
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for number, step in enumerate(MIGRATIONS[:5]):
            if isinstance(step, str):
                conn.executescript(step)
            else:
                step(conn, "whoever opens it")
            if number == 0:
                conn.execute(
                    "INSERT INTO jobs VALUES (1, 'OLD-1', 'digest', 1, 'done', 1, 'loket-1', ?, ?, ?)", (at, at, at)
                )
                conn.execute(
                    "INSERT INTO attempts (id, job_id, printer, number, started_at, cards_fed_before, outcome,"
                    " settled_at, cards_fed_after) VALUES (1, 1, 'loket-1', 1, ?, 7, 'printed', ?, 8)",
                    (at, at),
                )
                conn.execute(
                    "INSERT INTO ledger (at, kind, count, station, reference, actor) VALUES (?, 'received', 5, ?,"
                    " 'DO-OLD', 'supervisor')",
                    (at, STATION),
                )
                conn.execute(
                    "INSERT INTO ledger (at, kind, count, station, printer, job_id, attempt_id, actor)"
                    " VALUES (?, 'issued', 1, ?, 'loket-1', 1, 1, 'printd')",
                    (at, STATION),
                )
        conn.execute("PRAGMA user_version = 5")


END = (int(time.time() // 900) + 4) * 900
"""A quarter hour's start after every event of a test: the reports' period reads run up to it."""


def everything(store: SqlStore) -> dict[str, Any]:
    """What a store says of its history, through its own reads: jobs, cards, events, documents and every fold."""
    jobs = store.list_jobs(limit=1000)
    return {
        "folded": store.balance_from_ledger(),
        "folded_by_station": store.balance_by_station_from_ledger(),
        "folded_by_printer": store.balance_by_printer_from_ledger(),
        "counted": store.queue_counts_from_jobs(),
        "quarters": store.quarters_consistent(),
        "period": store.period_reads(0.0, END),
        "period_by_quarter": store.period_reads(0.0, END, rows=False),
        "jobs": [store.get_job(job.id) for job in jobs],
        "history": {job.id: store.job_history(job.id) for job in jobs},
        "cards": {job.id: store.job_cards(job.id) for job in jobs},
        "content": {job.id: store.job_content(job.id) for job in jobs},
        "ledger": store.ledger_events(),
        "reconciliations": store.reconciliations(),
        "handovers": [store.handover(number) for number, _ in store.handover_numbers()],
        "pending": store.pending_spoils(),
        "spoiled": store.spoiled_list(),
        "printer_events": {name: store.printer_events(name) for name in ("loket-1", "loket-2")},
        "pauses": store.printer_pauses(),
        "stations": store.stations(),
        "balance": store.balance(),
        "by_station": store.balance_by_station(),
        "by_printer": store.balance_by_printer(),
        "queue": store.queue_counts(),
        "backlog": store.backlog_by_priority(),
    }


def sqlite_everything(path: Path) -> dict[str, Any]:
    store = SqliteStore(path, station=STATION)
    try:
        return everything(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, png: bytes) -> Path:
    path = tmp_path_factory.mktemp("history") / "printd.db"
    build_history(path, png)
    return path


@pytest.fixture
def history(built: Path, tmp_path: Path) -> Path:
    """The station's file, a test's own (closed by printd: no write-ahead log beside it)."""
    assert not built.with_name(built.name + "-wal").exists()
    path = tmp_path / "printd.db"
    shutil.copyfile(built, path)
    return path


@pytest.fixture
def target(postgres: Cluster) -> str:
    return postgres.fresh_database()


NOWHERE = "postgresql://printd@/printd?host=/nonexistent"
"""A URL that parses, for refusals that come before any connection."""


@contextmanager
def opened(url: str, station: str = STATION) -> Iterator[PostgresStore]:
    store = PostgresStore(url, station=station)
    try:
        yield store
    finally:
        store.close()


def table_rows(url: str) -> dict[str, int] | None:
    """The rows of every table printd keeps in the database; None when it has no printd schema at all."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('ledger')").fetchone() == (None,):
            return None
        tables = (*store_copy.HISTORY, *store_copy.TOTALS)
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


def file_state(path: Path) -> tuple[str, list[str]]:
    """The file's bytes (hashed) and what lies beside it."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(p.name for p in path.parent.iterdir())


def refused(source: Path, url: str, **options: Any) -> PrintdError:
    with pytest.raises(PrintdError) as caught:
        store_copy.copy_station(source, url, **options)
    return caught.value


# ---- the copy ------------------------------------------------------------------------------------------------


def test_a_copy_holds_the_whole_history_with_every_fold_equal_and_the_station_prints_on(
    history: Path, target: str, png: bytes
) -> None:
    expected = sqlite_everything(history)
    before = file_state(history)
    result = store_copy.copy_station(history, target)  # the only station the file names
    assert file_state(history) == before, "the file is read, never written"
    assert result.station == STATION and result.source_version == len(MIGRATIONS)
    assert result.rows["ledger"] == len(expected["ledger"]) == 17
    assert result.balance == expected["balance"]
    with opened(target) as pg:
        found = everything(pg)
        assert found == expected
        assert_ledger_consistent(pg)
        # The station carries on where it stopped: its queue, then a new job; ids go on after the copied ones.
        new = pg.submit(new_job("REF-NEW", png), "operator").job
        printer = Printer("loket-1", 1000)
        attempts = [printer.card(pg, Outcome.PRINTED) for _ in range(pg.queue_counts()["queued"])]
        assert pg.get_job("REF-NEW").state is JobState.DONE and pg.get_job("REF-8").state is JobState.DONE
        assert new.id > max(job.id for job in found["jobs"])
        assert min(attempts) > max(card.attempt_id for cards in found["cards"].values() for card in cards)
        copied = {event["id"] for event in found["ledger"]}
        booked = [event["id"] for event in pg.ledger_events() if event["id"] not in copied]
        assert len(booked) == len(attempts) == 3 and min(booked) > max(copied)
        assert_ledger_consistent(pg)


def test_a_file_from_before_stations_is_copied_and_left_at_its_own_version(tmp_path: Path, target: str) -> None:
    path = tmp_path / "old.db"
    old_file(path)
    before = file_state(path)
    result = store_copy.copy_station(path, target)
    assert result.station == STATION and result.source_version == 5
    assert file_state(path) == before
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (5,)
    with opened(target) as pg, psycopg.connect(target) as conn:
        assert conn.execute("SELECT id, station FROM attempts").fetchall() == [(1, STATION)]
        assert pg.balance_by_station()[STATION].issued == 1 and pg.balance().on_hand == 4
        assert_ledger_consistent(pg)


def test_a_target_with_another_stations_history_past_the_files_ids_takes_the_copy_beside_it(
    history: Path, target: str, png: bytes
) -> None:
    with opened(target, "lombok-2") as other, psycopg.connect(target, autocommit=True) as conn:
        for table in store_copy.IDENTITY:
            conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 10000)", (table,))
        other.receive_stock(5, "DO-LOMBOK-1", "supervisor")
        other.submit(new_job("LOMBOK-1", png), "operator")
        Printer("loket-9", 0).card(other, Outcome.PRINTED)
        theirs = everything(other)
    expected = sqlite_everything(history)
    store_copy.copy_station(history, target)
    with opened(target) as pg:
        found = everything(pg)
        assert found["by_station"] == {**expected["by_station"], **theirs["by_station"]}
        both = {k: v + theirs["balance"].as_dict()[k] for k, v in expected["balance"].as_dict().items()}
        assert pg.balance().as_dict() == both
        assert [e for e in found["ledger"] if e["station"] == STATION] == expected["ledger"]
        assert pg.queue_counts()["done"] == expected["queue"]["done"] + 1
        assert_ledger_consistent(pg)


# ---- refusals: nothing is written ----------------------------------------------------------------------------


def test_copying_the_station_again_is_refused(history: Path, target: str) -> None:
    store_copy.copy_station(history, target)
    rows = table_rows(target)
    again = refused(history, target)
    assert again.code == "copy.station_exists" and f"station {STATION!r}" in again.message
    assert table_rows(target) == rows


@pytest.mark.parametrize(
    ("before", "code", "says"),
    [
        (lambda other, png: other.submit(new_job("REF-3", png), "operator"), "copy.ref_taken", "job reference 'REF-3'"),
        (lambda other, png: other.submit(new_job("LOMBOK-1", png), "operator"), "copy.ids_taken", "jobs id 1,"),
        (
            lambda other, png: other.receive_stock(5, "DO-2024-002", "supervisor"),
            "copy.key_taken",
            "delivery reference 'DO-2024-002'",
        ),
        (
            lambda other, png: other.set_printer_paused("loket-2", True, "cover-open-error"),
            "copy.key_taken",
            "printer name 'loket-2'",
        ),
    ],
)
def test_a_target_sharing_a_reference_a_key_or_ids_with_the_file_is_refused(
    history: Path, target: str, png: bytes, before: Any, code: str, says: str
) -> None:
    with opened(target, "lombok-2") as other:
        before(other, png)
    rows = table_rows(target)
    error = refused(history, target)
    assert error.code == code and says in error.message and "nothing was written" in error.message
    assert table_rows(target) == rows


def lose_a_job_event(pg: Any, src: Any, table: str, columns: list[str], progress: Any) -> None:
    COPY_ROWS(pg, src, table, columns, progress)
    if table == "job_events":
        pg.execute("DELETE FROM job_events WHERE id = (SELECT max(id) FROM job_events)")


def forget_the_stock(pg: Any, src: Any, table: str, keys: Any, sums: Any, progress: Any) -> None:
    if table != "stock_totals":
        ADD_TOTALS(pg, src, table, keys, sums, progress)


COPY_ROWS, ADD_TOTALS = store_copy._copy_rows, store_copy._add_totals


@pytest.mark.parametrize(
    ("step", "fault", "says"),
    [
        ("_copy_rows", lose_a_job_event, r"rows of job_events: expected (\d+), found (\d+)"),
        ("_add_totals", forget_the_stock, r"kept balance on_hand: expected ([1-9]\d*), found (0)"),
    ],
)
def test_a_copy_whose_figures_come_out_wrong_is_rolled_back_whole(
    history: Path, target: str, monkeypatch: pytest.MonkeyPatch, step: str, fault: Any, says: str
) -> None:
    monkeypatch.setattr(store_copy, step, fault)
    error = refused(history, target)
    assert error.code == "copy.mismatch" and "nothing was written" in error.message
    expected, found = map(int, re.search(says, error.message).groups())
    assert found < expected
    assert table_rows(target) is None  # not even the schema


def test_a_file_whose_kept_totals_disagree_with_its_ledger_is_not_copied(history: Path, target: str) -> None:
    with closing(sqlite3.connect(history)) as conn:
        conn.execute("UPDATE stock_totals SET count = count + 1 WHERE place = 'on_hand'")
        conn.commit()
    error = refused(history, target)
    assert error.code == "copy.source_inconsistent"
    assert f"station {STATION!r} on_hand: kept" in error.message and "balance on_hand: kept" in error.message
    assert table_rows(target) is None


def test_a_file_printd_is_running_on_is_not_copied(history: Path, target: str) -> None:
    with history.with_name(history.name + ".lock").open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the running daemon holds it
        error = refused(history, target)
    assert error.code == "copy.source_busy" and "stop it first" in error.message
    assert table_rows(target) is None
    store_copy.copy_station(history, target)  # once printd has stopped


def test_an_unreachable_target_is_a_clear_error(history: Path) -> None:
    error = refused(history, NOWHERE)
    assert error.code == "store.unreachable" and "PostgreSQL database printd on /nonexistent" in error.message


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("postgresql://printd:s3cret@db.example/printd", "config.invalid", "--to: a PostgreSQL URL must not hold"),
        ("/var/lib/printd/other.db", "copy.target_invalid", "--to must be a postgresql:// URL"),
    ],
)
def test_a_target_url_is_checked_before_anything_is_read(history: Path, url: str, code: str, says: str) -> None:
    error = refused(history, url)
    assert error.code == code and says in error.message and "s3cret" not in error.message


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda path: None, "no such file"),
        (lambda path: path.mkdir(), "a directory, not"),
        (lambda path: path.write_text("[station]\n"), "not a SQLite database"),
        (lambda path: path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000), "not a readable SQLite database"),
        (lambda path: sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit(), "not printd's"),
    ],
)
def test_a_from_path_that_is_no_printd_database_is_a_clear_error(tmp_path: Path, make: Any, says: str) -> None:
    path = tmp_path / "printd.db"
    make(path)
    error = refused(path, NOWHERE)
    assert error.code == "copy.source_invalid" and f"--from {path}: " in error.message and says in error.message


@pytest.mark.parametrize(
    ("found", "given", "configured", "chosen"),
    [
        (["a"], None, None, "a"),
        (["a", "b"], None, "b", "b"),
        (["a", "b"], "a", "b", "a"),
        ([], None, "c", "c"),
        ([], "d", None, "d"),
        (["a", "b"], None, None, "give --station"),
        (["a"], "z", None, "not 'z'"),
        (["a"], None, "z", "give --station a"),
        ([], None, None, "names no station"),
    ],
)
def test_the_station_is_the_one_given_else_configured_else_the_only_one_named(
    found: list[str], given: str | None, configured: str | None, chosen: str
) -> None:
    if " " not in chosen:
        assert store_copy.choose_station(found, given, configured, Path("printd.db")) == chosen
        return
    with pytest.raises(PrintdError) as error:
        store_copy.choose_station(found, given, configured, Path("printd.db"))
    assert error.value.code == "copy.station_unknown" and chosen in error.value.message


# ---- the command ---------------------------------------------------------------------------------------------


def printd_store_copy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printd.daemon", "store", "copy", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_the_command_copies_prints_a_summary_and_refuses_a_second_time(history: Path, target: str) -> None:
    config = history.with_name("printd.toml")
    config.write_text(f'[station]\nname = "{STATION}"\ndatabase = "{history}"\n')
    done = printd_store_copy("--from", str(history), "--to", target, "--config", str(config))  # its station's name
    assert done.returncode == 0, done.stderr
    assert f"Copied station {STATION!r} into PostgreSQL database" in done.stdout
    assert "received 40" in done.stdout and "on hand" in done.stdout
    ledger = next(line for line in done.stdout.splitlines() if line.split()[:1] == ["ledger"])
    assert int(ledger.split()[1].replace(",", "")) == table_rows(target)["ledger"]
    assert "copying ledger" in done.stderr and '"event": "store.copy_done"' in done.stderr
    again = printd_store_copy("--from", str(history), "--to", target, "--station", STATION)  # the config unread
    assert again.returncode == 1 and again.stdout == ""
    assert f"already holds station {STATION!r}" in again.stderr and "nothing was written" in again.stderr
    for run in (done, again):
        assert "holder-" not in run.stdout + run.stderr and "Traceback" not in run.stderr


def test_the_command_names_a_bad_from_path_in_one_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "printd.db"
    run = printd_store_copy("--from", str(missing), "--to", NOWHERE, "--station", STATION)
    assert run.returncode == 1 and run.stdout == ""
    assert f"printd store copy: --from {missing}: no such file" in run.stderr and "Traceback" not in run.stderr
    assert not missing.parent.exists()
