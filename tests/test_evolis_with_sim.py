"""EvolisDriver end to end against the simulated printer: each outcome matches where the blank really is."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from drivers import base
from drivers.base import Card, Outcome, SpoilCategory
from drivers.evolis.driver import EvolisDriver
from drivers.sim import SimHandle, make_sim_printer


def _png(size: tuple[int, int] = (1016, 648)) -> bytes:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((40, 40, 300, 380), fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


CARD = Card(front=_png(), back=_png((648, 1016)), chip_payload=b"payload")


def _driver(faults: str | None = None, cards: int = 5) -> tuple[SimHandle, EvolisDriver]:
    handle = make_sim_printer("evolis-test", cards=cards, seconds_per_card=0, faults=faults)
    driver = handle.driver(reply_timeout=0.2, motion_timeout=0.2, quiet_timeout=0.02, confirm_delay=0)
    driver.open()
    return handle, driver


def test_printed_matches_the_hopper() -> None:
    handle, driver = _driver()
    result = driver.print_card(CARD)
    assert result.outcome is Outcome.PRINTED
    truth = handle.model.physical_truth()
    assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box) == (1, 1, 0)
    assert result.chip_uid == handle.model.hopper[0].chip_uid


@pytest.mark.parametrize(
    ("fault", "category", "reason"),
    [
        ("card 1: jam while printing", SpoilCategory.PRINT_FAILED, base.MEDIA_JAM),
        ("card 1: ribbon ends", SpoilCategory.PRINT_FAILED, base.RIBBON_EMPTY),
        ("card 1: encode fails", SpoilCategory.ENCODE_FAILED, None),
    ],
)
def test_spoiled_matches_the_reject_box(fault: str, category: SpoilCategory, reason: base.Reason | None) -> None:
    handle, driver = _driver(fault)
    result = driver.print_card(CARD)
    assert result.outcome is Outcome.SPOILED
    assert result.category is category
    assert result.reason == reason
    truth = handle.model.physical_truth()
    assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box, truth.in_printer) == (1, 0, 1, 0)


def test_not_fed_leaves_the_feeder_alone() -> None:
    handle, driver = _driver(cards=0)
    result = driver.print_card(CARD)
    assert result.outcome is Outcome.NOT_FED
    assert result.reason == base.MEDIA_EMPTY
    assert handle.model.physical_truth().cards_fed == 0


@pytest.mark.parametrize("fault", ["card 1: no reply", "card 1: garbled reply"])
def test_unknown_on_a_lost_eject_reply(fault: str) -> None:
    handle, driver = _driver(fault)
    result = driver.print_card(CARD)
    assert result.outcome is Outcome.UNKNOWN
    assert handle.model.physical_truth().cards_fed == 1
    assert driver.print_card(CARD).outcome is Outcome.PRINTED


def test_counters_follow_the_model() -> None:
    handle, driver = _driver()
    for _ in range(3):
        driver.print_card(CARD)
    status = driver.status()
    assert status.counters.cards_fed == handle.model.inserted_cards == 3
    assert status.counters.panels_printed == handle.model.panels_printed
