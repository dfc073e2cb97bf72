"""The fault matrix: every fault the simulator raises, at every stage it can strike a card, through the real
station (Station + SQLite store + EvolisDriver over the simulator's link). Each cell checks the card's outcome,
its ledger booking, the job's transition, the printer's state and where the blank physically is; then an
operator recovers, the job prints, and the ledger matches the simulator's truth blank for blank.
``pytest -s tests/test_fault_matrix.py`` prints the matrix as a table.

Why each cell is what it is (the write-ahead rule, DESIGN.md):
- A fault before feeding leaves the blank in the feeder and the counter where it was: NOT_FED, nothing booked,
  the job back in the queue, the printer paused with the reason (the condition latched until the operator
  clears it). Link faults there strike the card's first command, before any command that can feed: NOT_FED
  too. A reply timeout or a lost link names no condition but "offline", and the printer is paused with it (a
  person looks at a link that failed); a garbled reply came from a printer whose status then reads clean, so
  the card is simply printed again. A near-empty feeder is a warning: the card prints.
- A fault once the blank has left the feeder (at the encoder, during the panels, at eject) is settled from the
  counter: it advanced, so the card is sent to the reject box and is SPOILED: encode_failed for the chip,
  print_failed for everything else (the card's print did not complete; "damaged" is for cards an operator
  rejects at inspection). A condition that lasts (cover open, ribbon ended or jammed, head out of temperature)
  pauses the printer at its next status; a jam leaves with the card and the job simply prints again.
- Where the printer cannot prove where the card went (the link lost, or a reply that never came, mid-card; an
  unreadable reply to the eject), the card is UNKNOWN: booked in doubt, the job in doubt for the operator. The
  printer is paused unless its card sensor says the blank has left it (a lost or garbled reply to the eject:
  the card is in the hopper, where the operator finds it), since the next card could be printed on it. A
  garbled reply mid-card is different: the printer answered, so its counter is read, proves the card was
  fed, and the card is spoiled.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from drivers.base import CardResult, Outcome, SpoilCategory
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.faults import NOT_AT, STAGES, Clause, FaultKind, FaultScriptError, Stage, Trigger, parse_clause
from printd.jobs import JobState, Priority
from printd.ledger import Resolution
from printd.printers import BuiltPrinter
from printd.station import PrinterWorker, Station
from printd.store import JobContent, JobRecord, NewJob, SqliteStore
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import wait_for

ROWS: tuple[tuple[str, FaultKind], ...] = (
    ("feeder empty", FaultKind.FEEDER_EMPTY),
    ("feeder near empty", FaultKind.FEEDER_NEAR_EMPTY),
    ("cover open", FaultKind.COVER_OPENS),
    ("card jam", FaultKind.JAM),
    ("ribbon ended", FaultKind.RIBBON_ENDS),
    ("ribbon jam", FaultKind.RIBBON_JAM),
    ("encode failure", FaultKind.ENCODE_FAILS),
    ("reject box full", FaultKind.REJECT_BOX_FULL),
    ("head temperature", FaultKind.HEAD_TEMPERATURE),
    ("link lost", FaultKind.LINK_LOST),
    ("garbled reply", FaultKind.GARBLED_REPLY),
    ("reply timeout", FaultKind.NO_REPLY),
)
COLUMNS = (Stage.FEED, Stage.ENCODER, Stage.PANELS, Stage.EJECT)

FEEDER, HOPPER, REJECT_BOX, PRINTER = "feeder", "hopper", "reject box", "printer"
IN_DOUBT = "card in doubt"


@dataclass(frozen=True)
class Expect:
    """A cell: the first card's outcome, what the ledger booked for it, where the job went, the printer's pause
    (a part of its reason; None: not paused), and where that card's blank is once the fault has struck."""

    outcome: Outcome
    job: JobState
    pause: str | None
    blank: str
    category: SpoilCategory | None = None
    state: str | None = None  # the printer's state afterwards, where it says something (a warning)

    @property
    def booked(self) -> str | None:
        return {Outcome.PRINTED: "issued", Outcome.SPOILED: "spoiled", Outcome.UNKNOWN: "in_doubt"}.get(self.outcome)


def not_fed(pause: str | None) -> Expect:
    return Expect(Outcome.NOT_FED, JobState.QUEUED, pause, FEEDER)


def spoiled(pause: str | None = None, category: SpoilCategory = SpoilCategory.PRINT_FAILED) -> Expect:
    return Expect(Outcome.SPOILED, JobState.QUEUED, pause, REJECT_BOX, category)


def unknown(blank: str, pause: str | None = IN_DOUBT) -> Expect:
    return Expect(Outcome.UNKNOWN, JobState.IN_DOUBT, pause, blank)


K = FaultKind
EXPECTED: dict[tuple[FaultKind, Stage], Expect] = {
    # before feeding: the blank stays in the feeder
    (K.FEEDER_EMPTY, Stage.FEED): not_fed("media-empty-error"),
    (K.FEEDER_NEAR_EMPTY, Stage.FEED): Expect(Outcome.PRINTED, JobState.DONE, None, HOPPER, state="warning"),
    (K.COVER_OPENS, Stage.FEED): not_fed("cover-open-error"),
    (K.JAM, Stage.FEED): not_fed("media-jam-error"),
    (K.RIBBON_ENDS, Stage.FEED): not_fed("marker-supply-empty-error"),
    (K.RIBBON_JAM, Stage.FEED): not_fed("marker-supply-jam-error"),
    (K.REJECT_BOX_FULL, Stage.FEED): not_fed("reject-box-full-error"),
    (K.HEAD_TEMPERATURE, Stage.FEED): not_fed("print-head-temperature-error"),
    (K.LINK_LOST, Stage.FEED): not_fed("offline-error"),
    (K.GARBLED_REPLY, Stage.FEED): not_fed(None),
    (K.NO_REPLY, Stage.FEED): not_fed("offline-error"),
    # at the encoder: fed and parked at the contactless station
    (K.COVER_OPENS, Stage.ENCODER): spoiled("cover-open-error"),
    (K.JAM, Stage.ENCODER): spoiled(),
    (K.ENCODE_FAILS, Stage.ENCODER): spoiled(category=SpoilCategory.ENCODE_FAILED),
    (K.HEAD_TEMPERATURE, Stage.ENCODER): spoiled("print-head-temperature-error"),
    (K.LINK_LOST, Stage.ENCODER): unknown(PRINTER),
    (K.GARBLED_REPLY, Stage.ENCODER): spoiled(),
    (K.NO_REPLY, Stage.ENCODER): unknown(PRINTER),
    # during the panels
    (K.COVER_OPENS, Stage.PANELS): spoiled("cover-open-error"),
    (K.JAM, Stage.PANELS): spoiled(),
    (K.RIBBON_ENDS, Stage.PANELS): spoiled("marker-supply-empty-error"),
    (K.RIBBON_JAM, Stage.PANELS): spoiled("marker-supply-jam-error"),
    (K.HEAD_TEMPERATURE, Stage.PANELS): spoiled("print-head-temperature-error"),
    (K.LINK_LOST, Stage.PANELS): unknown(PRINTER),
    (K.GARBLED_REPLY, Stage.PANELS): spoiled(),
    (K.NO_REPLY, Stage.PANELS): unknown(PRINTER),
    # at eject: the card is printed and on its way to the output hopper
    (K.COVER_OPENS, Stage.EJECT): spoiled("cover-open-error"),
    (K.JAM, Stage.EJECT): spoiled(),
    (K.LINK_LOST, Stage.EJECT): unknown(HOPPER),
    (K.GARBLED_REPLY, Stage.EJECT): unknown(HOPPER, pause=None),
    (K.NO_REPLY, Stage.EJECT): unknown(HOPPER, pause=None),
}
CELLS = [(name, kind, stage) for name, kind in ROWS for stage in COLUMNS if (kind, stage) in EXPECTED]
IMPOSSIBLE = [(name, kind, stage) for name, kind in ROWS for stage in COLUMNS if (kind, stage) not in EXPECTED]

FAST_DRIVER = {"confirm_delay": 0.0, "reply_timeout": 0.2, "motion_timeout": 0.3, "quiet_timeout": 0.02}
CARD_CONTENT = JobContent(front=card_png("MATRIX"), chip=b"\x01payload")


@dataclass(frozen=True)
class Observed:
    outcome: Outcome
    booked: str | None
    category: str | None
    job: JobState
    pause: str | None
    state: str
    blank: str

    def cell(self) -> str:
        what = self.outcome.name + (f" {self.category}" if self.category else "")
        booked = f"booked {self.booked}" if self.booked else "nothing booked"
        printer = f"paused: {self.pause.split(':')[0]}" if self.pause else f"not paused ({self.state})"
        return f"{what}\n{booked}; job {self.job.value}\n{printer}\nblank: {self.blank}"


# ---- the matrix table --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix() -> Iterator[dict[tuple[FaultKind, Stage], Observed]]:
    seen: dict[tuple[FaultKind, Stage], Observed] = {}
    yield seen
    table = Table("fault", *(stage.value for stage in COLUMNS), title="Fault matrix (first card hit by the fault)")
    for name, kind in ROWS:
        cells = []
        for stage in COLUMNS:
            if (kind, stage) not in EXPECTED:
                cells.append("cannot occur")
            else:
                observed = seen.get((kind, stage))
                cells.append(observed.cell() if observed else "not run")
        table.add_row(name, *cells, end_section=True)
    console = Console(file=sys.stdout, width=160)
    console.print(table)
    console.print("Cannot occur:")
    for name, kind, stage in IMPOSSIBLE:
        console.print(f"  {name} {stage.value}: {NOT_AT[kind]}")


# ---- the cells -------------------------------------------------------------------------------------


def test_every_cell_is_run_or_cannot_occur_by_the_simulators_own_rules() -> None:
    """The matrix covers the grid, and a cell is impossible exactly when the fault grammar refuses it."""
    for name, kind, stage in CELLS:
        assert stage in STAGES[kind], f"{name} {stage.value}"
        assert parse_clause(f"card 1: {kind.value} {stage.value}") == Clause(Trigger.CARD, 1, kind, stage)
    for name, kind, stage in IMPOSSIBLE:
        assert stage not in STAGES[kind], f"{name} {stage.value} can occur: add it to the matrix"
        with pytest.raises(FaultScriptError, match=NOT_AT[kind].split(";")[0]):
            parse_clause(f"card 1: {kind.value} {stage.value}")
    assert len(CELLS) + len(IMPOSSIBLE) == len(ROWS) * len(COLUMNS)


@pytest.mark.parametrize(("name", "kind", "stage"), CELLS, ids=[f"{n} {s.name.lower()}" for n, _, s in CELLS])
def test_cell(
    name: str,
    kind: FaultKind,
    stage: Stage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    matrix: dict[tuple[FaultKind, Stage], Observed],
) -> None:
    expect = EXPECTED[(kind, stage)]
    monkeypatch.setattr(PrinterWorker, "RETRY_FIRST_SECONDS", 0.01)
    monkeypatch.setattr(PrinterWorker, "REQUERY_SECONDS", 0.0)
    store = SqliteStore(tmp_path / "printd.db", station="matrix", max_attempts=3)
    handle = make_sim_printer("p1", cards=30, seconds_per_card=0, ribbon="ko", faults=f"card 1: {kind.value} {stage}")
    first: list[tuple[JobRecord, CardResult, str]] = []
    station = Station(store, [BuiltPrinter("p1", handle.driver(**FAST_DRIVER), handle)])

    def on_card(_: str, job: JobRecord, result: CardResult) -> None:
        if not first:  # the card the fault struck: where its blank is, right after it was booked
            first.append((job, result, blank_one(handle)))

    station.listeners.append(on_card)
    worker = station.worker("p1")
    try:
        store.receive_stock(10, "DO-MATRIX", "supervisor")
        store.submit(NewJob("A", Priority.NORMAL, CARD_CONTENT), "operator")
        station.start()
        wait_for(lambda: settled(store, worker, first), 15, f"{name} {stage.value} to settle", 0.02)

        job, result, blank = first[0]
        observed = observe(store, worker, job, result, blank)
        matrix[(kind, stage)] = observed
        assert (observed.outcome, observed.booked) == (expect.outcome, expect.booked), result.detail
        assert observed.category == (expect.category.value if expect.category else None)
        assert observed.job is expect.job
        assert observed.blank == expect.blank
        if expect.pause is None:
            assert observed.pause is None
        else:
            assert observed.pause is not None and expect.pause in observed.pause
        if expect.state is not None:
            assert observed.state == expect.state
        assert_ledger_consistent(store)
        assert_consumption_matches_the_counter(store, handle)

        recover(store, station, handle, expect)
        wait_for(lambda: store.get_job("A").state is JobState.DONE and not store.open_attempts(), 15, "job A", 0.02)
    finally:
        assert station.stop(10)
    assert_ledger_matches_the_printer(store, handle)
    assert store.reconcile("p1", handle.model.cards_fed, "auditor").difference == 0
    store.close()


# ---- helpers ---------------------------------------------------------------------------------------


def blank_one(handle: SimHandle) -> str:
    """Where the first blank loaded into the printer is now."""
    model = handle.model
    with model.lock:
        if model.card is not None and model.card.index == 1:
            return PRINTER
        if any(card.index == 1 for card in model.hopper):
            return HOPPER
        if any(card.index == 1 for card in model.reject_box):
            return REJECT_BOX
        assert model.feeder and model.feeder[0].index == 1
        return FEEDER


def settled(store: SqliteStore, worker: PrinterWorker, first: list[tuple[JobRecord, CardResult, str]]) -> bool:
    """The fault's card is booked and the station has come to rest: the job printed, or the printer paused,
    and the printer's status read again since (it is reachable, and no card is in progress)."""
    if not first or store.open_attempts() or worker.view.current_job is not None:
        return False
    if worker.view.state in ("offline", "busy"):
        return False
    return store.get_job("A").state in (JobState.DONE, JobState.IN_DOUBT) or worker.view.paused


def observe(store: SqliteStore, worker: PrinterWorker, job: JobRecord, result: CardResult, blank: str) -> Observed:
    conn = sqlite3.connect(store.path)
    try:
        (attempt_id,) = conn.execute("SELECT min(id) FROM attempts WHERE job_id = ?", (job.id,)).fetchone()
        events = conn.execute(
            "SELECT kind, category FROM ledger WHERE attempt_id = ? AND kind != 'resolved'", (attempt_id,)
        ).fetchall()
    finally:
        conn.close()
    assert len(events) <= 1, events
    history = store.job_history(job.id)
    assert [h["event"] for h in history[:2]] == ["submit", "claim"]
    return Observed(
        outcome=result.outcome,
        booked=events[0][0] if events else None,
        category=events[0][1] if events else None,
        job=JobState(str(history[2]["to"])),
        pause=worker.view.pause_reason if worker.view.paused else None,
        state=worker.view.state,
        blank=blank,
    )


def recover(store: SqliteStore, station: Station, handle: SimHandle, expect: Expect) -> None:
    """What the operator does: a card in doubt is settled from what the printer shows (a card still inside is
    taken out to the reject box), then a paused printer is resumed (the printer's errors are cleared)."""
    if expect.outcome is Outcome.UNKNOWN:
        if expect.blank == PRINTER:
            assert handle.model.clear_jam() is not None
            store.resolve("A", Resolution.SPOILED, "operator", "taken out of the printer", SpoilCategory.PRINT_FAILED)
        else:
            store.resolve("A", Resolution.ISSUED, "operator", "found in the output hopper")
    if station.worker("p1").view.paused:
        station.resume("p1", "operator")


def assert_consumption_matches_the_counter(store: SqliteStore, handle: SimHandle) -> None:
    """Every blank the counter says left the feeder is booked once: issued, spoiled or in doubt."""
    balance = store.balance()
    assert balance.issued + balance.spoiled + balance.in_doubt == handle.model.cards_fed


def assert_ledger_matches_the_printer(store: SqliteStore, handle: SimHandle) -> None:
    """Blank for blank: issued cards are in the hopper, spoiled ones in the reject box, nothing is in doubt or
    left inside, and the chip UIDs the ledger booked are those of the cards where it says they are."""
    assert_ledger_consistent(store)
    truth = handle.model.physical_truth()
    balance = store.balance()
    assert truth.balanced and truth.in_printer == 0
    assert (balance.issued, balance.spoiled, balance.in_doubt) == (truth.in_hopper, truth.in_reject_box, 0)
    assert balance.on_hand == 10 - truth.cards_fed
    events = store.ledger_events()
    issued = [e["chip_uid"] for e in events if e["kind"] == "issued" or e["resolution"] == "issued"]
    assert issued == [card.chip_uid for card in handle.model.hopper]
    spoiled_uids = {e["chip_uid"] for e in events if e["kind"] == "spoiled" or e["resolution"] == "spoiled"}
    assert spoiled_uids - {None} <= {card.chip_uid for card in handle.model.reject_box}
