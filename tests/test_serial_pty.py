"""The Evolis driver over the serial transport and a pty to the simulator, whatever the link does."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from drivers import base
from drivers.base import Card, Outcome, PrinterOfflineError
from drivers.evolis.driver import EvolisDriver
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.serve import PtyServer
from drivers.transport import TransportError
from drivers.transports.serial import SerialTransport
from tests.conftest import card_png
from tests.daemon_harness import wait_for
from tests.sim_serial import pty_server, pty_sim_link

FAST = {"reply_timeout": 0.3, "motion_timeout": 0.5, "quiet_timeout": 0.02, "confirm_delay": 0}
ONE_SIDED = Card(front=card_png())
TWO_SIDED = Card(front=card_png(), back=card_png("BACK", (648, 1016)))


def sim(faults: str | None = None, cards: int = 5) -> SimHandle:
    return make_sim_printer("serial-test", cards=cards, seconds_per_card=0, faults=faults, encoder=False)


class Tap:
    """A printer between the pty and the simulated one: ``act(command_bytes, server)`` may change what
    happens to each chunk; it returns the reply bytes to send, or None for the printer's own."""

    def __init__(self, handle: SimHandle, act: Callable[[bytes, PtyServer], bytes | None]) -> None:
        self.printer = handle.printer
        self.act = act
        self.server: PtyServer | None = None
        self.resets = 0

    def receive(self, data: bytes) -> bytes:
        assert self.server is not None
        replaced = self.act(data, self.server)
        return self.printer.receive(data) if replaced is None else replaced

    def reset_link(self) -> None:
        self.resets += 1
        self.printer.reset_link()


@contextmanager
def tapped(handle: SimHandle, act: Callable[[bytes, PtyServer], bytes | None]) -> Iterator[EvolisDriver]:
    tap = Tap(handle, act)
    with pty_server(tap) as server:
        tap.server = server
        transport = SerialTransport.from_url(f"serial://{server.path}?baudrate=115200")
        driver = EvolisDriver(transport, ribbon="ymcko", **FAST)
        try:
            yield driver
        finally:
            driver.close()


@pytest.mark.parametrize(("card", "panels"), [(ONE_SIDED, 5), (TWO_SIDED, 10)])
def test_cards_print_over_the_pty(card: Card, panels: int) -> None:
    handle = sim()
    with pty_sim_link(handle) as transport:
        driver = EvolisDriver(transport, **FAST)
        assert driver.open().serial_number == handle.model.serial
        result = driver.print_card(card)
        again = driver.print_card(card)
    assert (result.outcome, again.outcome) == (Outcome.PRINTED, Outcome.PRINTED)
    assert result.counters_after is not None and result.counters_after.cards_fed == 1
    truth = handle.model.physical_truth()
    assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box, truth.in_printer) == (2, 2, 0, 0)
    assert handle.model.panels_printed == 2 * panels
    assert handle.model.hopper[0].sides_printed == (["front", "back"] if card.back else ["front"])


def kill_at(command: bytes, nth: int = 1) -> Callable[[bytes, PtyServer], bytes | None]:
    """End the pty (like a printer switched off) when the ``nth`` chunk starting with ``command`` arrives."""
    seen = 0

    def act(data: bytes, server: PtyServer) -> bytes | None:
        nonlocal seen
        if data.startswith(b"\x1b" + command):
            seen += 1
            if seen == nth:
                server.stop()
                return b""
        return None

    return act


def test_link_lost_before_the_feed_is_not_fed() -> None:
    handle = sim()
    with tapped(handle, kill_at(b"Pr;")) as driver:
        driver.open()
        result = driver.print_card(TWO_SIDED)
        with pytest.raises(PrinterOfflineError):
            driver.status()
    assert result.outcome is Outcome.NOT_FED
    assert result.reason == base.OFFLINE
    assert handle.model.physical_truth().cards_fed == 0


def test_link_lost_mid_card_is_unknown() -> None:
    handle = sim()
    with tapped(handle, kill_at(b"Db;", nth=2)) as driver:
        driver.open()
        result = driver.print_card(TWO_SIDED)
    assert result.outcome is Outcome.UNKNOWN
    assert "lost" in result.detail
    truth = handle.model.physical_truth()
    assert (truth.cards_fed, truth.in_printer, truth.in_hopper) == (1, 1, 0)


@pytest.mark.parametrize("fault", ["card 1: no reply", "card 1: garbled reply"])
def test_a_lost_or_garbled_eject_reply_is_unknown(fault: str) -> None:
    handle = sim(fault)
    with pty_sim_link(handle) as transport:
        driver = EvolisDriver(transport, **FAST)
        driver.open()
        result = driver.print_card(ONE_SIDED)
        after = driver.print_card(ONE_SIDED)
    assert result.outcome is Outcome.UNKNOWN
    assert after.outcome is Outcome.PRINTED
    assert handle.model.physical_truth().cards_fed == 2


def test_a_truncated_eject_reply_is_unknown() -> None:
    def cut_se(data: bytes, server: PtyServer) -> bytes | None:
        return handle.printer.receive(data)[:1] if data == b"\x1bSe\r" else None

    handle = sim()
    with tapped(handle, cut_se) as driver:
        driver.open()
        result = driver.print_card(ONE_SIDED)
    assert result.outcome is Outcome.UNKNOWN
    assert "may have been ejected" in result.detail
    assert handle.model.physical_truth().in_hopper == 1


def test_replies_without_terminator_are_completed_when_the_link_goes_quiet() -> None:
    def no_cr(data: bytes, server: PtyServer) -> bytes | None:
        return handle.printer.receive(data).rstrip(b"\r")

    handle = sim()
    with tapped(handle, no_cr) as driver:
        driver.open()
        assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED


def test_a_printer_that_never_answers_is_offline() -> None:
    handle = sim()
    with tapped(handle, lambda data, server: b"") as driver, pytest.raises(PrinterOfflineError, match="no reply"):
        driver.open()


def test_the_host_may_close_and_reopen_mid_command() -> None:
    handle = sim()
    tap = Tap(handle, lambda data, server: None)
    with pty_server(tap) as server:
        tap.server = server
        first = SerialTransport.from_url(f"serial://{server.path}")
        first.write(b"\x1bRco;")  # half a command, then the host goes away
        first.close()
        wait_for(lambda: tap.resets >= 1, 5, "the server to see the host go", 0.01)
        second = SerialTransport.from_url(f"serial://{server.path}")
        second.write(b"\x1bRco;c\r")
        assert read_until(second, b"\r") == b"0\r"
        second.close()


def test_the_port_vanishing_is_a_transport_error() -> None:
    handle = sim()
    with pty_server(handle.printer) as server:
        transport = SerialTransport.from_url(f"serial://{server.path}")
        server.stop()
        wait_for(lambda: server.closed, 5, "the pty to end", 0.01)
        with pytest.raises(TransportError, match="gone"):
            transport.read(1.0)
        with pytest.raises(TransportError):
            transport.write(b"\x1bRsn\r")
        transport.close()


def test_a_printer_that_takes_no_data_is_a_write_timeout() -> None:
    master, slave = os.openpty()  # nobody reads the master: the terminal's buffer fills up
    try:
        transport = SerialTransport.from_url(f"serial://{os.ttyname(slave)}?baudrate=4000000&write_timeout=0.2")
        with pytest.raises(TransportError, match="write timeout"):
            transport.write(b"\0" * 100_000)
        transport.close()
    finally:
        os.close(slave)
        os.close(master)


# --- helpers ---


def read_until(transport: SerialTransport, end: bytes, timeout: float = 2.0) -> bytes:
    data = b""
    for _ in range(int(timeout / 0.05)):
        data += transport.read(0.05)
        if data.endswith(end):
            return data
    raise AssertionError(f"no {end!r} in {data!r}")
