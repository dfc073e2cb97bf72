"""A status is read again before it is acted on: a false "ribbon ended" (ribbon remains) reported once, in a
status reply or in a panel's reply, neither pauses the printer nor spoils a card; a condition that is really
there still stops it. The real station, store and Evolis driver over the simulated printer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

from drivers.evolis import protocol as p
from drivers.evolis.protocol import ReplyDecoder
from drivers.sim import SimHandle, make_sim_printer
from printd.jobs import JobState, Priority
from printd.printers import BuiltPrinter
from printd.station import PrinterWorker, Station
from printd.store import JobContent, NewJob, SqliteStore
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import wait_for

FAST_DRIVER = {"confirm_delay": 0.0, "reply_timeout": 0.5, "motion_timeout": 0.5, "quiet_timeout": 0.02}
FACE = card_png("REQUERY")


@dataclass
class Scene:
    store: SqliteStore
    handle: SimHandle
    station: Station
    logs: list[dict[str, Any]]

    def submit(self, *refs: str) -> None:
        for ref in refs:
            self.store.submit(NewJob(ref, Priority.NORMAL, JobContent(front=FACE, chip=b"\x01")), "operator")
        self.station.notify_work()

    def done(self, *refs: str) -> bool:
        return all(self.store.get_job(ref).state is JobState.DONE for ref in refs) and not self.store.open_attempts()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs if entry["event"] == name]


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Scene]:
    monkeypatch.setattr(PrinterWorker, "REQUERY_SECONDS", 0.0)
    faults: str = request.param
    store = SqliteStore(tmp_path / "printd.db", station="requery")
    store.receive_stock(20, "DO-1", "supervisor")
    handle = make_sim_printer("p1", cards=20, seconds_per_card=0, ribbon="ko", faults=faults)
    station = Station(store, [BuiltPrinter("p1", handle.driver(**FAST_DRIVER), handle)])
    with structlog.testing.capture_logs() as logs:
        yield Scene(store, handle, station, logs)
        assert station.stop(10)
    assert_ledger_consistent(store)
    truth = handle.model.physical_truth()
    balance = store.balance()
    assert truth.balanced and (balance.issued, balance.spoiled) == (truth.in_hopper, truth.in_reject_box)
    store.close()


@pytest.mark.parametrize("scene", ["card 1: spurious ribbon ended"], indirect=True)
def test_a_false_ribbon_end_in_one_status_reply_does_not_pause_the_printer(scene: Scene) -> None:
    scene.submit("A", "B")
    scene.station.start()
    wait_for(lambda: scene.done("A", "B"), 15, "both cards", 0.02)
    assert "card 1: spurious ribbon ended" in scene.handle.model.fired  # the false reply was sent
    # The station's first status read said the ribbon had ended; it read again, found ribbon, and printed.
    (spurious,) = scene.events("printer.spurious_status")
    assert spurious["reasons"] == ["marker-supply-empty-error"]
    assert scene.store.printer_events("p1") == [] and scene.store.printer_pauses() == {}
    assert (scene.store.balance().issued, scene.store.balance().spoiled) == (2, 0)
    assert [c.index for c in scene.handle.model.hopper] == [1, 2]


@pytest.mark.parametrize("scene", ["card 2: spurious ribbon ended during the panels"], indirect=True)
def test_a_false_ribbon_end_in_a_panels_reply_and_the_status_after_it_spoils_no_card(scene: Scene) -> None:
    scene.submit("A", "B", "C")
    scene.station.start()
    wait_for(lambda: scene.done("A", "B", "C"), 15, "three cards", 0.02)
    # Card 2's panel was refused with "ribbon ended" and the status read right after said so too: the driver
    # read it again, found ribbon, sent the panel once more, and the card printed.
    (retried,) = scene.events("evolis.spurious_error_reply")
    assert retried["command"] == "Db" and retried["first"] == ["marker-supply-empty-error"]
    assert scene.store.balance().spoiled == 0 and scene.handle.model.reject_box == []
    assert [c.index for c in scene.handle.model.hopper] == [1, 2, 3]
    assert scene.handle.model.hopper[1].panels == ["front/k", "front/o"]  # each panel printed once
    assert scene.store.printer_events("p1") == []


@pytest.mark.parametrize("scene", ["after 1: reject box full"], indirect=True)
def test_a_condition_still_there_when_read_again_pauses_the_printer_before_any_claim(scene: Scene) -> None:
    scene.submit("A", "B")
    scene.station.start()
    worker = scene.station.worker("p1")
    wait_for(lambda: worker.view.paused, 15, "the pause", 0.02)
    assert worker.view.pause_reason == "reject-box-full-error"
    assert scene.events("printer.spurious_status") == []
    assert scene.store.get_job("A").state is JobState.DONE
    assert scene.store.get_job("B").state is JobState.QUEUED and scene.store.open_attempts() == []
    assert [h["event"] for h in scene.store.job_history(scene.store.get_job("B").id)] == ["submit"]  # never claimed
    scene.handle.model.empty_reject_box()
    scene.station.resume("p1", "operator")
    wait_for(lambda: scene.done("B"), 15, "B after the box was emptied", 0.02)


@pytest.mark.parametrize("scene", ["card 2: ribbon ends during the panels"], indirect=True)
def test_a_ribbon_end_that_is_really_there_spoils_the_card_and_pauses(scene: Scene) -> None:
    scene.submit("A", "B")
    scene.station.start()
    worker = scene.station.worker("p1")
    wait_for(lambda: worker.view.paused and not scene.store.open_attempts(), 15, "the pause", 0.02)
    assert worker.view.pause_reason == "marker-supply-empty-error"
    assert scene.events("evolis.spurious_error_reply") == [] and scene.events("printer.spurious_status") == []
    assert scene.store.balance().spoiled == 1 and [c.index for c in scene.handle.model.reject_box] == [2]
    scene.station.resume("p1", "operator")  # a new ribbon
    wait_for(lambda: scene.done("A", "B"), 15, "B on a new blank", 0.02)


def test_the_simulator_reports_a_false_ribbon_end_in_one_status_reply_only() -> None:
    handle = make_sim_printer("p1", cards=20, seconds_per_card=0, faults="card 1: spurious ribbon ended")

    def ask(command: p.Command) -> str:
        return ReplyDecoder().feed(handle.printer.receive(p.encode_command(command)))[0].text

    assert ask(p.read_status()) == "ERROR DEF_RIBBON_ENDED"
    assert ask(p.read_status()) == "READY"
    assert ask(p.read_ribbon_mark()) == "OK"  # ribbon remains
    assert handle.model.ribbon_panels_remaining > 0
