"""The SQLite store: queue order, idempotent submission, write-ahead attempts, ledger bookings."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.errors import PrintdError
from printd.jobs import JobEvent, JobState, Priority
from printd.ledger import Resolution
from printd.store import Claim, SqliteStore
from printd.store.schema import MIGRATIONS
from tests.conftest import RefusedError, assert_ledger_consistent, new_job, raw_sql

C = Counters


def printed(uid: str = "04AA") -> CardResult:
    return CardResult(Outcome.PRINTED, chip_uid=uid, counters_after=C(cards_fed=1))


def spoiled(category: SpoilCategory = SpoilCategory.PRINT_FAILED) -> CardResult:
    return CardResult(Outcome.SPOILED, category=category, detail="head error", chip_uid="04BB")


def test_pragmas_and_permissions(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_reopen_keeps_everything(tmp_path: Path, png: bytes) -> None:
    s = SqliteStore(tmp_path / "db.sqlite")
    s.receive_stock(10, "DO-1", "tester")
    s.submit(new_job("A", png), "tester")
    s.close()
    s = SqliteStore(tmp_path / "db.sqlite")
    assert s.balance().on_hand == 10
    assert s.get_job("A").state is JobState.QUEUED
    s.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    sqlite3.connect(path).execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer than this printd"):
        SqliteStore(path)


def test_priority_then_fifo(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(10, "DO-1", "t")
    for ref, prio in [
        ("b1", Priority.BACKLOG),
        ("n1", Priority.NORMAL),
        ("b2", Priority.BACKLOG),
        ("w1", Priority.WALK_IN),
        ("n2", Priority.NORMAL),
        ("w2", Priority.WALK_IN),
    ]:
        store.submit(new_job(ref, png, prio), "t")
    order = []
    while (claim := store.claim_next("p1", C(0))) is not None:
        order.append(claim.job.ref)
        store.settle_attempt(claim.attempt, printed())
    assert order == ["w1", "w2", "n1", "n2", "b1", "b2"]


def test_jobs_are_listed_by_state_and_priority(store: SqliteStore, png: bytes) -> None:
    for ref, prio in [
        ("b1", Priority.BACKLOG),
        ("w1", Priority.WALK_IN),
        ("b2", Priority.BACKLOG),
        ("n1", Priority.NORMAL),
    ]:
        store.submit(new_job(ref, png, prio), "t")
    store.transition("b2", JobEvent.HOLD, "t")
    assert [j.ref for j in store.list_jobs(priority=Priority.BACKLOG)] == ["b2", "b1"]  # newest first
    assert [j.ref for j in store.list_jobs(JobState.QUEUED, priority=Priority.BACKLOG)] == ["b1"]
    assert [j.ref for j in store.list_jobs(JobState.QUEUED)] == ["w1", "n1", "b1"]  # in the order they print
    assert store.list_jobs(JobState.HELD, priority=Priority.WALK_IN) == []
    if isinstance(store, SqliteStore):  # the newest of one priority come from its index, not a scan of every job
        plan = raw_sql(store, "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE priority = 2 ORDER BY id DESC LIMIT 5")
        assert any("jobs_priority" in str(row) for row in plan), plan


def test_waiting_jobs_are_counted_by_priority_as_they_move(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(10, "DO-1", "t")
    batch = [new_job(f"w{n}", png, Priority.WALK_IN) for n in range(3)] + [new_job("b1", png, Priority.BACKLOG)]
    store.submit_many([*batch, batch[0]], "t")  # a repeat in the batch is one job
    store.transition("b1", JobEvent.HOLD, "t")  # held still waits
    claim = store.claim_next("p1", C(0))
    assert claim is not None and claim.job.ref == "w0"
    expected = {"walk_in": 2, "normal": 0, "backlog": 1}
    assert store.backlog_by_priority() == store.backlog_by_priority_from_jobs() == expected
    assert store.overview().waiting == expected
    store.settle_attempt(claim.attempt, printed())
    store.transition("b1", JobEvent.CANCEL, "t")
    assert (
        store.backlog_by_priority()
        == store.backlog_by_priority_from_jobs()
        == {"walk_in": 2, "normal": 0, "backlog": 0}
    )


def test_submission_is_idempotent_on_ref(store: SqliteStore, png: bytes) -> None:
    first = store.submit(new_job("R1", png), "t")
    again = store.submit(new_job("R1", png), "t")
    assert not first.duplicate and again.duplicate and again.job.id == first.job.id
    with pytest.raises(PrintdError) as info:
        result = store.submit_many([new_job("R1", png + b"x")], "t")[0]
        assert isinstance(result, PrintdError)
        raise result
    assert info.value.code == "job.ref_conflict"
    assert store.queue_counts()["queued"] == 1


def test_no_claim_without_stock(store: SqliteStore, png: bytes) -> None:
    store.submit(new_job("A", png), "t")
    assert store.claim_next("p1", C(0)) is None
    store.receive_stock(1, "DO-1", "t")
    claim = store.claim_next("p1", C(0))
    assert claim is not None
    # the one blank is in flight: a second printer must not claim against it
    store.submit(new_job("B", png), "t")
    assert store.claim_next("p2", C(0)) is None


def test_write_ahead_attempt_is_committed_before_printing(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(5, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    claim = store.claim_next("p1", C(cards_fed=41))
    assert claim is not None
    # another connection sees the committed attempt
    assert raw_sql(store, "SELECT printer, cards_fed_before, outcome FROM attempts") == [("p1", 41, None)]
    assert [a.id for a in store.open_attempts("p1")] == [claim.attempt.id]


def test_each_outcome_books_the_ledger_and_moves_the_job(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(10, "DO-1", "t")
    for ref in "ABCD":
        store.submit(new_job(ref, png), "t")
    outcomes = {
        "A": [printed()],
        "B": [spoiled(), printed()],  # a spoiled job goes back to its place in the queue and prints next
        "C": [CardResult(Outcome.NOT_FED, detail="feeder empty"), printed()],
        "D": [CardResult(Outcome.UNKNOWN, detail="link lost")],
    }
    seen = []
    while (claim := store.claim_next("p1", C(0))) is not None:
        seen.append((claim.job.ref, store.settle_attempt(claim.attempt, outcomes[claim.job.ref].pop(0)).state))
    assert seen == [
        ("A", JobState.DONE),
        ("B", JobState.QUEUED),
        ("B", JobState.DONE),
        ("C", JobState.QUEUED),
        ("C", JobState.DONE),
        ("D", JobState.IN_DOUBT),
    ]
    b = store.balance()
    assert (b.issued, b.spoiled, b.in_doubt, b.on_hand) == (3, 1, 1, 5)
    assert store.get_job("B").attempts == 2 and store.get_job("C").attempts == 1
    spoils = store.spoiled_list()
    assert [(s["ref"], s["category"], s["chip_uid"]) for s in spoils] == [("B", "print_failed", "04BB")]


def test_settling_twice_is_refused(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(2, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    claim = store.claim_next("p1", C(0))
    assert claim is not None
    store.settle_attempt(claim.attempt, printed())
    with pytest.raises(PrintdError, match="already settled"):
        store.settle_attempt(claim.attempt, printed())
    assert store.balance().issued == 1


def test_max_attempts_fails_the_job(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(10, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    for _ in range(3):
        claim = store.claim_next("p1", C(0))
        assert claim is not None
        job = store.settle_attempt(claim.attempt, spoiled())
    assert job.state is JobState.FAILED and job.attempts == 3
    assert store.balance().spoiled == 3
    assert store.transition("A", JobEvent.REPRINT, "op").state is JobState.QUEUED


def test_interrupted_attempt_settles_from_the_counter(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(10, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    store.submit(new_job("B", png), "t")
    a = store.claim_next("p1", C(cards_fed=5))
    b = store.claim_next("p2", C(cards_fed=9))
    assert a is not None and b is not None
    assert store.settle_interrupted(a.attempt, 5).state is JobState.QUEUED  # counter unchanged: not fed
    assert store.settle_interrupted(b.attempt, 10).state is JobState.IN_DOUBT  # counter moved
    assert store.open_attempts() == []
    assert store.balance().in_doubt == 1


@pytest.mark.parametrize(
    ("resolution", "state", "place"),
    [
        (Resolution.ISSUED, JobState.DONE, "issued"),
        (Resolution.SPOILED, JobState.QUEUED, "spoiled"),
        (Resolution.NOT_CONSUMED, JobState.QUEUED, "on_hand"),
    ],
)
def test_resolving_in_doubt(
    store: SqliteStore, png: bytes, resolution: Resolution, state: JobState, place: str
) -> None:
    store.receive_stock(3, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    claim = store.claim_next("p1", C(0))
    assert claim is not None
    store.settle_attempt(claim.attempt, CardResult(Outcome.UNKNOWN, detail="link lost"))
    job = store.resolve("A", resolution, "operator-ana", note="looked in the hopper")
    assert job.state is state
    b = store.balance().as_dict()
    assert b["in_doubt"] == 0 and b[place] == (3 if place == "on_hand" else 1)
    with pytest.raises(PrintdError, match="not in_doubt"):
        store.resolve("A", resolution, "operator-ana")
    assert store.ledger_events()[-1]["actor"] == "operator-ana"


def _print_one(store: SqliteStore, png: bytes) -> Claim:
    """Job A printed on the first of three blanks, chip 04CC."""
    store.receive_stock(3, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    claim = store.claim_next("p1", C(0))
    assert claim is not None
    store.settle_attempt(claim.attempt, printed("04CC"))
    return claim


def test_qc_spoil_turns_issued_into_spoiled_and_requeues(store: SqliteStore, png: bytes) -> None:
    claim = _print_one(store, png)
    spoil = store.qc_spoil("A", claim.attempt.id, SpoilCategory.DAMAGED, "scratched laminate", "op")
    assert spoil.job.state is JobState.QUEUED and spoil.booked and spoil.reprint
    b = store.balance()
    assert (b.issued, b.spoiled, b.on_hand) == (0, 1, 2)
    assert store.spoiled_list(category="damaged")[0]["chip_uid"] == "04CC"
    assert [(c.attempt_id, c.fate.value, c.category) for c in store.job_cards(claim.job.id)] == [
        (claim.attempt.id, "spoiled", "damaged")
    ]


def _print_and_reprint(store: SqliteStore, png: bytes) -> tuple[int, int]:
    """Job A printed (chip 04C1), rejected at QC, printed again (chip 04C2): the attempt ids of both cards."""
    store.receive_stock(5, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    first = store.claim_next("p1", C(0))
    assert first is not None
    store.settle_attempt(first.attempt, printed("04C1"))
    store.qc_spoil("A", "04C1", SpoilCategory.DAMAGED, "scratched laminate", "op")
    second = store.claim_next("p1", C(1))
    assert second is not None
    store.settle_attempt(second.attempt, printed("04C2"))
    return first.attempt.id, second.attempt.id


def test_the_same_qc_spoil_twice_books_one_spoil(store: SqliteStore, png: bytes) -> None:
    """A retried request after an unclear reply names the first card again: the reprinted card stays issued."""
    first, second = _print_and_reprint(store, png)
    again = store.qc_spoil("A", first, SpoilCategory.DAMAGED, "scratched laminate", "op")
    assert not again.booked and not again.reprint and again.job.state is JobState.DONE
    b = store.balance()
    assert (b.issued, b.spoiled, b.on_hand) == (1, 1, 3)
    assert [(c.attempt_id, c.fate.value) for c in store.job_cards(again.job.id)] == [
        (first, "spoiled"),
        (second, "issued"),
    ]


def test_a_qc_spoil_names_a_card_of_that_job(store: SqliteStore, png: bytes) -> None:
    _, second = _print_and_reprint(store, png)
    store.submit(new_job("B", png), "t")
    for card in (second + 100, "04FF"):
        with pytest.raises(PrintdError) as info:
            store.qc_spoil("A", card, SpoilCategory.DAMAGED, "x", "op")
        assert info.value.code == "job.card_not_found"
    with pytest.raises(PrintdError) as info:
        store.qc_spoil("B", second, SpoilCategory.DAMAGED, "x", "op")  # A's card named under B
    assert info.value.code == "job.card_not_found"
    assert store.balance().spoiled == 1


def test_a_qc_spoil_of_an_earlier_card_leaves_the_job_where_it_is(store: SqliteStore, png: bytes) -> None:
    _print_and_reprint(store, png)
    store.transition("A", JobEvent.REPRINT, "op")  # the resident lost the card: a third one is due
    third = store.claim_next("p1", C(2))
    assert third is not None
    store.settle_attempt(third.attempt, printed("04C3"))
    spoil = store.qc_spoil("A", "04C2", SpoilCategory.DAMAGED, "found broken in the drawer", "op")
    assert spoil.booked and not spoil.reprint and spoil.job.state is JobState.DONE
    assert store.job_history(spoil.job.id)[-1]["event"] == "card_spoiled"
    assert (store.balance().issued, store.balance().spoiled) == (1, 2)


def test_a_card_not_issued_cannot_be_rejected_at_inspection(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(3, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    claim = store.claim_next("p1", C(0))
    assert claim is not None
    with pytest.raises(PrintdError) as info:
        store.qc_spoil("A", claim.attempt.id, SpoilCategory.DAMAGED, "x", "op")  # still in the printer
    assert info.value.code == "job.state_conflict" and "printing" in info.value.message
    store.settle_attempt(claim.attempt, CardResult(Outcome.UNKNOWN, detail="link lost"))
    with pytest.raises(PrintdError) as info:
        store.qc_spoil("A", claim.attempt.id, SpoilCategory.DAMAGED, "x", "op")
    assert info.value.code == "job.state_conflict" and "printctl resolve" in info.value.message
    assert store.balance().spoiled == 0


def test_a_card_rejected_after_the_purge_is_booked_spoiled_and_the_job_fails(store: SqliteStore, png: bytes) -> None:
    _print_one(store, png)
    assert store.purge_content(ended_before=9e18) == 1
    spoil = store.qc_spoil("A", "04CC", SpoilCategory.DAMAGED, "laminate peeled", "op")
    assert spoil.booked and not spoil.reprint and spoil.job.state is JobState.FAILED
    b = store.balance()
    assert (b.issued, b.spoiled, b.on_hand) == (0, 1, 2)
    assert store.claim_next("p1", C(1)) is None  # nothing left to print it from
    again = store.qc_spoil("A", "04CC", SpoilCategory.DAMAGED, "laminate peeled", "op")
    assert not again.booked and store.balance().spoiled == 1


def test_operator_transitions_and_refusals(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(3, "DO-1", "t")
    job = store.submit(new_job("A", png), "t").job
    assert store.transition(job.id, JobEvent.HOLD, "op").state is JobState.HELD
    assert store.claim_next("p1", C(0)) is None  # held jobs are not printed
    assert store.transition("A", JobEvent.RELEASE, "op").state is JobState.QUEUED
    claim = store.claim_next("p1", C(0))
    assert claim is not None
    with pytest.raises(PrintdError) as info:
        store.transition("A", JobEvent.CANCEL, "op")
    assert info.value.code == "job.state_conflict" and "being printed" in info.value.message
    with pytest.raises(PrintdError) as info:
        store.get_job("nope")
    assert info.value.code == "job.not_found"
    history = store.job_history(job.id)
    assert [h["event"] for h in history] == ["submit", "hold", "release", "claim"]
    assert history[1]["actor"] == "op"


@pytest.mark.parametrize("count", [0, -5])
def test_receipt_must_be_positive(store: SqliteStore, count: int) -> None:
    with pytest.raises(PrintdError) as info:
        store.receive_stock(count, "DO-1", "t")
    assert info.value.code == "stock.invalid_count"
    assert store.balance().received == 0


def test_ledger_is_append_only(store: SqliteStore) -> None:
    store.receive_stock(3, "DO-1", "t")
    with pytest.raises(RefusedError, match="append-only"):
        raw_sql(store, "UPDATE ledger SET count = 300")
    with pytest.raises(RefusedError, match="append-only"):
        raw_sql(store, "DELETE FROM ledger")
    assert store.balance_from_ledger().received == 3


def test_purge_removes_content_of_ended_jobs_only(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(3, "DO-1", "t")
    store.submit(new_job("A", png, holder="Siti Aminah"), "t")
    store.submit(new_job("B", png), "t")
    claim = store.claim_next("p1", C(0))
    assert claim is not None
    store.settle_attempt(claim.attempt, printed())
    assert store.purge_content(ended_before=9e18) == 1
    assert store.job_content(claim.job.id) is None
    assert store.job_content(store.get_job("B").id) is not None
    with pytest.raises(PrintdError) as info:
        store.transition("A", JobEvent.REPRINT, "op")
    assert info.value.code == "job.content_purged"
    assert store.get_job("A").state is JobState.DONE


def test_pauses_persist_with_their_actor(store: SqliteStore) -> None:
    store.set_printer_paused("p1", True, "cover-open-error")
    assert store.printer_pauses() == {"p1": "cover-open-error"}
    store.set_printer_paused("p1", False, None, "operator-ana")
    assert store.printer_pauses() == {}
    events = [(e["event"], e["reason"], e["actor"]) for e in store.printer_events("p1")]
    assert events == [("paused", "cover-open-error", "printd"), ("resumed", None, "operator-ana")]


def test_migration_2_backfills_the_kept_totals(tmp_path: Path, png: bytes) -> None:
    path = tmp_path / "old.db"
    s = SqliteStore(path)
    s.receive_stock(10, "DO-1", "t")
    for ref in "ABC":
        s.submit(new_job(ref, png), "t")
    outcomes = [printed(), spoiled(), CardResult(Outcome.UNKNOWN, detail="link lost")]
    for printer, outcome in zip(["p1", "p2", "p1"], outcomes, strict=True):
        claim = s.claim_next(printer, C(0))
        assert claim is not None
        s.settle_attempt(claim.attempt, outcome)
    s.close()
    conn = sqlite3.connect(path)  # the database as version 1 left it
    conn.executescript("DROP TABLE queue_counts; DROP TABLE printer_totals; PRAGMA user_version = 1;")
    conn.close()
    s = SqliteStore(path)
    assert s.queue_counts() == {
        "queued": 1,
        "printing": 0,
        "held": 0,
        "in_doubt": 1,
        "done": 1,
        "failed": 0,
        "canceled": 0,
    }
    assert s.balance_by_printer() == {
        "p1": {"issued": 1, "spoiled": 0, "in_doubt": 1},
        "p2": {"issued": 0, "spoiled": 1, "in_doubt": 0},
    }
    assert_ledger_consistent(s)
    s.close()


def test_a_supervisors_adjustment_moves_on_hand_and_keeps_the_invariant(store: SqliteStore) -> None:
    store.receive_stock(10, "DO-1", "kepala")
    store.adjust_stock(-2, "two test cards printed from the printer's menu", "kepala", printer="p1")
    store.adjust_stock(+1, "one blank found in the drawer", "kepala")
    balance = store.balance()
    assert (balance.received, balance.adjusted, balance.on_hand) == (10, -1, 9)
    events = [e for e in store.ledger_events() if e["kind"] == "adjusted"]
    assert [(e["printer"], e["actor"]) for e in events] == [("p1", "kepala"), (None, "kepala")]
    assert_ledger_consistent(store)


def test_an_adjustment_cannot_write_off_more_than_is_on_hand_or_nothing(store: SqliteStore) -> None:
    store.receive_stock(3, "DO-1", "kepala")
    with pytest.raises(PrintdError) as short:
        store.adjust_stock(-4, "miscount", "kepala")
    assert short.value.code == "stock.insufficient" and "only 3 blank(s) are on hand" in short.value.message
    with pytest.raises(PrintdError) as zero:
        store.adjust_stock(0, "nothing", "kepala")
    assert zero.value.code == "stock.invalid_count"
    assert store.balance().on_hand == 3 and not [e for e in store.ledger_events() if e["kind"] == "adjusted"]
    assert_ledger_consistent(store)


def test_a_delivery_reference_is_booked_once(store: SqliteStore) -> None:
    first = store.receive_stock(100, "DO-1", "kepala", "KTP000101-KTP000200")
    for _ in range(2):  # a retry after an unclear reply
        again = store.receive_stock(100, "DO-1", "kepala", "KTP000101-KTP000200")
        assert again.duplicate and again.event_id == first.event_id and not first.duplicate
    assert store.balance().received == 100
    assert [e["kind"] for e in store.ledger_events()] == ["received"]


@pytest.mark.parametrize(
    ("count", "serials", "code"),
    [
        (50, "KTP000101-KTP000150", "stock.ref_conflict"),  # another count under the same reference
        (100, None, "stock.ref_conflict"),
        (100, "KTP000301-KTP000400", "stock.ref_conflict"),  # same count, other blanks
    ],
)
def test_another_delivery_under_a_booked_reference_is_refused(
    store: SqliteStore, count: int, serials: str | None, code: str
) -> None:
    store.receive_stock(100, "DO-1", "kepala", "KTP000101-KTP000200")
    with pytest.raises(PrintdError) as info:
        store.receive_stock(count, "DO-1", "kepala", serials)
    assert info.value.code == code and "ledger event" in info.value.message
    assert store.balance().received == 100 and len(store.ledger_events()) == 1


@pytest.mark.parametrize(
    ("count", "serials", "code"),
    [
        (100, "KTP000151-KTP000250", "stock.serials_overlap"),
        (1, "KTP000200-KTP000200", "stock.serials_overlap"),
        (300, "KTP000001-KTP000300", "stock.serials_overlap"),  # around the first range
        (100, "KTP000201-KTP000301", "stock.serials_mismatch"),  # 101 serials for 100 blanks
        (100, "KTP000300-KTP000201", "stock.invalid_serials"),
        (100, "KTP000201-XYZ000300", "stock.invalid_serials"),
        (100, "A-B", "stock.invalid_serials"),
    ],
)
def test_serial_ranges_are_received_once_and_must_match_the_count(
    store: SqliteStore, count: int, serials: str, code: str
) -> None:
    store.receive_stock(100, "DO-1", "kepala", "KTP000101-KTP000200")
    with pytest.raises(PrintdError) as info:
        store.receive_stock(count, "DO-2", "kepala", serials)
    assert info.value.code == code
    assert store.balance().received == 100 and len(store.ledger_events()) == 1


def test_adjacent_ranges_and_other_prefixes_are_new_blanks(store: SqliteStore) -> None:
    store.receive_stock(100, "DO-1", "kepala", "KTP-2026-000101-KTP-2026-000200")
    store.receive_stock(100, "DO-2", "kepala", "KTP-2026-000201-KTP-2026-000300")
    store.receive_stock(100, "DO-3", "kepala", "KTP-2027-000101-KTP-2027-000200")
    assert store.balance().received == 300


def test_the_database_itself_refuses_a_second_receipt_under_one_reference(store: SqliteStore) -> None:
    store.receive_stock(10, "DO-1", "kepala")
    with pytest.raises(RefusedError, match=r"booked once|ledger_receipts"):
        raw_sql(
            store,
            "INSERT INTO ledger (at, kind, count, station, reference, actor)"
            " VALUES (0, 'received', 10, 's', 'DO-1', 'x')",
        )


def test_an_adjustment_cannot_write_off_a_blank_already_in_a_printer(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(1, "DO-1", "kepala")
    store.submit(new_job("A", png), "t")
    claim = store.claim_next("p1", C(0))  # the one blank on hand is being printed
    assert claim is not None
    with pytest.raises(PrintdError) as info:
        store.adjust_stock(-1, "miscount", "kepala")
    assert info.value.code == "stock.insufficient" and "1 more being printed now" in info.value.message
    store.settle_attempt(claim.attempt, printed())
    b = store.balance()
    assert (b.on_hand, b.issued, b.adjusted) == (0, 1, 0)
