"""The physical printer model, without the protocol."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from drivers.base import EncodeError
from drivers.sim.cards import chip_uid
from drivers.sim.faults import FaultScript
from drivers.sim.model import Condition, MechanismError, Position, PrinterModel, SequenceError


def make(cards: int = 5, faults: str = "", **kwargs: Any) -> PrinterModel:
    return PrinterModel("SIM0000001", cards=cards, faults=FaultScript.parse(faults), seconds_per_card=0, **kwargs)


def print_card(model: PrinterModel) -> None:
    model.feed()
    for panel in "ymcko":
        model.print_panel("front", panel)
    model.eject()


def test_blanks_have_distinct_deterministic_nxp_style_uids() -> None:
    model = make(cards=300)
    uids = [b.chip_uid for b in model.feeder]
    assert len(set(uids)) == 300
    assert all(len(uid) == 14 and uid.startswith("04") and uid == uid.upper() for uid in uids)
    assert uids == [b.chip_uid for b in make(cards=300).feeder]
    assert chip_uid("SIM0000001", 1) != chip_uid("SIM0000002", 1)
    assert len({b.card_serial for b in model.feeder}) == 300


def test_a_good_card_goes_from_feeder_to_hopper() -> None:
    model = make(cards=3)
    print_card(model)
    truth = model.physical_truth()
    assert (truth.cards_fed, truth.in_feeder, truth.in_hopper, truth.in_printer) == (1, 2, 1, 0)
    assert truth.balanced
    card = model.hopper[0]
    assert card.index == 1
    assert card.sides_printed == ["front"]
    assert card.panels == ["front/y", "front/m", "front/c", "front/k", "front/o"]
    assert model.panels_printed == 5
    assert model.ribbon_panels_remaining == 500 * 5 - 5


def test_feed_advances_cards_fed_once_and_only_when_a_blank_leaves() -> None:
    model = make(cards=1)
    model.feed()
    assert model.cards_fed == 1
    with pytest.raises(SequenceError):
        model.feed()
    model.reject()
    with pytest.raises(MechanismError) as caught:
        model.feed()
    assert caught.value.condition is Condition.FEEDER_EMPTY
    assert model.cards_fed == 1
    assert model.physical_truth().balanced


def test_jam_keeps_the_card_until_it_is_rejected() -> None:
    model = make(faults="card 1: jam while printing")
    model.feed()
    with pytest.raises(MechanismError) as caught:
        model.print_panel("front", "y")
    assert caught.value.condition is Condition.JAM
    assert Condition.JAM in model.errors()
    assert model.card is not None and model.position is Position.PRINT_HEAD
    with pytest.raises(MechanismError):
        model.eject()
    model.clear_errors()  # Scs does not free a stuck card
    assert Condition.JAM in model.errors()
    model.reject()
    assert Condition.JAM not in model.errors()
    assert model.cards_rejected == 1
    assert model.reject_box[0].failure == "jam while printing"
    assert model.physical_truth().balanced


def test_operator_clears_a_jam_to_the_reject_box() -> None:
    model = make(faults="card 1: jam")
    model.feed()
    with pytest.raises(MechanismError):
        model.print_panel("front", "k")
    card = model.clear_jam()
    assert card is not None and card.index == 1
    assert model.card is None and len(model.reject_box) == 1
    assert not model.errors()
    print_card(model)
    assert model.hopper[0].index == 2


def test_cover_opens_before_card_n_and_stays_until_scs() -> None:
    model = make(faults="card 2: cover opens")
    print_card(model)
    with pytest.raises(MechanismError) as caught:
        model.feed()
    assert caught.value.condition is Condition.COVER_OPEN
    assert model.cards_fed == 1 and model.card is None
    with pytest.raises(MechanismError):
        model.feed()
    model.clear_errors()
    print_card(model)
    assert model.cards_fed == 2 and [c.index for c in model.hopper] == [1, 2]


def test_physical_cover_needs_closing_not_scs() -> None:
    model = make()
    model.open_cover()
    model.clear_errors()
    assert Condition.COVER_OPEN in model.errors()
    model.close_cover()
    assert Condition.COVER_OPEN not in model.errors()


def test_feeder_sensor_says_empty_after_n_until_scs() -> None:
    model = make(cards=5, faults="after 2: feeder empty")
    print_card(model)
    assert Condition.FEEDER_EMPTY not in model.conditions()
    print_card(model)
    assert Condition.FEEDER_EMPTY in model.conditions()  # as soon as the second card is fed
    with pytest.raises(MechanismError) as caught:
        model.feed()
    assert caught.value.condition is Condition.FEEDER_EMPTY
    assert len(model.feeder) == 3
    model.clear_errors()
    print_card(model)
    assert model.cards_fed == 3


def test_real_empty_feeder_needs_blanks_loaded() -> None:
    model = make(cards=1)
    print_card(model)
    model.clear_errors()
    assert Condition.FEEDER_EMPTY in model.errors()
    model.load_blanks(2)
    print_card(model)
    assert model.hopper[-1].index == 2
    truth = model.physical_truth()
    assert truth.blanks_loaded == 3 and truth.in_feeder == 1 and truth.balanced


@pytest.mark.parametrize(
    ("fault", "condition"),
    [
        ("print fails", Condition.PRINT_ERROR),
        ("head temperature", Condition.HEAD_TEMPERATURE),
        ("ribbon ends", Condition.RIBBON_ENDED),
    ],
)
def test_panel_faults_spoil_the_card(fault: str, condition: Condition) -> None:
    model = make(faults=f"card 1: {fault}")
    model.feed()
    with pytest.raises(MechanismError) as caught:
        model.print_panel("front", "y")
    assert caught.value.condition is condition
    model.reject()
    assert model.reject_box[0].failure == fault


def test_scripted_ribbon_end_lasts_until_scs() -> None:
    model = make(faults="card 1: ribbon ends")
    model.feed()
    with pytest.raises(MechanismError):
        model.print_panel("front", "y")
    model.reject()
    assert Condition.RIBBON_ENDED in model.errors()
    model.clear_errors()
    print_card(model)


def test_ribbon_runs_out_and_is_replaced() -> None:
    model = make(cards=3, ribbon_cards=1)
    print_card(model)
    assert model.ribbon_cards_remaining == 0
    with pytest.raises(MechanismError) as caught:
        model.feed()
    assert caught.value.condition is Condition.RIBBON_ENDED
    model.replace_ribbon()
    print_card(model)


def test_random_spoils_strike_the_same_cards() -> None:
    script = FaultScript.parse(spoil_rate=0.3, seed=7)
    model = PrinterModel("SIM0000001", cards=40, faults=script, seconds_per_card=0)
    for _ in range(40):
        model.feed()
        try:
            model.print_panel("front", "k")
            model.eject()
        except MechanismError:
            model.reject()
    rejected = [c.index for c in model.reject_box]
    assert rejected == [n for n in range(1, 41) if script.random_spoil(n)]
    assert rejected
    assert model.physical_truth().balanced


def test_encoder_reads_the_parked_card_and_fails_as_scripted() -> None:
    model = make(faults="card 2: encode fails")
    with pytest.raises(EncodeError) as no_card:
        model.encode(b"x")
    assert no_card.value.chip_uid is None
    card = model.move_to_contactless()
    assert model.encode(b"payload") == card.chip_uid
    assert card.encoded and card.uid_read
    model.eject()
    second = model.move_to_contactless()
    with pytest.raises(EncodeError) as caught:
        model.encode(b"payload")
    assert caught.value.chip_uid == second.chip_uid
    model.reject()
    assert model.reject_box[0].uid_read and not model.reject_box[0].encoded


def test_reject_box_full_and_hopper_full_block_feeding() -> None:
    model = make(cards=5, reject_box_capacity=1, hopper_capacity=1)
    model.feed()
    model.reject()
    with pytest.raises(MechanismError) as caught:
        model.feed()
    assert caught.value.condition is Condition.REJECT_BOX_FULL
    assert len(model.empty_reject_box()) == 1
    print_card(model)
    with pytest.raises(MechanismError) as full:
        model.feed()
    assert full.value.condition is Condition.HOPPER_FULL
    assert len(model.empty_hopper()) == 1
    truth = model.physical_truth()
    assert truth.taken_from_hopper == 1 and truth.taken_from_reject_box == 1 and truth.balanced


def test_scripted_reject_box_full() -> None:
    model = make(faults="after 1: reject box full")
    print_card(model)
    assert Condition.REJECT_BOX_FULL in model.errors()
    model.clear_errors()
    print_card(model)


def test_mechanical_time_is_spent_inside_the_model() -> None:
    slept: list[float] = []
    model = PrinterModel("SIM0000001", cards=2, seconds_per_card=20.0, time_scale=0.5, sleep=slept.append)
    print_card(model)
    assert sum(slept) == pytest.approx(10.0)
    assert slept[0] == pytest.approx(20.0 * 0.2 * 0.5)


def test_one_command_at_a_time() -> None:
    model = PrinterModel("SIM0000001", cards=2, seconds_per_card=0.05)
    inside = threading.Event()
    order: list[str] = []

    def feed() -> None:
        with model.lock:
            inside.set()
            model.feed()
            order.append("fed")

    worker = threading.Thread(target=feed)
    worker.start()
    inside.wait()
    model.physical_truth()  # waits for the feed to finish
    order.append("read")
    worker.join()
    assert order == ["fed", "read"]


def test_changes_are_announced() -> None:
    model = make()
    seen: list[int] = []
    model.subscribe(lambda m: seen.append(m.cards_fed))
    print_card(model)
    assert seen and seen[-1] == 1


@pytest.mark.parametrize(
    ("clause", "condition"),
    [("after 1: cover opens", Condition.COVER_OPEN), ("after 1: ribbon ends", Condition.RIBBON_ENDED)],
)
def test_after_n_conditions_strike_at_the_next_feed(clause: str, condition: Condition) -> None:
    model = make(faults=clause)
    print_card(model)
    assert condition not in model.conditions()  # not before the printer tries to feed again
    with pytest.raises(MechanismError) as caught:
        model.feed()
    assert caught.value.condition is condition and model.cards_fed == 1
    model.clear_errors()
    print_card(model)
    assert model.cards_fed == 2
