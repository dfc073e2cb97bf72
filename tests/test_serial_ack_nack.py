"""The serial ACK/NACK mode: the printer answers ACK or NACK + code, and NACK codes settle cards by the counter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from drivers import base
from drivers.base import Card, Outcome, SpoilCategory
from drivers.evolis import protocol as p
from drivers.evolis.driver import EvolisDriver
from drivers.evolis.protocol import Command, encode_command
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.printer import SimPrinter
from drivers.sim.serve import LinkPrinter
from drivers.transports.serial import SerialTransport
from tests.conftest import card_png
from tests.sim_serial import pty_server

FAST = {"reply_timeout": 0.3, "motion_timeout": 0.5, "quiet_timeout": 0.02, "confirm_delay": 0}
CARD = Card(front=card_png(), back=card_png("BACK", (648, 1016)))
ACK = b"\x06"
PCOM_ACK_NACK = Command("Pcom", ("1", "115200", "N", "8", "1", "ACK/NACK"))


def sim(faults: str | None = None, cards: int = 5) -> SimHandle:
    return make_sim_printer("ack-nack", cards=cards, seconds_per_card=0, faults=faults, encoder=False)


def send(printer: SimPrinter, cmd: Command) -> bytes:
    return printer.receive(encode_command(cmd))


# --- the printer side ---


def test_pcom_switches_the_reply_mode() -> None:
    printer = sim().printer
    assert send(printer, p.read_firmware()) == b"SIM-1.0\r"
    assert send(printer, PCOM_ACK_NACK) == ACK  # the reply already follows the new mode
    assert send(printer, p.start_sequence()) == ACK
    assert send(printer, p.read_counter("c")) == b"0\r"  # a value stays a value
    assert send(printer, Command("Pcom", ("1", "9600", "N", "8", "1", "XON/XOFF"))) == b"OK\r"
    assert send(printer, Command("Pcom", ("1", "9600", "N", "8", "1"))) == b"OK\r"


@pytest.mark.parametrize(
    "params",
    [("1", "9600"), ("3", "9600", "N", "8", "1"), ("1", "fast", "N", "8", "1"), ("1", "300", "N", "8", "1"),
     ("1", "9600", "X", "8", "1")],
)  # fmt: skip
def test_pcom_refuses_bad_parameters(params: tuple[str, ...]) -> None:
    printer = sim().printer
    assert send(printer, Command("Pcom", params)) == b"ERR PARAMETER\r"
    assert not printer.ack_nack


@pytest.mark.parametrize(
    ("faults", "cards", "commands", "code"),
    [
        (None, 5, [Command("Xyz")], b"1"),
        (None, 5, [Command("Rco", ("q",))], b"2"),
        (None, 5, [p.end_sequence()], b"1"),
        ("card 1: cover opens", 5, [p.start_sequence(), p.front_side(), p.download_panel("k", 2, bytes(82296))], b"C"),
        (None, 0, [p.start_sequence(), p.front_side(), p.download_panel("k", 2, bytes(82296))], b"F"),
        ("card 1: ribbon ends", 5, [p.start_sequence(), p.front_side(), p.download_panel("k", 2, bytes(82296)),
                                    p.end_sequence()], b"R"),
        ("card 1: jam", 5, [p.start_sequence(), p.front_side(), p.download_panel("k", 2, bytes(82296)),
                            p.end_sequence()], b"T"),
    ],
)  # fmt: skip
def test_errors_answer_nack_and_a_code(faults: str | None, cards: int, commands: list[Command], code: bytes) -> None:
    printer = make_sim_printer("ack-nack", cards=cards, seconds_per_card=0, faults=faults, encoder=False).printer
    printer.ack_nack = True
    replies = [send(printer, cmd) for cmd in commands]
    assert replies[:-1] == [ACK] * (len(commands) - 1)
    assert replies[-1] == b"\x15" + code


def test_no_panel_is_taken_with_the_cover_open() -> None:
    handle = sim()
    printer = handle.printer
    panel = p.download_panel("k", 2, bytes(82296))
    assert [send(printer, cmd) for cmd in (p.start_sequence(), p.front_side(), panel)] == [b"OK\r"] * 3
    handle.model.open_cover()
    assert send(printer, panel) == b"ERR COVER OPEN\r"
    assert handle.model.card is not None and handle.model.card.panels == []  # fed, and still in the printer
    printer.ack_nack = True
    assert send(printer, panel) == b"\x15C"


def test_a_malformed_command_is_nack_1() -> None:
    printer = SimPrinter(sim().model, ack_nack=True)
    assert printer.receive(b"\x1bR\xffx\r") == b"\x151"


def test_a_garbled_reply_stays_garbled_in_ack_mode() -> None:
    printer = sim("card 1: garbled reply").printer
    printer.ack_nack = True
    for cmd in (p.start_sequence(), p.front_side(), p.download_panel("k", 2, bytes(82296))):
        assert send(printer, cmd) == ACK
    assert send(printer, p.end_sequence()) == bytes([0x06 ^ 0x80])


# --- over a pty, with the real driver ---


@contextmanager
def ack_nack_driver(handle: SimHandle, printer: LinkPrinter | None = None) -> Iterator[EvolisDriver]:
    """The driver over a pty to ``handle`` (or ``printer`` in front of it), after the host put the printer in
    ACK/NACK mode with Pcom."""
    with pty_server(printer or handle.printer) as server:
        transport = SerialTransport.from_url(f"serial://{server.path}?baudrate=115200")
        transport.write(encode_command(PCOM_ACK_NACK))
        assert transport.read(1.0) == ACK
        driver = EvolisDriver(transport, ribbon="ymcko", **FAST)
        try:
            driver.open()
            yield driver
        finally:
            driver.close()


def test_a_card_prints_in_ack_nack_mode() -> None:
    handle = sim()
    with ack_nack_driver(handle) as driver:
        status = driver.status()
        result = driver.print_card(CARD)
    assert status.can_print
    assert result.outcome is Outcome.PRINTED
    assert handle.model.physical_truth().in_hopper == 1


def test_nack_cover_open_before_the_feed_is_not_fed() -> None:
    handle = sim("card 1: cover opens")
    with ack_nack_driver(handle) as driver:
        result = driver.print_card(CARD)
    assert result.outcome is Outcome.NOT_FED
    assert result.reason == base.COVER_OPEN
    assert "'\\x15C'" in result.detail
    assert handle.model.physical_truth().cards_fed == 0


class OpensCoverAfterFirstPanel:
    """The operator opens the cover once the card's first panel is in the printer (a panel arrives in
    several chunks: its reply comes with the last)."""

    def __init__(self, handle: SimHandle) -> None:
        self.handle = handle
        self.in_panel = False
        self.opened = False

    def receive(self, data: bytes) -> bytes:
        self.in_panel = self.in_panel or data.startswith(b"\x1bDb;")
        reply = self.handle.printer.receive(data)
        if reply and self.in_panel and not self.opened:
            self.opened = True
            self.handle.model.open_cover()
        return reply

    def reset_link(self) -> None:
        self.handle.printer.reset_link()


def test_nack_cover_open_mid_card_is_spoiled() -> None:
    handle = sim()
    with ack_nack_driver(handle, OpensCoverAfterFirstPanel(handle)) as driver:
        result = driver.print_card(CARD)
    assert result.outcome is Outcome.SPOILED
    assert result.category is SpoilCategory.PRINT_FAILED
    assert result.reason == base.COVER_OPEN
    truth = handle.model.physical_truth()
    assert (truth.cards_fed, truth.in_reject_box, truth.in_hopper, truth.in_printer) == (1, 1, 0, 0)


def test_nack_mechanical_is_spoiled_with_the_jam() -> None:
    handle = sim("card 1: jam")
    with ack_nack_driver(handle) as driver:
        result = driver.print_card(CARD)
    assert result.outcome is Outcome.SPOILED
    assert result.reason == base.MEDIA_JAM
    assert handle.model.physical_truth().in_reject_box == 1


def test_a_garbled_eject_reply_in_ack_mode_is_unknown() -> None:
    handle = sim("card 1: garbled reply")
    with ack_nack_driver(handle) as driver:
        result = driver.print_card(CARD)
    assert result.outcome is Outcome.UNKNOWN
    assert handle.model.physical_truth().in_hopper == 1
