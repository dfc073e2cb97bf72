"""End to end: the real EvolisDriver over the in-process link to the simulated printer.

Each test checks the driver's outcome against the model's physical truth.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from drivers import base
from drivers.base import Card, CardResult, MajorState, Outcome, SpoilCategory
from drivers.evolis.driver import EvolisDriver
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.faults import FaultScript


def face(colour: str = "white") -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (1016, 648), "white")
    image.paste(colour, (100, 100, 500, 400))
    image.save(out, format="PNG")
    return out.getvalue()


CARD = Card(front=face("black"), chip_payload=b"\x01\x02")


def sim(faults: str = "", cards: int = 5, **kwargs: Any) -> SimHandle:
    return make_sim_printer("desk-1", cards=cards, seconds_per_card=0, faults=faults, **kwargs)


def driver(handle: SimHandle) -> EvolisDriver:
    d = handle.driver(confirm_delay=0.0, reply_timeout=0.2, motion_timeout=0.2, quiet_timeout=0.05)
    d.open()
    return d


def assert_accounted(handle: SimHandle) -> None:
    truth = handle.model.physical_truth()
    assert truth.cards_fed == truth.in_hopper + truth.in_reject_box + truth.in_printer
    assert truth.balanced


def fed_by(result: CardResult) -> int:
    assert result.counters_before is not None and result.counters_after is not None
    return result.counters_after.cards_fed - result.counters_before.cards_fed


def test_open_reads_identity_and_status() -> None:
    handle = sim(cards=50)
    d = driver(handle)
    status = d.status()
    assert status.state is MajorState.READY and not status.reasons
    assert status.counters.cards_fed == 0 and status.counters.ribbon_remaining == 500
    info = d.open()
    assert info.serial_number == handle.model.serial and info.model == "Primacy"


def test_prints_cards(tmp_path: Path) -> None:
    handle = sim(save_png_dir=tmp_path)
    d = driver(handle)
    results = [d.print_card(CARD) for _ in range(3)]
    assert [r.outcome for r in results] == [Outcome.PRINTED] * 3
    assert [r.chip_uid for r in results] == [c.chip_uid for c in handle.model.hopper]
    assert all(fed_by(r) == 1 for r in results)
    assert all(c.encoded and c.sides_printed == ["front"] for c in handle.model.hopper)
    assert handle.model.physical_truth().in_hopper == 3
    assert_accounted(handle)
    with Image.open(tmp_path / "blank-000001-front.png") as printed:
        pixels = np.asarray(printed.convert("L"))
        assert pixels[250, 300] < 40 and pixels[600, 900] > 200  # the black box, and white around it


def test_two_sided_card() -> None:
    handle = sim()
    result = driver(handle).print_card(Card(front=face("red"), back=face("black")))
    assert result.outcome is Outcome.PRINTED
    assert handle.model.hopper[0].sides_printed == ["front", "back"]


def test_jam_spoils_the_card_into_the_reject_box() -> None:
    handle = sim("card 2: jam while printing")
    d = driver(handle)
    first, second, third = (d.print_card(CARD) for _ in range(3))
    assert first.outcome is Outcome.PRINTED and third.outcome is Outcome.PRINTED
    assert second.outcome is Outcome.SPOILED and second.category is SpoilCategory.PRINT_FAILED
    assert second.reason == base.MEDIA_JAM and fed_by(second) == 1
    rejected = handle.model.reject_box
    assert [c.index for c in rejected] == [2] and rejected[0].chip_uid == second.chip_uid
    assert handle.model.cards_rejected == 1
    assert_accounted(handle)


def test_encode_failure_spoils_the_card_before_printing() -> None:
    handle = sim("card 1: encode fails")
    d = driver(handle)
    result = d.print_card(CARD)
    assert result.outcome is Outcome.SPOILED and result.category is SpoilCategory.ENCODE_FAILED
    rejected = handle.model.reject_box[0]
    assert result.chip_uid == rejected.chip_uid and rejected.panels == []  # nothing printed on it
    assert d.print_card(CARD).outcome is Outcome.PRINTED
    assert_accounted(handle)


def test_cover_open_feeds_nothing_until_cleared() -> None:
    handle = sim("card 2: cover opens")
    d = driver(handle)
    assert d.print_card(CARD).outcome is Outcome.PRINTED
    refused = d.print_card(CARD)
    assert refused.outcome is Outcome.NOT_FED and refused.reason == base.COVER_OPEN and fed_by(refused) == 0
    assert handle.model.physical_truth().cards_fed == 1
    again = d.print_card(CARD)
    assert again.outcome is Outcome.NOT_FED and again.reason == base.COVER_OPEN
    assert base.COVER_OPEN in d.status().reasons
    d.clear_errors()  # the operator closed the cover and pressed the button
    assert d.print_card(CARD).outcome is Outcome.PRINTED
    assert [c.index for c in handle.model.hopper] == [1, 2]
    assert_accounted(handle)


def test_feeder_empty_after_n() -> None:
    handle = sim("after 2: feeder empty", cards=10)
    d = driver(handle)
    assert [d.print_card(CARD).outcome for _ in range(2)] == [Outcome.PRINTED] * 2
    refused = d.print_card(CARD)
    assert refused.outcome is Outcome.NOT_FED and refused.reason == base.MEDIA_EMPTY
    assert handle.model.physical_truth().cards_fed == 2
    d.clear_errors()
    assert d.print_card(CARD).outcome is Outcome.PRINTED
    assert_accounted(handle)


def test_feeder_really_empty_until_blanks_are_loaded() -> None:
    handle = sim(cards=1)
    d = driver(handle)
    assert d.print_card(CARD).outcome is Outcome.PRINTED
    refused = d.print_card(CARD)
    assert refused.outcome is Outcome.NOT_FED and refused.reason == base.MEDIA_EMPTY
    handle.model.load_blanks(1)
    d.clear_errors()
    assert d.print_card(CARD).outcome is Outcome.PRINTED
    assert_accounted(handle)


def test_lost_reply_to_the_eject_is_unknown_and_the_card_is_in_the_hopper() -> None:
    handle = sim("card 1: no reply; card 2: garbled reply")
    d = driver(handle)
    lost, garbled = d.print_card(CARD), d.print_card(CARD)
    assert lost.outcome is Outcome.UNKNOWN and garbled.outcome is Outcome.UNKNOWN
    assert [c.index for c in handle.model.hopper] == [1, 2]
    assert d.print_card(CARD).outcome is Outcome.PRINTED
    assert_accounted(handle)


def test_link_lost_mid_card_is_unknown() -> None:
    handle = sim()
    d = driver(handle)
    receive = handle.printer.receive

    def pull_the_cable_after_the_first_panel(data: bytes) -> bytes:
        reply = receive(data)
        if data.startswith(b"\x1bDb;y;"):
            handle.transport.unplug()
        return reply

    handle.printer.receive = pull_the_cable_after_the_first_panel  # type: ignore[method-assign]
    result = d.print_card(CARD)
    assert result.outcome is Outcome.UNKNOWN
    assert handle.model.card is not None  # the card is still inside
    assert_accounted(handle)


def test_random_spoils_follow_the_seed() -> None:
    handle = make_sim_printer("desk-1", cards=20, seconds_per_card=0, spoil_rate=0.2, seed=11)
    d = driver(handle)
    outcomes = [d.print_card(Card(front=face())).outcome for _ in range(20)]
    script = FaultScript(spoil_rate=0.2, seed=11)
    expected = [Outcome.SPOILED if script.random_spoil(n) else Outcome.PRINTED for n in range(1, 21)]
    assert outcomes == expected and Outcome.SPOILED in outcomes
    assert [c.index for c in handle.model.reject_box] == [n for n in range(1, 21) if script.random_spoil(n)]
    assert_accounted(handle)


def test_simulator_outlives_a_crash_of_its_driver(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = sim("card 3: jam", cards=6, state_file=state)
    d = driver(first)
    assert [d.print_card(CARD).outcome for _ in range(2)] == [Outcome.PRINTED] * 2
    # The process dies (nothing closed); a new one builds the simulator from its state file.
    second = sim("card 3: jam", cards=6, state_file=state)
    assert second.restored
    d2 = driver(second)
    assert d2.status().counters.cards_fed == 2
    spoiled = d2.print_card(CARD)
    assert spoiled.outcome is Outcome.SPOILED and spoiled.counters_after is not None
    assert spoiled.counters_after.cards_fed == 3
    truth = second.model.physical_truth()
    assert (truth.in_feeder, truth.in_hopper, truth.in_reject_box) == (3, 2, 1)
    assert_accounted(second)


def test_driver_after_close_gets_a_fresh_link() -> None:
    handle = sim()
    d = driver(handle)
    d.close()
    assert driver(handle).print_card(CARD).outcome is Outcome.PRINTED
