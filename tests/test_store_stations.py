"""The store contract for several stations sharing one database, over both engines.

A job bound to a station is printed by that station's printers only; blanks are in one station's custody and
move between stations by transfers booked once; each station settles its own attempts at start-up; stations
printing one queue at once never claim a job twice; a printer name belongs to one running station; and, on
PostgreSQL, a station is woken when work it may print arrives.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import pytest

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.errors import PrintdError
from printd.jobs import JobState, Priority
from printd.ledger import Balance, Resolution
from printd.store import Claim, JobContent, NewJob, SqliteStore, Store
from printd.store import postgres as postgres_engine
from printd.store.engines import open_store
from printd.store.postgres import PostgresStore
from printd.store.records import Handover
from printd.store.stations import ALIVE_SECONDS
from tests.conftest import assert_ledger_consistent, raw_sql
from tests.postgres import Cluster

C = Counters
OpenStation = Callable[..., Store]
"""``open_station(name, printers=())``: another station on the same database, registered as a daemon does."""


class Stations:
    """More stations on one database (a SQLite file, a PostgreSQL database), each opened as a daemon opens it."""

    def __init__(self, database: str | Path) -> None:
        self.database = database
        self.opened: list[Store] = []

    def open(self, name: str, printers: Sequence[str] = ()) -> Store:
        station = open_store(self.database, station=name, max_attempts=3)
        self.opened.append(station)
        station.register_station(list(printers), f"{name}-pc", 4000 + len(self.opened))
        return station

    def close(self, *, check: bool) -> None:
        try:
            for station in self.opened if check else ():
                assert_ledger_consistent(station)
        finally:
            for station in self.opened:
                station.close()


def database_of(store: Store) -> str | Path:
    if isinstance(store, PostgresStore):
        return store.url
    assert isinstance(store, SqliteStore)
    return store.path


@pytest.fixture
def open_station(store: Store) -> Iterator[OpenStation]:
    """Opens more stations on ``store``'s database; each is held to the ledger's invariant, per station too."""
    stations = Stations(database_of(store))
    yield stations.open
    stations.close(check=True)


def job(ref: str, png: bytes, priority: Priority = Priority.NORMAL, station: str | None = None) -> NewJob:
    return NewJob(ref=ref, priority=priority, content=JobContent(front=png), station=station)


def printed() -> CardResult:
    return CardResult(Outcome.PRINTED, counters_after=C(cards_fed=1))


def print_all(station: Store, printer: str) -> list[str]:
    """Print every job ``station``'s printer may take, in the order it takes them."""
    refs = []
    while (claim := station.claim_next(printer, C(0))) is not None:
        refs.append(claim.job.ref)
        station.settle_attempt(claim.attempt, printed())
    return refs


def refused(call: Callable[[], object]) -> PrintdError:
    with pytest.raises(PrintdError) as info:
        call()
    return info.value


def assert_balances(store: Store, per_station: dict[str, Balance], total: Balance) -> None:
    """Each station's custody and the whole queue hold exactly these numbers, and each keeps the invariant."""
    assert store.balance_by_station() == per_station
    assert store.balance_by_station_from_ledger() == per_station
    assert store.balance() == total
    for balance in (*per_station.values(), total):
        balance.check()


# ---- jobs bound to a station ------------------------------------------------------------------------------


def test_a_bound_job_is_printed_by_its_station_only_in_priority_then_fifo_order(
    store: Store, open_station: OpenStation, png: bytes
) -> None:
    van = open_station("van")
    store.receive_stock(10, "DO-T", "t")
    van.receive_stock(10, "DO-V", "t")
    for ref, priority, station in [
        ("van-walk", Priority.WALK_IN, "van"),
        ("any-backlog", Priority.BACKLOG, None),
        ("test-normal", Priority.NORMAL, "test"),
        ("van-normal", Priority.NORMAL, "van"),
        ("any-walk", Priority.WALK_IN, None),
        ("any-normal", Priority.NORMAL, None),
        ("test-walk", Priority.WALK_IN, "test"),
    ]:
        store.submit(job(ref, png, priority, station), "t")
    assert [j.ref for j in van.list_jobs(JobState.QUEUED, station="van")] == ["van-walk", "van-normal"]
    assert [j.ref for j in store.list_jobs(station="test")] == ["test-walk", "test-normal"]
    assert {j.station for j in store.list_jobs(station="van")} == {"van"}

    # the van's walk-in waits at the head of the queue, yet the counter's printer passes over it
    assert print_all(store, "p1") == ["any-walk", "test-walk", "test-normal", "any-normal", "any-backlog"]
    assert [j.ref for j in store.list_jobs(JobState.QUEUED)] == ["van-walk", "van-normal"]
    assert print_all(van, "v1") == ["van-walk", "van-normal"]

    # an unbound job is the van's as much as the counter's; the counter's own job is not the van's
    store.submit(job("any-late", png), "t")
    store.submit(job("test-late", png, Priority.WALK_IN, "test"), "t")
    assert print_all(van, "v1") == ["any-late"]
    assert print_all(store, "p1") == ["test-late"]
    assert store.list_jobs(JobState.QUEUED) == []
    printers = {j.ref: j.printer for j in store.list_jobs(JobState.DONE)}
    assert {ref for ref, printer in printers.items() if printer == "v1"} == {"van-walk", "van-normal", "any-late"}


def test_a_reference_is_one_job_whichever_station_it_is_bound_to(
    store: Store, open_station: OpenStation, png: bytes
) -> None:
    van = open_station("van")
    store.register_station([], "counter-pc", 101)
    first = store.submit(job("R1", png, station="van"), "t")
    again = van.submit(job("R1", png, station="van"), "t")
    assert again.duplicate and again.job.id == first.job.id and again.job.station == "van"
    store.submit(job("R2", png), "t")
    for ref, station in [("R1", None), ("R1", "test"), ("R2", "van")]:
        assert refused(lambda: van.submit(job(ref, png, station=station), "t")).code == "job.ref_conflict"  # noqa: B023
    assert refused(lambda: van.submit(job("R3", png, station="nowhere"), "t")).code == "station.not_found"
    assert store.queue_counts()["queued"] == 2
    assert [(j.ref, j.station) for j in store.list_jobs()] == [("R2", None), ("R1", "van")]


# ---- custody of blanks ------------------------------------------------------------------------------------


def test_blanks_are_claimed_and_moved_only_from_the_custody_they_are_in(
    store: Store, open_station: OpenStation, png: bytes
) -> None:
    van = open_station("van", ["v1", "v2"])
    store.register_station(["p1"], "counter-pc", 101)
    store.receive_stock(10, "DO-1", "t")
    assert_balances(store, {"test": Balance(received=10, on_hand=10)}, Balance(received=10, on_hand=10))
    store.submit(job("V1", png, station="van"), "t")
    store.submit(job("A1", png), "t")
    assert van.claim_next("v1", C(0)) is None  # ten blanks on hand, none of them in the van's custody
    counter_card = store.claim_next("p1", C(0))
    assert counter_card is not None and counter_card.job.ref == "A1"

    # one of the counter's ten blanks is in its printer now: nine are free to move
    ledger_before = store.ledger_events()
    error = refused(lambda: store.transfer_stock(10, "van", "TR-1", "sup"))
    assert error.code == "stock.insufficient"
    assert error.details == {"available": 9, "in_flight": 1}
    assert store.ledger_events() == ledger_before and store.transfers() == []
    assert store.balance_by_station() == {"test": Balance(received=10, on_hand=10)}

    moved = store.transfer_stock(4, "van", "TR-1", "sup")
    assert (moved.count, moved.source, moved.to, moved.reference, moved.actor) == (4, "test", "van", "TR-1", "sup")
    # the same transfer asked again, by either station, is the one booked
    assert not moved.duplicate
    assert store.transfer_stock(4, "van", "TR-1", "sup") == dataclasses.replace(moved, duplicate=True)
    assert van.transfer_stock(4, "van", "TR-1", "sup", source="test") == dataclasses.replace(moved, duplicate=True)
    assert refused(lambda: store.transfer_stock(1, "van", "TR-3", "sup", source="bus")).code == "station.not_found"
    assert refused(lambda: store.transfer_stock(5, "van", "TR-1", "sup")).code == "stock.ref_conflict"
    assert refused(lambda: store.transfer_stock(4, "test", "TR-1", "sup", source="van")).code == "stock.ref_conflict"
    assert refused(lambda: store.transfer_stock(1, "nowhere", "TR-2", "sup")).code == "station.not_found"
    assert refused(lambda: store.transfer_stock(1, "test", "TR-2", "sup")).code == "stock.transfer_same_station"
    assert refused(lambda: store.transfer_stock(0, "van", "TR-2", "sup")).code == "stock.invalid_count"
    assert store.transfers() == [moved]

    # the van prints from its four; with one in a printer, its other printer takes none of the counter's
    van_card = van.claim_next("v1", C(0))
    assert van_card is not None and van_card.job.ref == "V1"
    store.submit(job("V2", png, station="van"), "t")
    second = van.claim_next("v2", C(0))
    assert second is not None and second.job.ref == "V2"
    van.settle_attempt(van_card.attempt, printed())
    van.settle_attempt(second.attempt, printed())
    store.settle_attempt(counter_card.attempt, printed())

    # a supervisor at the counter brings blanks back from the van: its two, not three
    error = refused(lambda: store.transfer_stock(3, "test", "TR-2", "sup", source="van"))
    assert (error.code, error.details) == ("stock.insufficient", {"available": 2, "in_flight": 0})
    back = store.transfer_stock(2, "test", "TR-2", "sup", source="van")
    assert (back.count, back.source, back.to, back.actor) == (2, "van", "test", "sup")
    assert store.transfers() == [back, moved]
    store.submit(job("V3", png, station="van"), "t")
    assert van.claim_next("v1", C(0)) is None  # the van is empty, the counter holds seven

    assert_balances(
        store,
        {
            "test": Balance(received=10, transferred_in=2, transferred_out=4, on_hand=7, issued=1),
            "van": Balance(transferred_in=4, transferred_out=2, on_hand=0, issued=2),
        },
        Balance(received=10, transferred_in=6, transferred_out=6, on_hand=7, issued=3),
    )
    assert {s.name: s.on_hand for s in store.stations()} == {"test": 7, "van": 0}


def test_a_supervisors_adjustment_changes_only_the_own_custody(store: Store, open_station: OpenStation) -> None:
    van = open_station("van")
    store.receive_stock(5, "DO-1", "t")
    error = refused(lambda: van.adjust_stock(-1, "miscount", "sup"))
    assert (error.code, error.details) == ("stock.insufficient", {"available": 0, "in_flight": 0})
    van.adjust_stock(2, "found in the van", "sup")
    store.adjust_stock(-1, "miscount", "sup")
    assert_balances(
        store,
        {"test": Balance(received=5, adjusted=-1, on_hand=4), "van": Balance(adjusted=2, on_hand=2)},
        Balance(received=5, adjusted=1, on_hand=6),
    )


# ---- start-up settlement ----------------------------------------------------------------------------------


def test_each_station_settles_its_own_attempts_at_start_up(store: Store, open_station: OpenStation, png: bytes) -> None:
    van = open_station("van")
    store.receive_stock(2, "DO-T", "t")
    van.receive_stock(2, "DO-V", "t")
    store.submit(job("A", png), "t")
    store.submit(job("B", png), "t")
    mine = store.claim_next("p1", C(cards_fed=7))
    theirs = van.claim_next("v1", C(cards_fed=30))
    assert mine is not None and theirs is not None
    assert store.open_attempts() == [mine.attempt] and van.open_attempts() == [theirs.attempt]
    assert store.open_attempts("v1") == [] and van.open_attempts("p1") == []

    # the counter restarts: its printer's counter moved, so its card is in doubt, in its own custody
    assert store.settle_interrupted(mine.attempt, 8).state is JobState.IN_DOUBT
    assert store.open_attempts() == [] and van.open_attempts() == [theirs.attempt]
    assert store.get_job(theirs.job.id).state is JobState.PRINTING
    assert store.balance_by_station() == {
        "test": Balance(received=2, on_hand=1, in_doubt=1),
        "van": Balance(received=2, on_hand=2),
    }
    # the van restarts: its counter did not move, so no blank was fed
    assert van.settle_interrupted(theirs.attempt, 30).state is JobState.QUEUED
    assert van.open_attempts() == []
    assert_balances(
        store,
        {"test": Balance(received=2, on_hand=1, in_doubt=1), "van": Balance(received=2, on_hand=2)},
        Balance(received=4, on_hand=3, in_doubt=1),
    )


def card_in_doubt_and_card_issued(counter: Store, van: Store, png: bytes) -> tuple[int, int]:
    """The van's printer leaves one card in doubt and prints another, from three blanks of each station's own:
    the attempt ids of the two cards."""
    counter.receive_stock(3, "DO-T", "t")
    van.receive_stock(3, "DO-V", "t")
    cards: list[int] = []
    for ref, outcome in [("V1", Outcome.UNKNOWN), ("V2", Outcome.PRINTED)]:
        counter.submit(job(ref, png, station="van"), "t")
        claim = van.claim_next("v1", C(cards_fed=len(cards)))
        assert claim is not None and claim.job.ref == ref
        van.settle_attempt(claim.attempt, CardResult(outcome, detail="cut off", counters_after=C(len(cards) + 1)))
        cards.append(claim.attempt.id)
    return cards[0], cards[1]


def test_a_card_in_doubt_resolved_at_another_station_is_booked_in_the_custody_that_fed_it(
    store: Store, open_station: OpenStation, png: bytes
) -> None:
    """Jobs are one queue: an operator at the counter may settle a card the van left in doubt."""
    counter, van = store, open_station("van", ["v1"])
    card_in_doubt_and_card_issued(counter, van, png)
    counter.resolve("V1", Resolution.ISSUED, "operator")
    assert_balances(
        counter,
        {"test": Balance(received=3, on_hand=3), "van": Balance(received=3, on_hand=1, issued=2)},
        Balance(received=6, on_hand=4, issued=2),
    )


def test_a_card_rejected_at_another_station_is_booked_in_the_custody_that_fed_it(
    store: Store, open_station: OpenStation, png: bytes
) -> None:
    counter, van = store, open_station("van", ["v1"])
    _, issued = card_in_doubt_and_card_issued(counter, van, png)
    counter.qc_spoil("V2", issued, SpoilCategory.DAMAGED, "scratched", "operator")
    assert_balances(
        counter,
        {"test": Balance(received=3, on_hand=3), "van": Balance(received=3, on_hand=1, spoiled=1, in_doubt=1)},
        Balance(received=6, on_hand=4, spoiled=1, in_doubt=1),
    )


def test_a_station_cannot_settle_another_stations_card(store: Store, open_station: OpenStation, png: bytes) -> None:
    counter, van = store, open_station("van", ["v1"])
    counter.receive_stock(1, "DO-T", "t")
    van.receive_stock(1, "DO-V", "t")
    counter.submit(job("V1", png, station="van"), "t")
    claim = van.claim_next("v1", C(0))
    assert claim is not None
    events = counter.ledger_events()
    with pytest.raises(PrintdError):
        counter.settle_attempt(claim.attempt, printed())
    assert counter.ledger_events() == events
    assert van.open_attempts() == [claim.attempt]


def test_a_handover_books_each_blank_leaving_in_the_custody_it_was_spoiled_in(
    store: Store, open_station: OpenStation, png: bytes
) -> None:
    """One berita acara takes the office's spoiled blanks, the van's too: each leaves the custody it was in."""
    van = open_station("van", ["v1"])
    van.receive_stock(2, "DO-V", "t")
    store.receive_stock(2, "DO-T", "t")
    for station, printer in [(van, "v1"), (store, "p1")]:
        station.submit(job(f"S-{printer}", png, station=station.station), "t")
        claim = station.claim_next(printer, C(0))
        assert claim is not None
        station.settle_attempt(claim.attempt, CardResult(Outcome.SPOILED, SpoilCategory.PRINT_FAILED, "x"))
    done = store.book_handover(Handover("BA-1", "destroyed", 0.0, "", "Mataram", None, [], [], [], "supervisor"), None)
    assert sorted(item.station for item in done.items) == ["test", "van"]
    assert_balances(
        store,
        {
            "test": Balance(received=2, on_hand=1, spoiled=1, destroyed=1),
            "van": Balance(received=2, on_hand=1, spoiled=1, destroyed=1),
        },
        Balance(received=4, on_hand=2, spoiled=2, destroyed=2),
    )


# ---- stations printing one queue at once ------------------------------------------------------------------

JOBS = 300
PRINTERS_PER_STATION = 3
DEADLINE_SECONDS = 60.0


class InHand:
    """The jobs whose card some printer holds now, across every thread: a job claimed while held is a double claim."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, str] = {}
        self.double_claims: list[tuple[int, str, str]] = []

    def take(self, claim: Claim | None, printer: str) -> None:
        if claim is None:
            return
        with self._lock:
            holder = self._held.setdefault(claim.job.id, printer)
            if holder != printer:
                self.double_claims.append((claim.job.id, holder, printer))

    def put_down(self, claim: Claim) -> None:
        with self._lock:
            del self._held[claim.job.id]


def keep_printing(station: Store, printer: str, one_transaction: bool, in_hand: InHand, stop: threading.Event) -> int:
    """A printer's worker: claim, print, settle (``one_transaction``: settle and claim the next at once) until
    stopped; returns how many cards it printed."""
    cards = 0
    claim: Claim | None = None
    while not stop.is_set():
        if claim is None:
            claim = station.claim_next(printer, None)
            in_hand.take(claim, printer)
            if claim is None:
                time.sleep(0.005)
                continue
        done = claim
        if one_transaction:
            _, claim = station.settle_and_claim(done.attempt, printed(), None)
        else:
            station.settle_attempt(done.attempt, printed())
            claim = None
        cards += 1
        in_hand.put_down(done)
        in_hand.take(claim, printer)
    return cards


def keep_the_van_stocked(counter: Store, stop: threading.Event) -> None:
    """A supervisor tops up the van from the counter a few blanks at a time, whenever its printers may hold every
    blank it has: the van's printers claim at the very edge of its custody all along."""
    number = 0
    while not stop.is_set():
        if counter.balance_by_station()["van"].on_hand <= PRINTERS_PER_STATION:
            try:
                counter.transfer_stock(PRINTERS_PER_STATION, "van", f"TR-{number}", "supervisor")
                number += 1
            except PrintdError as exc:
                assert exc.code == "stock.insufficient"
        time.sleep(0.01)


def claims_beyond_custody(store: Store, station: str) -> list[int]:
    """The claims of ``station`` (each card printed, so each took a blank for good) that took more blanks than its
    custody had been given when the claim began: by the claims' rank, against the receipts and transfers booked
    before it. A claim waits for a transfer into its custody to commit, so such a transfer's time is earlier."""
    supply = cast(
        "list[tuple[float, int]]",
        raw_sql(
            store,
            f"SELECT at, CASE WHEN kind = 'transferred' AND station = '{station}' THEN -count ELSE count END"
            f" FROM ledger WHERE (station = '{station}' AND kind IN ('received', 'adjusted', 'transferred'))"
            f" OR (kind = 'transferred' AND to_station = '{station}')",
        ),
    )
    starts = raw_sql(store, f"SELECT started_at FROM attempts WHERE station = '{station}' ORDER BY started_at")
    return [
        rank
        for rank, (started,) in enumerate(cast("list[tuple[float]]", starts), 1)
        if rank > sum(change for at, change in supply if at < started)
    ]


def test_stations_printing_one_queue_at_once_print_each_job_once(
    store: Store, open_station: OpenStation, png: bytes
) -> None:
    """Two stations of three printers each, and transfers between them, on one queue: every job is claimed by
    one printer once and printed on one blank, bound jobs by their own station, and each custody adds up."""
    names = {name: [f"{name}-{i}" for i in range(PRINTERS_PER_STATION)] for name in ("test", "van")}
    van = open_station("van", names["van"])
    store.register_station(names["test"], "counter-pc", 101)
    store.receive_stock(400, "DO-T", "t")
    van.receive_stock(PRINTERS_PER_STATION, "DO-V", "t")
    bound_to = {0: "test", 1: "van"}
    store.submit_many(
        [job(f"J{i}", png, Priority(i % 3), bound_to.get(i % 6)) for i in range(JOBS)],
        "t",
    )
    in_hand, stop = InHand(), threading.Event()
    printers = [(s, printer, i % 2 == 1) for s in (store, van) for i, printer in enumerate(names[s.station])]
    with ThreadPoolExecutor(len(printers) + 1) as pool:
        workers = [pool.submit(keep_printing, *printer, in_hand, stop) for printer in printers]
        mover = pool.submit(keep_the_van_stocked, store, stop)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while store.queue_counts()["done"] < JOBS and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        printed_per_printer = [w.result() for w in workers]
        mover.result()

    assert in_hand.double_claims == []
    assert store.queue_counts() == {**dict.fromkeys(store.queue_counts(), 0), "done": JOBS}
    assert sum(printed_per_printer) == JOBS
    # one attempt a job, each printed; one issued blank a job; a bound job printed by its station
    assert raw_sql(
        store, "SELECT count(*), count(DISTINCT job_id), sum(CASE WHEN outcome = 'printed' THEN 1 END) FROM attempts"
    ) == [(JOBS, JOBS, JOBS)]
    assert raw_sql(store, "SELECT count(*), count(DISTINCT job_id) FROM ledger WHERE kind = 'issued'") == [(JOBS, JOBS)]
    elsewhere = "SELECT count(*) FROM jobs j JOIN attempts a ON a.job_id = j.id WHERE j.station <> a.station"
    assert raw_sql(store, elsewhere) == [(0,)]
    issued = dict(
        cast("list[tuple[str, int]]", raw_sql(store, "SELECT station, count(*) FROM attempts GROUP BY station"))
    )
    assert issued["test"] >= JOBS // 6 and issued["van"] >= JOBS // 6
    assert claims_beyond_custody(store, "test") == [] and claims_beyond_custody(store, "van") == []
    moved = sum(t.count for t in store.transfers(limit=1000))
    van_received = PRINTERS_PER_STATION
    assert_balances(
        store,
        {
            "test": Balance(
                received=400, transferred_out=moved, on_hand=400 - moved - issued["test"], issued=issued["test"]
            ),
            "van": Balance(
                received=van_received,
                transferred_in=moved,
                on_hand=van_received + moved - issued["van"],
                issued=issued["van"],
            ),
        },
        Balance(
            received=400 + van_received,
            transferred_in=moved,
            transferred_out=moved,
            on_hand=400 + van_received - JOBS,
            issued=JOBS,
        ),
    )


# ---- the stations' registry -------------------------------------------------------------------------------


def age(store: Store, station: str, seconds: float) -> None:
    """Make ``station`` last heard ``seconds`` longer ago."""
    raw_sql(store, f"UPDATE stations SET last_heard = last_heard - {seconds} WHERE name = '{station}'")


def test_a_printer_name_belongs_to_one_running_station(store: Store, open_station: OpenStation, png: bytes) -> None:
    store.register_station(["p1", "p2"], "counter-pc", 101)
    van = open_station("van", ["v1"])
    error = refused(lambda: van.register_station(["v2", "p1"], "van-pc", 202))
    assert error.code == "station.printer_taken"
    owners = "SELECT name, station FROM printers ORDER BY name"
    assert raw_sql(store, owners) == [("p1", "test"), ("p2", "test"), ("v1", "van")]  # v2 not taken either

    # the counter stops with a card of p1 unsettled
    store.receive_stock(5, "DO-1", "t")
    store.submit(job("A", png), "t")
    card = store.claim_next("p1", C(cards_fed=3))
    assert card is not None
    age(store, "test", ALIVE_SECONDS - 5)
    assert refused(lambda: van.register_station(["p2"], "van-pc", 202)).code == "station.printer_taken"  # alive
    age(store, "test", 10)
    # gone now: its idle printer may go to the van, the one with its card unsettled may not
    assert refused(lambda: van.register_station(["p1"], "van-pc", 202)).code == "station.printer_taken"
    van.register_station(["v1", "p2"], "van-pc", 202)
    store.settle_interrupted(card.attempt, 4)
    van.register_station(["v1", "p1", "p2"], "van-pc", 202)
    assert raw_sql(store, owners) == [("p1", "van"), ("p2", "van"), ("v1", "van")]
    # the van is running: the counter cannot take them back
    assert refused(lambda: store.register_station(["p1"], "counter-pc", 303)).code == "station.printer_taken"

    views = {view.name: view for view in store.stations()}
    assert [(v.name, v.host, v.pid, v.on_hand, v.in_doubt) for v in views.values()] == [
        ("test", "counter-pc", 101, 4, 1),
        ("van", "van-pc", 202, 0, 0),
    ]
    assert time.time() - views["test"].last_heard > ALIVE_SECONDS
    store.station_heard({"printers": {"p1": "in_doubt"}})
    van.station_heard({"printers": {"v1": "idle"}, "queued": 0})
    now = time.time()
    views = {view.name: view for view in van.stations()}
    assert views["test"].summary == {"printers": {"p1": "in_doubt"}}
    assert views["van"].summary == {"printers": {"v1": "idle"}, "queued": 0}
    assert all(now - 5 < view.last_heard <= now for view in views.values())
    assert views["van"].as_dict(now)["queued"] == 0 and views["test"].as_dict(now)["in_doubt"] == 1


# ---- waking a station (PostgreSQL) ------------------------------------------------------------------------


class Wakes:
    """A ``wake`` callback that counts its calls."""

    def __init__(self) -> None:
        self.count = 0
        self._event = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """True if woken within ``timeout`` seconds (since the last wait)."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken


LISTENER = (
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'printd' AND query LIKE 'LISTEN%'"
    " AND datname = current_database()"
)


def test_a_station_is_woken_by_work_it_may_print(
    monkeypatch: pytest.MonkeyPatch, store: Store, open_station: OpenStation, png: bytes
) -> None:
    if isinstance(store, SqliteStore):
        pytest.skip("SQLite has one process per file: nothing else makes work for it (watch_queue is a no-op)")
    # the listener looks this often whether its store is closing (taken first, so it holds until the store closes)
    monkeypatch.setattr(postgres_engine, "LISTEN_POLL_SECONDS", 0.2)
    store.register_station(["p1"], "counter-pc", 101)
    other, wakes = open_station("other"), Wakes()
    open_station("van")  # a third station, known to the others
    store.watch_queue(wakes)
    assert wakes.wait(5) and wakes.count == 1  # once listening: work may have come before

    other.submit(job("any", png), "t")
    assert wakes.wait(1)
    other.submit(job("for-the-van", png, station="van"), "t")
    other.submit(job("for-the-other", png, station="other"), "t")
    other.receive_stock(5, "DO-O", "t")
    assert not wakes.wait(1)  # other stations' work and blanks
    other.submit(job("for-the-counter", png, station="test"), "t")
    assert wakes.wait(1)
    store.receive_stock(3, "DO-T", "t")
    assert wakes.wait(1)
    other.transfer_stock(2, "test", "TR-1", "t")
    assert wakes.wait(1)

    # the server drops the listener's connection: it listens again, and wakes once for what it may have missed
    (listener,) = raw_sql(store, LISTENER)
    before = wakes.count
    assert raw_sql(store, f"SELECT pg_terminate_backend({listener[0]})") == [(True,)]
    assert wakes.wait(5)
    time.sleep(0.5)
    assert wakes.count == before + 1
    (again,) = raw_sql(store, LISTENER)
    assert again != listener
    other.submit(job("any-later", png), "t")
    assert wakes.wait(1)


def test_one_process_runs_a_station_on_a_shared_database(postgres: Cluster) -> None:
    """A second printd started as the same station (a copied configuration on another PC) is refused by the server's
    lock, named with where the first runs; the lock goes with the first store, however it ends."""
    url = postgres.fresh_database()
    first = open_store(url, station="loket-1")
    first.lock_station()
    first.register_station(["p1"], "pc-loket-1", 101)
    second = open_store(url, station="loket-1")
    try:
        with pytest.raises(PrintdError) as info:
            second.lock_station()
        assert info.value.code == "station.running"
        assert "pc-loket-1" in info.value.message and "101" in info.value.message
        van = open_store(url, station="van")
        van.lock_station()  # another station's name is free
        van.close()
        first.close()
        second.lock_station()  # the first's connection closed: its lock went with it
    finally:
        second.close()
