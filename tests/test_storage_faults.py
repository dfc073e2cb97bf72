"""Storage faults: a full database, a write lock held by another process, a read-only database. While one holds,
nothing is claimed or fed, status and the log say why, submissions are refused with the condition's code, and
nothing accepted is lost; when it clears, printing resumes by itself and every blank is accounted for."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from PIL import Image

from drivers.base import Card, CardResult, Counters, Outcome
from drivers.sim import make_sim_printer
from printd.errors import PrintdError
from printd.jobs import JobState
from printd.ledger import Resolution
from printd.printers import BuiltPrinter
from printd.station import Station
from printd.store import SqliteStore
from printd.store.health import Condition, StorageUnavailableError, classify
from printd.store.size_cap import ENVIRONMENT as SIZE_CAP_ENVIRONMENT
from tests.conftest import assert_ledger_consistent, card_png, new_job
from tests.daemon_harness import ROOT, DaemonProcess, SimSpec, wait_for

JOBS = 30

# A second process that takes the database's write lock and keeps it until told (a line on stdin) to let go.
LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def require_immutable_flag(directory: Path) -> None:
    """Root ignores file modes, so a read-only database is made with the immutable flag (chattr +i)."""
    probe = directory / "immutable-probe"
    probe.write_text("x")
    try:
        done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        reason = "chattr is not installed (Debian package e2fsprogs)"
    else:
        if done.returncode == 0:
            subprocess.run(["chattr", "-i", str(probe)], check=True)
            probe.unlink()
            return
        reason = f"chattr +i failed ({done.stderr.strip()}): it needs root and a file system with the immutable flag"
    probe.unlink()
    if os.environ.get("CI") == "true":
        pytest.fail(f"the read-only database test cannot run: {reason}")
    pytest.skip(reason)


class StorageFault:
    """A storage condition a test imposes on a database and lifts again (``close`` lifts it whatever happened)."""

    code = ""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.imposed = False

    def impose(self) -> None:
        self.imposed = True

    def lift(self) -> None:
        self.imposed = False

    def close(self) -> None:
        if self.imposed:
            self.lift()


class FullDatabase(StorageFault):
    """No page may be added to the database (the writer's max_page_count, through the test knob)."""

    code = "store.full"

    def __init__(self, database: Path) -> None:
        super().__init__(database)
        self.cap_file = database.with_name("max-page-count")

    def impose(self) -> None:
        self.cap_file.write_text("1")  # SQLite clamps the cap to the pages in use: nothing can grow
        super().impose()

    def lift(self) -> None:
        self.cap_file.unlink()
        super().lift()


class LockedDatabase(StorageFault):
    """Another process holds the write lock (BEGIN EXCLUSIVE)."""

    code = "store.locked"
    locker: subprocess.Popen[str] | None = None

    def impose(self) -> None:
        self.locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(self.database)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.locker.stdout is not None
        assert self.locker.stdout.readline().strip() == "locked"
        super().impose()

    def lift(self) -> None:
        assert self.locker is not None and self.locker.stdin is not None
        self.locker.stdin.write("\n")
        self.locker.stdin.close()
        assert self.locker.wait(30) == 0
        super().lift()


class ReadOnlyDatabase(StorageFault):
    """The database file and its -wal file are immutable. Never the -shm: SQLite has it mapped in memory, and a
    write to the mapping of an immutable file kills the process with SIGBUS."""

    code = "store.read_only"

    def files(self) -> list[str]:
        return [str(self.database), str(self.database) + "-wal"]

    def impose(self) -> None:
        subprocess.run(["chattr", "+i", *self.files()], check=True)
        super().impose()

    def lift(self) -> None:
        subprocess.run(["chattr", "-i", *self.files()], check=True)
        super().lift()


FAULTS: dict[str, type[StorageFault]] = {
    "full": FullDatabase,
    "locked": LockedDatabase,
    "read_only": ReadOnlyDatabase,
}


# ---- classification of real SQLite errors --------------------------------------------------------------


def _error(call: Any) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as caught:
        call()
    return caught.value


def test_sqlite_errors_are_classified_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (k TEXT UNIQUE, v BLOB)")
    db.execute("INSERT INTO t VALUES ('a', NULL)")

    db.execute("PRAGMA max_page_count = 1")
    full = classify(_error(lambda: db.execute("INSERT INTO t VALUES ('b', zeroblob(100000))")), path)
    assert full is not None and full.condition is Condition.FULL and full.sqlite_error == "SQLITE_FULL"
    assert str(path) in full.message and "df -h" in full.message and "resume by themselves" in full.message
    db.execute("PRAGMA max_page_count = 1000000")

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    db.execute("PRAGMA busy_timeout = 0")
    locked = classify(_error(lambda: db.execute("BEGIN IMMEDIATE")), path)
    assert locked is not None and locked.condition is Condition.LOCKED and "fuser -v" in locked.message
    holder.execute("ROLLBACK")

    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    read_only = classify(_error(lambda: reader.execute("INSERT INTO t VALUES ('c', NULL)")), path)
    assert read_only is not None and read_only.condition is Condition.READ_ONLY and "lsattr" in read_only.message

    # not about storage: a constraint and a bug stay what they are
    assert classify(_error(lambda: db.execute("INSERT INTO t VALUES ('a', NULL)")), path) is None
    assert classify(_error(lambda: db.execute("SELEC 1")), path) is None
    for conn in (db, holder, reader):
        conn.close()


def test_an_io_error_on_an_immutable_database_is_read_only(tmp_path: Path) -> None:
    require_immutable_flag(tmp_path)
    path = tmp_path / "t.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (v)")
    fault = ReadOnlyDatabase(path)
    fault.impose()
    try:
        error = _error(lambda: db.execute("INSERT INTO t VALUES (1)"))
        classified = classify(error, path)  # at the time of the failure, as the store does
    finally:
        fault.close()
    assert error.sqlite_errorname.startswith("SQLITE_IOERR")  # type: ignore[attr-defined]
    assert classified is not None and classified.condition is Condition.READ_ONLY
    db.execute("INSERT INTO t VALUES (2)")  # the same connection writes again once the flag is gone
    db.close()


# ---- the store: the condition, the claim gate, the probe -----------------------------------------------


def test_full_store_refuses_jobs_and_claims_until_the_probe_finds_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, png: bytes
) -> None:
    monkeypatch.setenv(SIZE_CAP_ENVIRONMENT, str(tmp_path / "max-page-count"))
    store = SqliteStore(tmp_path / "printd.db", station="test")
    try:
        store.receive_stock(10, "DO-1", "t")
        store.submit(new_job("A", png), "t")
        fault = FullDatabase(store.path)
        fault.impose()
        with pytest.raises(StorageUnavailableError) as refused:
            store.submit(new_job("B", png), "t")  # its content needs new pages: SQLite rolls the whole insert back
        assert refused.value.code == "store.full" and refused.value.details["sqlite_error"] == "SQLITE_FULL"
        assert store.health.fault is not None and store.health.fault.code == "store.full"
        # the write-ahead gate: no attempt is committed, so no blank may be fed
        assert store.claim_next("p1", Counters(0)) is None and store.open_attempts() == []
        assert [j.ref for j in store.list_jobs()] == ["A"]  # reads go on; nothing accepted is lost
        assert not store.health.wait_available(1.0)  # the probe keeps finding no room
        fault.lift()
        assert store.health.wait_available(10.0)
        claim = store.claim_next("p1", Counters(0))
        assert claim is not None and claim.job.ref == "A"
        store.settle_attempt(claim.attempt, CardResult(Outcome.PRINTED, counters_after=Counters(1)))
        assert store.submit(new_job("B", png), "t").job.state is JobState.QUEUED
        assert_ledger_consistent(store)
        assert store.balance().issued == 1
    finally:
        store.close()


# ---- the station: a condition in the middle of settle-and-claim, and a stop while an outcome is held -----


class FaultAfterCard:
    """The simulated printer's real driver; when card ``after`` comes out good, ``fault`` is imposed on the
    database, so the transaction booking that card with the next claim cannot commit."""

    def __init__(self, driver: Any, fault: StorageFault, after: int) -> None:
        self.driver = driver
        self.fault = fault
        self.after = after
        self.cards = 0
        self.imposed = threading.Event()

    def print_card(self, card: Card) -> CardResult:
        result: CardResult = self.driver.print_card(card)
        self.cards += 1
        if self.cards == self.after:
            assert result.outcome is Outcome.PRINTED
            self.fault.impose()
            self.imposed.set()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)


def _open_attempts(database: Path) -> list[int]:
    reader = sqlite3.connect(database)  # a lock holder blocks writers only; an immutable file can be read
    try:
        return [job for (job,) in reader.execute("SELECT job_id FROM attempts WHERE outcome IS NULL")]
    finally:
        reader.close()


def test_a_good_card_held_in_memory_is_booked_once_and_nothing_is_fed_meanwhile(tmp_path: Path, png: bytes) -> None:
    store = SqliteStore(tmp_path / "printd.db", station="test")
    sim = make_sim_printer("p1", cards=50, seconds_per_card=0.0)
    fault = LockedDatabase(store.path)
    driver = FaultAfterCard(sim.driver(), fault, after=3)
    station = Station(store, [BuiltPrinter("p1", driver, sim)])  # type: ignore[arg-type]
    try:
        store.receive_stock(50, "DO-1", "t")
        store.submit_many([new_job(f"J{n}", png) for n in range(8)], "t")
        station.start()
        assert driver.imposed.wait(30)
        wait_for(lambda: store.health.fault is not None, 15, "the lock to be noticed (busy timeout 5 s)")
        assert store.health.fault is not None and store.health.fault.code == "store.locked"
        view = station.worker("p1").view
        wait_for(lambda: "store.locked" in view.detail, 15, "the printer to say why it waits")
        fed = sim.model.physical_truth().cards_fed
        time.sleep(1.0)
        assert sim.model.physical_truth().cards_fed == fed == 3  # no blank fed with card 3's outcome unbooked
        assert len(_open_attempts(store.path)) == 1  # card 3: settle-and-claim rolled back, its outcome in memory

        fault.lift()
        wait_for(lambda: store.queue_counts()["done"] == 8, 30, "all 8 cards printed after the lock went")
        assert store.health.fault is None
    finally:
        fault.close()
        assert station.stop(20)
    truth = sim.model.physical_truth()
    events = store.ledger_events()
    issued_jobs = [e["job_id"] for e in events if e["kind"] == "issued"]
    assert sorted(issued_jobs) == sorted(set(issued_jobs)) and len(issued_jobs) == 8  # each card booked once
    assert not any(e["kind"] == "in_doubt" for e in events)
    assert truth.balanced and truth.cards_fed == truth.in_hopper == store.balance().issued == 8
    assert_ledger_consistent(store)
    store.close()


def test_a_stop_while_an_outcome_is_held_logs_it_and_the_next_start_settles_it(tmp_path: Path, png: bytes) -> None:
    require_immutable_flag(tmp_path)
    store = SqliteStore(tmp_path / "printd.db", station="test")
    sim = make_sim_printer("p1", cards=50, seconds_per_card=0.0)
    fault = ReadOnlyDatabase(store.path)
    driver = FaultAfterCard(sim.driver(), fault, after=2)
    station = Station(store, [BuiltPrinter("p1", driver, sim)])  # type: ignore[arg-type]
    station.worker("p1").STOP_BOOKING_SECONDS = 0.5  # how long a stop still offers the outcome to the database
    store.receive_stock(50, "DO-1", "t")
    store.submit_many([new_job(f"J{n}", png) for n in range(5)], "t")
    try:
        with structlog.testing.capture_logs() as logs:
            station.start()
            assert driver.imposed.wait(30)
            wait_for(lambda: any(e["event"] == "store.outcome_held" for e in logs), 15, "the outcome to be held")
            assert store.health.fault is not None and store.health.fault.code == "store.read_only"
            assert station.stop(20)  # the stop ends: it does not wait for storage forever
    finally:
        fault.close()
    held = [e for e in logs if e["event"] == "store.outcome_held"]
    unbooked = [e for e in logs if e["event"] == "store.outcome_unbooked"]
    assert len(held) == 1 and len(unbooked) == 1  # said once, not on every retry
    assert not any(e["event"] == "printer.loop_error" for e in logs)
    assert unbooked[0]["outcome"] == "printed" and unbooked[0]["chip_uid"]  # what the operator needs to resolve it
    job_id = int(unbooked[0]["job"])
    assert _open_attempts(store.path) == [job_id] and sim.model.physical_truth().cards_fed == 2
    store.close()

    # The next start: the attempt is settled from the printer's counter, never printed again silently.
    store = SqliteStore(tmp_path / "printd.db", station="test")
    station = Station(store, [BuiltPrinter("p1", sim.driver(), sim)])
    station.start()
    try:
        wait_for(lambda: store.queue_counts()["done"] >= 4, 30, "the other jobs printed")
        if store.get_job(job_id).state is JobState.IN_DOUBT:  # the operator resolves it from the log line
            store.resolve(job_id, Resolution.ISSUED, "operator", "outcome from the log: printed")
        wait_for(lambda: store.queue_counts()["done"] == 5, 30, "all 5 jobs done")
    finally:
        assert station.stop(20)
    truth = sim.model.physical_truth()
    assert truth.balanced and truth.cards_fed == truth.in_hopper == store.balance().issued == 5
    assert store.balance().in_doubt == 0
    assert_ledger_consistent(store)
    store.close()


# ---- the daemon: each condition end to end --------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path, [SimSpec("p1", seconds_per_card=0.05, spoil_rate=0.1, seed=7)])
    monkeypatch.setenv(SIZE_CAP_ENVIRONMENT, str(d.database.with_name("max-page-count")))
    d.start()
    yield d
    d.kill()


def _printctl(daemon: DaemonProcess, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printd.cli", "--socket", daemon.socket, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"COLUMNS": "400"},
        timeout=60,
        check=False,
    )


def _log_events(daemon: DaemonProcess) -> list[str]:
    events = []
    for line in daemon.log_path.read_text().splitlines():
        try:
            events.append(json.loads(line).get("event", ""))
        except ValueError:
            continue
    return events


@pytest.mark.parametrize("kind", list(FAULTS))
def test_storage_fault_stops_claiming_and_printing_resumes_by_itself(
    kind: str, daemon: DaemonProcess, tmp_path: Path
) -> None:
    if kind == "read_only":
        require_immutable_flag(tmp_path)
    face = tmp_path / "face.png"
    face.write_bytes(card_png("FAULT"))
    late_face = tmp_path / "late-face.png"  # noise compresses badly: this job's content needs new pages
    Image.frombytes("L", (400, 400), random.Random(1).randbytes(160_000)).save(late_face)
    client = daemon.client()

    def status() -> dict[str, Any]:
        reply = client.call("status", {})
        assert isinstance(reply, dict)
        return reply

    def fed() -> int:
        return daemon.physical_truth("p1")[0].cards_fed

    client.call("stock.receive", {"count": 500, "ref": "DO-1"})
    jobs = [{"ref": f"job-{n}", "front": str(face)} for n in range(JOBS)]
    reply = client.call("jobs.submit_batch", {"jobs": jobs})
    assert isinstance(reply, dict) and len(reply["accepted"]) == JOBS
    wait_for(lambda: fed() >= 3, 30, "printing to start")

    fault = FAULTS[kind](daemon.database)
    fault.impose()
    try:
        # a new job: refused with the condition's code, whether this write meets it first or a printer's did
        with pytest.raises(PrintdError) as refused:
            client.call("jobs.submit", {"job": {"ref": "late-1", "front": str(late_face)}})
        assert refused.value.code == fault.code and "not accepted" in refused.value.message
        wait_for(lambda: status()["storage"].get("code") == fault.code, 15, f"status to show {fault.code}")
        # The printer says so once its worker is between cards, waiting (with a lock, after its own write has
        # waited out the busy timeout); from then on nothing may be claimed or fed.
        wait_for(lambda: fault.code in status()["printers"][0]["detail"], 15, "the printer to say why it waits")
        before = fed(), status()["queue"]
        time.sleep(1.5)
        during = status()
        assert (fed(), during["queue"]) == before  # nothing claimed, nothing fed
        assert during["queue"]["queued"] > 0 and not during["storage"]["available"]
        assert str(daemon.database) in during["storage"]["message"]

        shown = _printctl(daemon, "status")
        assert shown.returncode == 0 and f"[{fault.code}]" in shown.stdout and "Storage failing" in shown.stdout
        job_file = tmp_path / "late-2.json"
        job_file.write_text(json.dumps({"ref": "late-2", "front": str(face)}))
        submitted = _printctl(daemon, "submit", str(job_file))
        assert submitted.returncode == 1 and f"[{fault.code}]" in submitted.stderr

        listed = client.call("jobs.list", {"limit": 1000})  # reads go on; every accepted job is still there
        assert isinstance(listed, list) and sorted(j["ref"] for j in listed) == sorted(j["ref"] for j in jobs)
        fault.lift()
    finally:
        fault.close()

    wait_for(lambda: status()["storage"]["available"], 15, "the probe to find the database writable")
    accepted = client.call("jobs.submit", {"job": {"ref": "late-1", "front": str(late_face)}})
    assert isinstance(accepted, dict) and accepted["state"] == "queued"
    total = JOBS + 1
    wait_for(lambda: status()["queue"]["done"] == total, 90, f"all {total} jobs printed", interval=0.25)
    final = status()
    assert final["queue"]["in_doubt"] == 0 and final["queue"]["failed"] == 0
    stock = client.call("stock.summary", {})
    assert isinstance(stock, dict)
    client.close()
    assert daemon.stop() == 0

    events = _log_events(daemon)
    assert events.count("store.unavailable") == 1 and events.count("store.recovered") == 1  # not once a retry
    truth, _ = daemon.physical_truth("p1")
    assert truth.balanced and truth.in_printer == 0
    assert stock["issued"] == total == truth.in_hopper
    assert stock["spoiled"] == truth.in_reject_box > 0
    assert stock["in_doubt"] == 0 and stock["on_hand"] == 500 - truth.cards_fed
    store = daemon.open_store()
    assert_ledger_consistent(store)
    store.close()
