"""The sturdier Evolis link over real transports (in-process, a serial pty, simulated USB): open() lets a late
reply go by, a false error to the eject is checked before a good card is given up. Every outcome is held
against where the blank physically is in the simulator."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from structlog.testing import capture_logs

from drivers.base import Card, Outcome, PrinterOfflineError
from drivers.evolis import protocol
from drivers.evolis.driver import EvolisDriver
from drivers.evolis.protocol import Command
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.printer import SimPrinter
from drivers.sim.transport import InProcessTransport
from drivers.transport import Transport
from drivers.transports.reconnecting import ReconnectingTransport
from drivers.transports.serial import SerialTransport
from tests.conftest import card_png
from tests.sim_serial import pty_server

FAST = {"reply_timeout": 0.3, "motion_timeout": 2.0, "quiet_timeout": 0.02, "confirm_delay": 0}
CARD = Card(front=card_png(), back=card_png("BACK"), chip_payload=b"payload")
TRANSPORTS = ["inprocess", "serial", "usb"]


def sim(name: str, faults: str | None = None) -> SimHandle:
    return make_sim_printer(name, cards=5, seconds_per_card=0, faults=faults)


@contextmanager
def opener(kind: str, handle: SimHandle) -> Iterator[Callable[[], Transport]]:
    """A way to open a new link to ``handle``'s printer, as the station's reconnecting transport does."""
    if kind == "serial":
        with pty_server(handle.printer) as server:
            yield lambda: SerialTransport.from_url(f"serial://{server.path}?baudrate=115200")
    elif kind == "usb":
        from tests.sim_usb import usb_sim_link

        with usb_sim_link(handle) as transport:
            yield lambda: transport
    else:
        yield handle.connect


@contextmanager
def driver_for(kind: str, handle: SimHandle, **options: object) -> Iterator[EvolisDriver]:
    with opener(kind, handle) as open_link:
        driver = EvolisDriver(
            ReconnectingTransport(open_link, "test printer"), encoder=handle.encoder, **{**FAST, **options}
        )
        try:
            yield driver
        finally:
            driver.close()


def where(handle: SimHandle) -> tuple[int, int, int, int]:
    truth = handle.model.physical_truth()
    assert truth.balanced
    return truth.cards_fed, truth.in_hopper, truth.in_reject_box, truth.in_printer


# ---- a late reply ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["inprocess", "serial"])
def test_open_lets_a_late_reply_go_by_after_a_reconnect(kind: str) -> None:
    handle = sim(f"late-{kind}", "card 1: late reply before feeding")
    handle.printer.late_reply_seconds = 0.6  # twice the reply timeout: the driver has given up by then
    with driver_for(kind, handle, open_quiet=1.5) as driver:  # the quiet wait outlasts the reply by far
        driver.open()
        first = driver.print_card(CARD)
        assert first.outcome is Outcome.NOT_FED and "printer lost" in first.detail
        driver.close()  # the station drops the link it lost and opens a new one at once
        with capture_logs() as logs:
            info = driver.open()
        assert (info.model, info.serial_number) == ("Primacy", handle.model.serial)
        discarded = [e for e in logs if e["event"] == "evolis.stale_input_discarded"]
        assert discarded and discarded[0]["size"] == len(b"OK\r")  # the reply to Pr, sent before the reconnect
        assert driver.status().counters.cards_fed == 0
        assert driver.print_card(CARD).outcome is Outcome.PRINTED
        assert where(handle) == (1, 1, 0, 0)


def test_a_printer_that_never_stops_talking_does_not_hang_open() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    stop = threading.Event()

    def babble() -> None:
        while not stop.wait(0.01):
            try:
                os.write(master, b"\x1bnoise\r")
            except OSError:
                return

    thread = threading.Thread(target=babble, daemon=True)
    transport = SerialTransport.from_url(f"serial://{path}?baudrate=115200")
    thread.start()
    # The quiet window is 30 times the babbling interval, so a busy machine's scheduling gap is not taken for quiet.
    options = FAST | {"quiet_timeout": 0.3}
    driver = EvolisDriver(transport, **options, open_quiet=0.3, settle_limit=1.5)
    try:
        with pytest.raises(PrinterOfflineError, match=r"kept sending for 1\.5 s"):
            driver.open()
    finally:
        stop.set()
        thread.join(2)
        driver.close()
        os.close(master)


# ---- an error reply to the eject ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_false_eject_error_is_retried_and_the_card_is_good(kind: str) -> None:
    handle = sim(f"eject-spurious-{kind}", "card 1: spurious eject error")
    with driver_for(kind, handle) as driver:
        driver.open()
        result = driver.print_card(CARD)
        assert result.outcome is Outcome.PRINTED, result.detail
        assert where(handle) == (1, 1, 0, 0)
        assert result.chip_uid == handle.model.hopper[0].chip_uid
        assert result.counters_after is not None and result.counters_after.cards_fed == 1


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_an_eject_error_after_the_card_left_is_unknown_and_says_where_to_look(kind: str) -> None:
    handle = sim(f"eject-gone-{kind}", "card 1: eject error after eject")
    with driver_for(kind, handle) as driver:
        driver.open()
        result = driver.print_card(CARD)
        assert result.outcome is Outcome.UNKNOWN and result.category is None
        assert "output hopper" in result.detail
        assert where(handle) == (1, 1, 0, 0)  # it is there: a person has to look, the driver cannot tell
        assert driver.print_card(CARD).outcome is Outcome.PRINTED  # the next card is not blocked by it


@pytest.mark.parametrize("kind", ["inprocess", "serial"])
def test_a_real_condition_at_eject_spoils_the_card_as_before(kind: str) -> None:
    handle = sim(f"eject-jam-{kind}", "card 1: jam at eject")
    with driver_for(kind, handle) as driver:
        driver.open()
        result = driver.print_card(CARD)
        assert result.outcome is Outcome.SPOILED, result.detail
        assert where(handle) == (1, 0, 1, 0)


class VoltageSensorPrinter(SimPrinter):
    """A printer whose card sensor answers a voltage, as the guide documents, which the driver cannot read."""

    def execute(self, cmd: Command) -> bytes:
        if cmd.name == "Rse" and cmd.params == ("p",):
            return protocol.encode_reply("2.41")
        return super().execute(cmd)


def test_a_false_eject_error_with_no_sensor_answer_spoils_the_card_as_before() -> None:
    handle = sim("eject-no-sensor", "card 1: spurious eject error")
    printer = VoltageSensorPrinter(handle.model)
    driver = EvolisDriver(InProcessTransport(printer), encoder=handle.encoder, **FAST)
    driver.open()
    result = driver.print_card(CARD)
    assert result.outcome is Outcome.SPOILED
    assert where(handle) == (1, 0, 1, 0)
    driver.close()
