"""The driver contract suite: the same Evolis driver tests over every transport to the simulated printer
(in-process, USB through the simulated pyusb backend, serial through a real pty), with the chip encoded over
PC/SC (the printer's contactless station a vpcd reader of a private pcscd), and over a real printer when
PRINTD_TEST_DEVICE names its transport URL (the only test that may be skipped, in CI too).

Every outcome is checked against where the blank physically is in the simulator."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import pytest
from PIL import Image, ImageDraw

from drivers import base
from drivers.base import Card, Encoder, Outcome, SpoilCategory
from drivers.encoders.pcsc import PcscEncoder, PcscSettings
from drivers.evolis.driver import EvolisDriver
from drivers.sim import SimHandle, make_sim_printer, sim_serial
from drivers.transport import Transport
from tests.chip_scripts import holder_record, payload, write_and_verify

TRANSPORTS = ["inprocess", "usb", "serial", "inprocess+pcsc"]
FAST = {"reply_timeout": 0.5, "motion_timeout": 2.0, "quiet_timeout": 0.02, "confirm_delay": 0}


def face(size: tuple[int, int] = (1016, 648)) -> bytes:
    image = Image.new("RGB", size, (210, 230, 250))
    ImageDraw.Draw(image).rectangle((40, 40, 300, 380), fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


CHIP = payload(write_and_verify(holder_record(256)))  # an APDU script: the simulated encoder stores it as it is
ONE_SIDED = Card(front=face(), chip_payload=CHIP)
TWO_SIDED = Card(front=face(), back=face((648, 1016)), chip_payload=CHIP)


def link(kind: str, handle: SimHandle) -> AbstractContextManager[Transport]:
    if kind == "usb":
        from tests.sim_usb import usb_sim_link

        return usb_sim_link(handle)
    if kind == "serial":
        from tests.sim_serial import pty_sim_link

        return pty_sim_link(handle)
    return nullcontext(handle.transport)


@pytest.fixture(params=TRANSPORTS)
def rig(request: pytest.FixtureRequest) -> Iterator[object]:
    kind = str(request.param)

    @contextmanager
    def make(
        faults: str | None = None, cards: int = 50, ribbon: str = "ymcko"
    ) -> Iterator[tuple[SimHandle, EvolisDriver]]:
        encoder: Encoder | None = None
        field = None
        if kind.endswith("+pcsc"):
            reader = request.getfixturevalue("pcsc_stack").readers[0]
            encoder, field = PcscEncoder(PcscSettings(reader.pcsc_name, card_timeout=5.0)), reader.field_url
        handle = make_sim_printer(
            f"contract-{kind}", cards=cards, seconds_per_card=0, faults=faults, ribbon=ribbon, field=field
        )
        with link(kind, handle) as transport:
            driver = EvolisDriver(transport, encoder=encoder or handle.encoder, ribbon=ribbon, **FAST)
            driver.open()
            yield handle, driver
            driver.close()
        if field is not None:
            assert all(bytes(card.chip[:256]) == holder_record(256) for card in handle.model.hopper)

    yield make


def test_identity_and_status(rig) -> None:  # type: ignore[no-untyped-def]
    with rig() as (handle, driver):
        info = driver.open()
        assert (info.model, info.serial_number) == ("Primacy", sim_serial(handle.name))
        assert info.firmware
        status = driver.status()
        assert status.state is base.MajorState.READY and status.can_print
        assert status.counters.cards_fed == 0


def test_one_and_two_sided_cards_land_in_the_hopper(rig) -> None:  # type: ignore[no-untyped-def]
    with rig() as (handle, driver):
        first = driver.print_card(ONE_SIDED)
        second = driver.print_card(TWO_SIDED)
        assert first.outcome is second.outcome is Outcome.PRINTED
        truth = handle.model.physical_truth()
        assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box, truth.in_printer) == (2, 2, 0, 0)
        assert [first.chip_uid, second.chip_uid] == [c.chip_uid for c in handle.model.hopper]
        assert [len(c.sides_printed) for c in handle.model.hopper] == [1, 2]
        assert first.counters_before is not None and first.counters_after is not None
        assert (first.counters_before.cards_fed, first.counters_after.cards_fed) == (0, 1)


def test_counters_follow_the_printer(rig) -> None:  # type: ignore[no-untyped-def]
    with rig() as (handle, driver):
        for _ in range(3):
            driver.print_card(ONE_SIDED)
        counters = driver.status().counters
        assert counters.cards_fed == handle.model.inserted_cards == 3
        assert counters.panels_printed == handle.model.panels_printed


@pytest.mark.parametrize(
    ("fault", "category", "reason"),
    [
        ("card 1: jam while printing", SpoilCategory.PRINT_FAILED, base.MEDIA_JAM),
        ("card 1: print fails", SpoilCategory.PRINT_FAILED, None),
        ("card 1: ribbon ends", SpoilCategory.PRINT_FAILED, base.RIBBON_EMPTY),
        ("card 1: head temperature", SpoilCategory.PRINT_FAILED, base.HEAD_TEMPERATURE),
        ("card 1: encode fails", SpoilCategory.ENCODE_FAILED, None),
    ],
)
def test_spoiled_cards_land_in_the_reject_box(
    rig,
    fault: str,
    category: SpoilCategory,  # type: ignore[no-untyped-def]
    reason: base.Reason | None,
) -> None:
    with rig(fault) as (handle, driver):
        result = driver.print_card(TWO_SIDED)
        assert result.outcome is Outcome.SPOILED and result.category is category
        if reason is not None:
            assert result.reason == reason
        truth = handle.model.physical_truth()
        assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box, truth.in_printer) == (1, 0, 1, 0)
        assert result.chip_uid == handle.model.reject_box[0].chip_uid


@pytest.mark.parametrize(
    ("fault", "cards", "reason"),
    [
        ("card 1: cover opens", 50, base.COVER_OPEN),
        (None, 0, base.MEDIA_EMPTY),
        ("after 0: feeder empty", 50, base.MEDIA_EMPTY),
    ],
)
def test_not_fed_leaves_the_feeder_alone(
    rig,
    fault: str | None,
    cards: int,  # type: ignore[no-untyped-def]
    reason: base.Reason,
) -> None:
    with rig(fault, cards=cards) as (handle, driver):
        result = driver.print_card(ONE_SIDED)
        assert result.outcome is Outcome.NOT_FED and result.reason == reason
        truth = handle.model.physical_truth()
        assert truth.cards_fed == 0 and truth.in_feeder == cards


@pytest.mark.parametrize("fault", ["card 1: no reply", "card 1: garbled reply"])
def test_a_lost_eject_reply_is_unknown_never_a_guess(rig, fault: str) -> None:  # type: ignore[no-untyped-def]
    with rig(fault) as (handle, driver):
        result = driver.print_card(ONE_SIDED)
        assert result.outcome is Outcome.UNKNOWN
        assert handle.model.physical_truth().cards_fed == 1
        assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED


def test_clear_errors_after_the_operator_fixed_the_printer(rig) -> None:  # type: ignore[no-untyped-def]
    with rig("after 0: feeder empty") as (handle, driver):
        assert not driver.status().can_print
        driver.clear_errors()  # the simulator takes Scs as "the operator reseated the feeder"
        assert driver.status().can_print
        assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED
        assert handle.model.physical_truth().in_hopper == 1


# ---- a real printer ---------------------------------------------------------------------------------------

DEVICE = os.environ.get("PRINTD_TEST_DEVICE")


@pytest.mark.skipif(
    not DEVICE, reason="set PRINTD_TEST_DEVICE=usb://VID:PID or serial:///dev/ttyUSB0 to test a printer"
)
def test_real_printer_prints_one_card() -> None:
    from drivers.transports import open_transport

    assert DEVICE is not None
    driver = EvolisDriver(open_transport(DEVICE))
    info = driver.open()
    assert info.model and info.serial_number
    before = driver.status().counters.cards_fed
    result = driver.print_card(ONE_SIDED)
    assert result.outcome is Outcome.PRINTED, result.detail
    assert driver.status().counters.cards_fed == before + 1
    driver.close()
