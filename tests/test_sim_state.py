"""Persisted simulator state: a new model from the file sees what the old one left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.sim import make_sim_printer
from drivers.sim.faults import FaultScript
from drivers.sim.model import Condition, MechanismError, Position, PrinterModel, SequenceError
from drivers.sim.state import StateError, StateFile, snapshot, write_atomically


def test_kill_and_reload_sees_the_same_feeder_hopper_and_reject_box(tmp_path: Path) -> None:
    path = tmp_path / "sim" / "state.json"
    faults = "card 2: jam; card 4: cover opens"
    first = make_sim_printer("van", cards=6, seconds_per_card=0, faults=faults, state_file=path)
    model = first.model
    assert not first.restored
    model.feed()
    model.print_panel("front", "k")
    model.eject()
    model.feed()
    with pytest.raises(MechanismError):
        model.print_panel("front", "k")
    model.reject()
    model.feed()
    model.move_to_contactless()
    with pytest.raises(SequenceError):
        model.feed()  # card 3 is in the printer: refused, nothing changes
    before = snapshot(model)
    # The process "dies": nothing is closed or flushed; a new simulator starts from the file alone.
    second = make_sim_printer("van", cards=999, seconds_per_card=0, faults=faults, state_file=path)
    again = second.model
    assert second.restored
    assert snapshot(again) == before
    assert [b.chip_uid for b in again.feeder] == [b.chip_uid for b in model.feeder]
    assert again.hopper == model.hopper and again.reject_box == model.reject_box
    assert again.card == model.card and again.position is Position.CONTACTLESS
    assert again.physical_truth() == model.physical_truth()
    assert again.physical_truth().balanced
    # Fault progress survives too: card 4's cover fault fires once, after the restart.
    again.eject()
    with pytest.raises(MechanismError) as caught:
        again.feed()
    assert caught.value.condition is Condition.COVER_OPEN
    third = make_sim_printer("van", cards=0, seconds_per_card=0, faults=faults, state_file=path)
    third.model.clear_errors()
    assert third.model.feed().index == 4


def test_state_is_written_after_every_physical_change(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    model = PrinterModel("SIM0000001", cards=3, seconds_per_card=0)
    StateFile(path).attach(model)
    assert json.loads(path.read_text())["feeder"] == {"first": 1, "count": 3}
    model.feed()
    assert json.loads(path.read_text())["cards_fed"] == 1
    model.open_cover()
    assert json.loads(path.read_text())["cover_open"] is True
    model.load_blanks(2)
    saved = json.loads(path.read_text())
    assert saved["feeder"] == {"first": 2, "count": 4} and saved["blanks_loaded"] == 5
    assert not list(tmp_path.glob(".*.tmp"))


def test_latched_conditions_survive(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    script = FaultScript.parse("after 0: feeder empty")
    model = PrinterModel("SIM0000001", cards=3, faults=script, seconds_per_card=0)
    StateFile(path).attach(model)
    assert Condition.FEEDER_EMPTY in model.errors()
    reloaded = PrinterModel("SIM0000001", faults=script, seconds_per_card=0)
    StateFile(path).attach(reloaded)
    assert Condition.FEEDER_EMPTY in reloaded.errors()
    reloaded.clear_errors()
    assert Condition.FEEDER_EMPTY not in reloaded.errors()  # fired once, not re-armed


def test_bad_state_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match=str(path)):
        StateFile(path).attach(PrinterModel("SIM0000001"))
    write_atomically(path, json.dumps(snapshot(PrinterModel("SIM0000002", cards=1))))
    with pytest.raises(StateError, match="SIM0000002"):
        StateFile(path).attach(PrinterModel("SIM0000001"))
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(StateError, match="version"):
        StateFile(path).attach(PrinterModel("SIM0000001"))


def test_a_state_file_that_cannot_be_written_does_not_stop_the_printer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    model = PrinterModel("SIM0000001", cards=2, seconds_per_card=0)
    StateFile(path).attach(model)

    def disk_full(path: Path, text: str | bytes, *, durable: bool = True) -> None:
        raise OSError("no space left")

    monkeypatch.setattr("drivers.sim.state.write_atomically", disk_full)
    model.feed()
    assert model.cards_fed == 1
    assert json.loads(path.read_text())["cards_fed"] == 0  # the last good state stays
