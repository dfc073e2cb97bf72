"""The transport URL dispatcher and the reconnecting link: a printer away at start-up is reached once it is back."""

from __future__ import annotations

import pytest

from drivers.base import Outcome, PrinterOfflineError
from drivers.evolis.driver import EvolisDriver
from drivers.sim import make_sim_printer
from drivers.sim.transport import InProcessTransport
from drivers.transport import Transport, TransportError
from drivers.transports import ReconnectingTransport, open_transport
from tests.test_contract import ONE_SIDED


@pytest.mark.parametrize("url", ["usb://0F49:0001", "serial:///dev/ttyUSB0?baudrate=115200", "usblp:///dev/usb/lp0"])
def test_urls_are_checked_without_opening(url: str) -> None:
    transport = open_transport(url)
    assert isinstance(transport, ReconnectingTransport) and not transport.connected


@pytest.mark.parametrize("url", ["lpt://1", "usb://zz:01", "serial://", "usblp://relative"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        open_transport(url)


def test_an_absent_printer_is_offline_with_the_reason() -> None:
    driver = EvolisDriver(open_transport("serial:///dev/ttyPRINTD-NONE?baudrate=9600"))
    with pytest.raises(PrinterOfflineError) as info:
        driver.open()
    assert "/dev/ttyPRINTD-NONE" in str(info.value)


def test_reconnects_after_the_link_was_lost() -> None:
    handle = make_sim_printer("reconnect", cards=20, seconds_per_card=0)
    opened: list[InProcessTransport] = []
    available = {"now": False}

    def opener() -> Transport:
        if not available["now"]:
            raise PrinterOfflineError("not plugged in")
        opened.append(InProcessTransport(handle.printer))  # a new link each time, as a new USB handle would be
        return opened[-1]

    link = ReconnectingTransport(opener, "sim")
    driver = EvolisDriver(link, encoder=handle.encoder, quiet_timeout=0.02, confirm_delay=0)
    with pytest.raises(PrinterOfflineError, match="not plugged in"):
        driver.open()
    available["now"] = True
    driver.open()
    assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED
    opened[-1].unplug()  # the cable is pulled: the next call fails, the station closes the driver
    with pytest.raises(PrinterOfflineError):
        driver.status()
    driver.close()
    assert not link.connected
    driver.open()  # plugged back in: a new link
    assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED
    assert len(opened) == 2 and handle.model.physical_truth().in_hopper == 2


def test_opener_failure_is_a_transport_error() -> None:
    def opener() -> Transport:
        raise PrinterOfflineError("no USB printer 0F49:0001 found")

    link = ReconnectingTransport(opener, "usb://0F49:0001")
    with pytest.raises(TransportError, match="no USB printer"):
        link.write(b"x")
