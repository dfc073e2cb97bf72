"""The usblp device-file transport, against a pty standing in for /dev/usb/lp0 with the simulator behind it."""

from __future__ import annotations

import errno
import os
import re

import pytest

from drivers.base import Card, Outcome, PrinterOfflineError
from drivers.evolis.driver import EvolisDriver
from drivers.sim import SimHandle, make_sim_printer
from drivers.transport import TransportError
from drivers.transports import usblp
from drivers.transports.usblp import UsblpTransport, UsblpURLError, parse_usblp_url
from tests.conftest import card_png
from tests.daemon_harness import wait_for
from tests.sim_serial import pty_server

FAST = {"reply_timeout": 0.5, "motion_timeout": 1.0, "quiet_timeout": 0.02, "confirm_delay": 0}


def sim() -> SimHandle:
    return make_sim_printer("usblp-test", cards=5, seconds_per_card=0, encoder=False)


class CountingTransport(UsblpTransport):
    """Counts the times the device file is opened."""

    opens = 0

    def _open(self) -> int:
        self.opens += 1
        return super()._open()


class HangUps:
    """The simulated printer, counting the times the host closed the device."""

    def __init__(self, handle: SimHandle) -> None:
        self.printer = handle.printer
        self.count = 0

    def receive(self, data: bytes) -> bytes:
        return self.printer.receive(data)

    def reset_link(self) -> None:
        self.count += 1
        self.printer.reset_link()


def test_urls() -> None:
    assert parse_usblp_url("usblp:///dev/usb/lp0") == ("/dev/usb/lp0", usblp.DEFAULT_WRITE_TIMEOUT)
    assert parse_usblp_url("usblp:///dev/usb/lp1?write_timeout=2") == ("/dev/usb/lp1", 2.0)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/dev/usb/lp0", "not a usblp URL"),
        ("serial:///dev/usb/lp0", "not a usblp URL"),
        ("usblp://", "absolute device path"),
        ("usblp://lp0", "absolute device path"),
        ("usblp:///dev/usb/lp0#x", "absolute device path"),
        ("usblp:///dev/usb/lp0?timeout=1", "one option is write_timeout"),
        ("usblp:///dev/usb/lp0?write_timeout=1&write_timeout=2", "one option is write_timeout"),
        ("usblp:///dev/usb/lp0?write_timeout", "name=value"),
        ("usblp:///dev/usb/lp0?write_timeout=0", "not seconds above 0"),
        ("usblp:///dev/usb/lp0?write_timeout=never", "not seconds above 0"),
    ],
)
def test_malformed_urls(url: str, says: str) -> None:
    with pytest.raises(UsblpURLError, match=re.escape(says)):
        parse_usblp_url(url)


def test_a_missing_device_names_what_to_check() -> None:
    with pytest.raises(PrinterOfflineError, match=r"/dev/usb/lp99 does not exist.*usblp module"):
        UsblpTransport.from_url("usblp:///dev/usb/lp99")


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.EACCES, "lp group.*udev rule"),
        (errno.EBUSY, "another process has it open.*CUPS"),
        (errno.ENODEV, "unplugged or switched off"),
    ],
)
def test_open_failures_say_what_to_fix(monkeypatch: pytest.MonkeyPatch, code: int, says: str) -> None:
    def refuse(path: str, flags: int, mode: int = 0o777) -> int:
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(usblp.os, "open", refuse)
    with pytest.raises(PrinterOfflineError, match=says):
        UsblpTransport("/dev/usb/lp0")


def test_the_device_is_closed_and_reopened_between_command_and_reply() -> None:
    handle = sim()
    printer = HangUps(handle)
    with pty_server(printer) as server:
        transport = CountingTransport(server.path)
        assert transport.opens == 1  # the check at construction
        transport.write(b"\x1bRsn\r")
        assert transport.opens == 2
        reply = b""
        while not reply.endswith(b"\r"):
            chunk = transport.read(1.0)
            assert chunk, "no reply"
            reply += chunk
        assert reply == handle.model.serial.encode() + b"\r"
        assert transport.opens == 3  # reopened for the reply, and kept open for the rest of it
        transport.close()
        wait_for(lambda: printer.count >= 1, 5, "the printer to see the host close the device", 0.01)


def test_a_card_prints_through_the_device_file() -> None:
    handle = sim()
    with pty_server(handle.printer) as server:
        driver = EvolisDriver(UsblpTransport.from_url(f"usblp://{server.path}"), **FAST)
        driver.open()
        result = driver.print_card(Card(front=card_png(), back=card_png("BACK", (648, 1016))))
        driver.close()
    assert result.outcome is Outcome.PRINTED
    truth = handle.model.physical_truth()
    assert (truth.cards_fed, truth.in_hopper) == (1, 1)


def test_a_vanished_device_is_a_transport_error() -> None:
    handle = sim()
    with pty_server(handle.printer) as server:
        transport = UsblpTransport(server.path)
        transport.write(b"\x1bRsn\r")
        server.stop()
        wait_for(lambda: server.closed, 5, "the pty to end", 0.01)
        with pytest.raises(TransportError, match=r"unplugged"):
            transport.read(1.0)
        with pytest.raises(TransportError, match=r"unplugged"):
            transport.write(b"\x1bRsn\r")
        transport.close()
        with pytest.raises(TransportError, match="closed"):
            transport.read(0)


def test_a_printer_that_takes_no_data_is_a_write_timeout() -> None:
    master, slave = os.openpty()  # nobody reads the master: the terminal's buffer fills up
    try:
        transport = UsblpTransport.from_url(f"usblp://{os.ttyname(slave)}?write_timeout=0.2")
        with pytest.raises(TransportError, match="write timeout"):
            transport.write(b"\0" * 100_000)
        transport.close()
    finally:
        os.close(slave)
        os.close(master)


def test_a_reply_that_never_comes_reads_empty() -> None:
    master, slave = os.openpty()
    try:
        transport = UsblpTransport(os.ttyname(slave))
        transport.write(b"\x1bRsn\r")
        assert transport.read(0.05) == b""
        transport.close()
    finally:
        os.close(slave)
        os.close(master)
