"""The CUPS card protocol without a scheduler: documents, the backend's record, device URIs, queue attributes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers import base
from drivers.base import Card, MajorState, Reason, Severity
from drivers.cups.device import Device
from drivers.cups.document import (
    CARD_MAGIC,
    Command,
    CommandDocument,
    DocumentError,
    decode,
    encode_card,
    encode_command,
)
from drivers.cups.record import BackendRecord, RecordOutcome
from drivers.cups.status import QUEUE_PAUSED, QueueView


@pytest.mark.parametrize(
    "card",
    [
        Card(front=b"\x89PNG front"),
        Card(front=b"front", back=b"back;\n\r\x00"),
        Card(front=b"front", back=b"back", chip_payload=b""),
        Card(front=b"front", chip_payload=b"chip\ndata"),
    ],
)
def test_a_card_document_round_trips(card: Card) -> None:
    data = encode_card(card)
    assert data.startswith(CARD_MAGIC)
    assert decode(data) == card


def test_a_two_page_document_is_the_front_and_back_of_one_card() -> None:
    header = json.loads(encode_card(Card(front=b"ab", back=b"cde")).split(b"\n")[1])
    assert header == {"pages": [2, 3], "chip": None}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.4", "not a printd card document"),
        (CARD_MAGIC + b"{not json}\n", "not JSON"),
        (CARD_MAGIC + b'{"pages": [1, 1, 1], "chip": null}\nabc', "one page"),
        (CARD_MAGIC + b'{"pages": [0], "chip": null}\n', "cannot be empty"),
        (CARD_MAGIC + b'{"pages": [-1], "chip": null}\n', "whole number"),
        (CARD_MAGIC + b'{"pages": [3], "chip": null}\nab', "announces"),
        (CARD_MAGIC + b'{"pages": [1], "chip": null}\nabc', "announces"),
        (CARD_MAGIC + b'{"pages": [1], "copies": 2}\na', "must be an object"),
        (b"#CUPS-COMMAND\nFormatDisk\n", "unknown printer command"),
        (b"#CUPS-COMMAND\n# nothing\n", "no command"),
    ],
)
def test_a_bad_document_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        decode(data)


def test_commands_follow_the_cups_command_file_format() -> None:
    assert encode_command(Command.CLEAR_ERRORS) == b"#CUPS-COMMAND\nClearErrors\n"
    document = decode(b"#CUPS-COMMAND\n# comment\nreportlevels\nClearErrors # the operator fixed it\n")
    assert document == CommandDocument((Command.REPORT_STATUS, Command.CLEAR_ERRORS))


def test_the_record_round_trips_without_spaces_commas_or_quotes() -> None:
    record = BackendRecord(
        job=12,
        outcome=RecordOutcome.SPOILED,
        category="print_failed",
        reason="media-jam-error",
        chip="04A1B2C3D4E5F6",
        fed_before=4,
        fed=5,
        panels=10,
        ribbon=496,
        serial="SIM1234567",
        model="Primacy, the 'best'",
        firmware="SIM-1.0",
    )
    text = record.format()
    assert text.startswith("printd/1 job=12 outcome=spoiled ")
    assert not set(text) & {",", "'", '"'}
    parsed = BackendRecord.parse(text)
    assert parsed is not None and parsed.model == "Primacy__the__best_"
    assert parsed == BackendRecord(**{**record.__dict__, "model": "Primacy__the__best_"})
    assert parsed.counters() == base.Counters(cards_fed=5, panels_printed=10, ribbon_remaining=496)


@pytest.mark.parametrize(
    "text", [None, "", "Ribbon low", "printd/1 outcome=printed", "printd/1 job=x outcome=printed", "printd/1 job=1"]
)
def test_anything_else_in_marker_message_is_no_record(text: str | None) -> None:
    assert BackendRecord.parse(text) is None


def test_only_a_started_record_settles_nothing() -> None:
    assert not RecordOutcome.STARTED.final
    assert all(outcome.final for outcome in RecordOutcome if outcome is not RecordOutcome.STARTED)


def test_a_device_uri_names_the_state_file_and_the_printer() -> None:
    device = Device.from_uri(
        "printdsim:///var/lib/sims/desk%201.json?cards=5&faults=card%203%3A%20jam&seconds_per_card=0.5&encoder=0"
    )
    assert device.state_file == Path("/var/lib/sims/desk 1.json")
    assert (device.name, device.cards, device.faults, device.seconds_per_card) == ("desk 1", 5, "card 3: jam", 0.5)
    assert not device.encoder and device.ribbon == "ymcko"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("usb://Evolis/Primacy", "not 'printdsim'"),
        ("printdsim://host/state.json", "absolute path"),
        ("printdsim:///var/lib/sims/", "absolute path"),
        ("printdsim:///s.json?card=5", "unknown device URI parameter 'card'"),
        ("printdsim:///s.json?cards=many", "not a number"),
        ("printdsim:///s.json?cards=-1", "negative"),
    ],
)
def test_a_bad_device_uri_says_what_is_wrong(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Device.from_uri(uri)


def queue(**attrs: object) -> QueueView:
    base_attrs: dict[str, object] = {
        "printer-state": 3,
        "printer-state-reasons": ["none"],
        "printer-is-accepting-jobs": True,
        "printer-make-and-model": "Local Raw Printer",
        "printer-info": "Evolis Primacy (simulated)",
        "device-uri": "printdsim:///s.json",
    }
    return QueueView.of("desk", base_attrs | attrs)


def test_queue_reasons_map_onto_the_contract() -> None:
    view = queue(**{"printer-state-reasons": ["media-empty-error", "media-low-warning", "none"]})
    assert view.reasons == {base.MEDIA_EMPTY, base.MEDIA_LOW}
    assert view.major_state is MajorState.ERROR and view.main_reason() == base.MEDIA_EMPTY
    assert queue(**{"printer-state-reasons": ["marker-supply-low-warning"]}).major_state is MajorState.WARNING
    assert queue(**{"printer-state": 4}).major_state is MajorState.BUSY
    assert queue(**{"printer-state-reasons": "none"}).major_state is MajorState.READY
    assert queue(**{"printer-state-reasons": ["connecting-to-device"]}).reasons == {
        Reason("connecting-to-device", Severity.REPORT)
    }


def test_a_stopped_queue_is_paused_whatever_its_reasons() -> None:
    stopped = queue(**{"printer-state": 5, "printer-state-reasons": ["paused"]})
    assert stopped.stopped and stopped.reasons == {QUEUE_PAUSED} and not stopped.conditions
    assert stopped.major_state is MajorState.ERROR and stopped.main_reason() == QUEUE_PAUSED
    jammed = queue(**{"printer-state": 5, "printer-state-reasons": ["media-jam-error", "paused"]})
    assert jammed.conditions == {base.MEDIA_JAM} and jammed.main_reason() == base.MEDIA_JAM


def test_identity_and_counters_come_from_the_record() -> None:
    bare = queue()
    assert bare.counters() is None
    assert bare.printer_info() == base.PrinterInfo("Evolis Primacy (simulated)", "desk", "")
    usb = queue(**{"device-uri": "usb://Evolis/Primacy?serial=E123", "printer-make-and-model": "Evolis Primacy"})
    assert usb.printer_info() == base.PrinterInfo("Evolis Primacy", "E123", "")
    record = "printd/1 job=3 outcome=none fed=7 panels=14 serial=SIM1 model=Primacy firmware=SIM-1.0"
    known = queue(**{"marker-message": record, "marker-levels": [90]})
    assert known.printer_info() == base.PrinterInfo("Primacy", "SIM1", "SIM-1.0")
    assert known.counters() == base.Counters(cards_fed=7, panels_printed=14, ribbon_remaining=90)
