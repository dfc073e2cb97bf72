"""The PC/SC encoder against a real pcscd: the simulated printer puts each card in a vpcd reader at ``Sic`` and the
encoder talks to its virtual chip through pcscd and pyscard, as it would to a printer's contactless coupler.

Every outcome is checked against where the blank physically is, and the chip UID against the blank's."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from drivers import base
from drivers.base import Card, DriverError, Outcome, SpoilCategory
from drivers.encoders.pcsc import PcscEncoder, PcscSettings
from drivers.evolis.driver import EvolisDriver
from drivers.sim import SimHandle, make_sim_printer
from tests.chip_scripts import holder_record, payload, write_and_verify
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for
from tests.pcscd import PrivatePcscd

FAST = {"reply_timeout": 0.5, "motion_timeout": 5.0, "quiet_timeout": 0.02, "confirm_delay": 0}
FACE = card_png("CHIP")


@contextmanager
def chip_rig(
    stack: PrivatePcscd,
    *,
    reader: int = 0,
    faults: str | None = None,
    command: tuple[str, ...] = (),
    card_timeout: float = 3.0,
    reader_name: str | None = None,
) -> Iterator[tuple[SimHandle, EvolisDriver]]:
    """A simulated printer whose contactless station is vpcd reader ``reader``, and the Evolis driver with a
    PcscEncoder on that reader."""
    virtual = stack.readers[reader]
    handle = make_sim_printer(
        f"pcsc-{reader}", cards=10, seconds_per_card=0, faults=faults, encoder=False, field=virtual.field_url
    )
    settings = PcscSettings(reader_name or virtual.pcsc_name, card_timeout=card_timeout, command=command)
    encoder = PcscEncoder(settings)
    driver = handle.driver(encoder=encoder, **FAST)
    driver.open()
    try:
        yield handle, driver
    finally:
        driver.close()
        encoder.close()
        truth = handle.model.physical_truth()
        assert truth.balanced


def test_the_uid_is_the_blanks_and_a_4k_script_lands_on_its_chip(pcsc_stack: PrivatePcscd) -> None:
    record = holder_record(4096)
    with chip_rig(pcsc_stack) as (handle, driver):
        first = driver.print_card(Card(front=FACE, chip_payload=payload(write_and_verify(record))))
        second = driver.print_card(Card(front=FACE))  # no payload: the UID is read all the same
    assert [first.outcome, second.outcome] == [Outcome.PRINTED, Outcome.PRINTED]
    hopper = handle.model.hopper
    assert [first.chip_uid, second.chip_uid] == [c.chip_uid for c in hopper]
    assert bytes(hopper[0].chip[:4096]) == record
    assert not any(hopper[1].chip)


@pytest.mark.parametrize(
    ("fault", "outcome", "with_uid", "reason"),
    [
        ("chip refuses", Outcome.SPOILED, True, None),
        ("card leaves the field", Outcome.SPOILED, True, None),
        ("no card in the field", Outcome.SPOILED, False, base.ENCODER_UNAVAILABLE),
        ("slow chip", Outcome.PRINTED, True, None),
    ],
)
def test_chip_faults_spoil_the_blank_with_the_uid_the_reader_read(
    pcsc_stack: PrivatePcscd, fault: str, outcome: Outcome, with_uid: bool, reason: base.Reason | None
) -> None:
    script = payload(write_and_verify(holder_record(600)))
    timeout = 1.5 if fault == "no card in the field" else 5.0  # the wait that must run out is kept short
    with chip_rig(pcsc_stack, reader=1, faults=f"card 1: {fault}", card_timeout=timeout) as (handle, driver):
        result = driver.print_card(Card(front=FACE, chip_payload=script))
        after = driver.print_card(Card(front=FACE, chip_payload=script))  # the next blank encodes as usual
    assert result.outcome is outcome and result.reason == reason, result.detail
    if fault == "card leaves the field":  # in its first write: after the two SELECTs
        assert "the card left the reader's field during step 3 of 8 of the chip script" in result.detail
    assert after.outcome is Outcome.PRINTED, after.detail
    model = handle.model
    if outcome is Outcome.SPOILED:
        assert result.category is SpoilCategory.ENCODE_FAILED
        assert [c.index for c in model.reject_box] == [1] and [c.index for c in model.hopper] == [2]
        assert result.chip_uid == (model.reject_box[0].chip_uid if with_uid else None)
        assert model.reject_box[0].sides_printed == []  # the chip comes first: nothing printed on a spoiled chip
    else:
        assert [c.chip_uid for c in model.hopper] == [result.chip_uid, after.chip_uid]
    assert after.chip_uid == model.hopper[-1].chip_uid


def test_a_missing_reader_feeds_no_blank(pcsc_stack: PrivatePcscd) -> None:
    with chip_rig(pcsc_stack, reader_name="Evolis Zenius contactless") as (handle, driver):
        result = driver.print_card(Card(front=FACE))
    assert result.outcome is Outcome.NOT_FED and result.reason == base.ENCODER_UNAVAILABLE
    assert "no PC/SC reader is called 'Evolis Zenius contactless'" in result.detail
    assert handle.model.physical_truth().cards_fed == 0


def test_pcscd_down_feeds_no_blank_and_printing_resumes_once_it_is_back(pcsc_stack: PrivatePcscd) -> None:
    with chip_rig(pcsc_stack, reader=1) as (handle, driver):
        pcsc_stack.stop()
        try:
            down = driver.print_card(Card(front=FACE))
        finally:
            pcsc_stack.start()
        back = driver.print_card(Card(front=FACE))
    assert down.outcome is Outcome.NOT_FED and down.reason == base.ENCODER_UNAVAILABLE, down.detail
    assert "pcscd" in down.detail or "PC/SC" in down.detail
    assert back.outcome is Outcome.PRINTED and back.chip_uid == handle.model.hopper[0].chip_uid
    assert handle.model.physical_truth().cards_fed == 1


def test_a_payload_that_is_no_script_is_refused_before_the_printer_hears_of_it(pcsc_stack: PrivatePcscd) -> None:
    refused = pytest.raises(DriverError, match=r"chip script: not valid JSON.*has no encoder_command")
    with chip_rig(pcsc_stack) as (handle, driver), refused:
        driver.print_card(Card(front=FACE, chip_payload=b"data for a program this printer does not have"))
    assert handle.model.physical_truth().cards_fed == 0


PROGRAM = (sys.executable, "-m", "tests.chip_program", "--reader", "{reader}", "--uid", "{uid}")


def test_an_encoding_program_gets_the_reader_the_uid_and_the_payload(pcsc_stack: PrivatePcscd) -> None:
    record = holder_record(1000, seed=7)
    with chip_rig(pcsc_stack, reader=1, command=PROGRAM) as (handle, driver):
        result = driver.print_card(Card(front=FACE, chip_payload=record))
    assert result.outcome is Outcome.PRINTED, result.detail
    card = handle.model.hopper[0]
    assert result.chip_uid == card.chip_uid and bytes(card.chip[:1000]) == record


def test_a_failing_encoding_program_spoils_the_blank(pcsc_stack: PrivatePcscd) -> None:
    with chip_rig(pcsc_stack, reader=1, command=(*PROGRAM, "--exit", "3")) as (handle, driver):
        result = driver.print_card(Card(front=FACE, chip_payload=holder_record(100)))
    assert result.outcome is Outcome.SPOILED and result.category is SpoilCategory.ENCODE_FAILED
    assert "exited with status 3" in result.detail
    assert result.chip_uid == handle.model.reject_box[0].chip_uid


def test_the_daemon_pauses_a_printer_whose_reader_sees_no_card_and_books_every_blank(
    pcsc_stack: PrivatePcscd, tmp_path: Path
) -> None:
    """Through printd: a card that never shows in the reader is spoiled (the counter says it was fed) and the
    printer pauses with encoder-unavailable; resumed, the job prints again on a new blank. A printer whose reader
    is missing feeds nothing and pauses."""
    reader = pcsc_stack.readers[0]
    specs = [
        SimSpec(
            "chip",
            encoder=f"pcsc://{reader.pcsc_name}?card_timeout=3",
            field=reader.field_url,
            faults=["card 2: no card in the field"],
        ),
        SimSpec("lost", encoder="pcsc://Evolis Zenius contactless", field=pcsc_stack.readers[1].field_url),
    ]
    daemon = DaemonProcess(tmp_path, specs)
    daemon.start()
    try:
        client = daemon.client()
        client.call("stock.receive", {"count": 10, "ref": "DO-CHIP"})
        client.call("printers.pause", {"printer": "lost"})
        script = json.loads(payload(write_and_verify(holder_record(300))))
        face = "data:image/png;base64," + base64.b64encode(FACE).decode()
        for n in range(3):
            client.call("jobs.submit", {"job": {"ref": f"chip-{n}", "front": face, "chip": script}})

        def printer(name: str) -> dict[str, Any]:
            status = client.call("status", {})
            assert isinstance(status, dict)
            return next(p for p in status["printers"] if p["name"] == name)

        wait_for(lambda: printer("chip")["paused"], 30, "the printer to pause")
        assert printer("chip")["pause_reason"] == "encoder-unavailable-error"
        client.call("printers.resume", {"printer": "chip"})
        wait_for(lambda: client.call("status", {})["queue"]["done"] == 3, 30, "3 jobs done")  # type: ignore[index]
        client.call("printers.pause", {"printer": "chip"})
        client.call("jobs.submit", {"job": {"ref": "for-lost", "front": face, "chip": script}})
        client.call("printers.resume", {"printer": "lost"})
        wait_for(lambda: printer("lost")["paused"], 30, "the printer with no reader to pause")
        assert printer("lost")["pause_reason"] == "encoder-unavailable-error"
        spoiled = client.call("spoiled.list", {})
        assert isinstance(spoiled, list)
        client.close()
    finally:
        assert daemon.stop() == 0
    assert [(s["category"], s["chip_uid"], s["printer"]) for s in spoiled] == [("encode_failed", None, "chip")]
    truth, model = daemon.physical_truth("chip")
    assert truth.balanced and (truth.cards_fed, truth.in_hopper, truth.in_reject_box) == (4, 3, 1)
    assert all(bytes(c.chip[:300]) == holder_record(300) for c in model.hopper)
    lost, _ = daemon.physical_truth("lost")
    assert lost.cards_fed == 0
    store = daemon.open_store()
    assert_ledger_consistent(store)
    store.close()
