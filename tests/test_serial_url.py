"""serial:// URLs: what they set, every way one can be wrong, and what opening a port that fails says."""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

import pytest
import serial

from drivers.base import PrinterOfflineError
from drivers.transport import TransportError
from drivers.transports.serial import SerialSettings, SerialTransport, SerialURLError, parse_serial_url


def test_a_device_path_with_pyserial_defaults() -> None:
    settings = parse_serial_url("serial:///dev/ttyUSB0")
    assert settings == SerialSettings("/dev/ttyUSB0")
    assert (settings.baudrate, settings.bytesize, settings.parity, settings.stopbits) == (9600, 8, "N", 1)
    assert (settings.xonxoff, settings.rtscts, settings.exclusive) == (False, False, True)


def test_every_option() -> None:
    url = (
        "serial:///dev/serial/by-id/usb-printer-if00?baudrate=115200&bytesize=7&parity=even&stopbits=2"
        "&xonxoff=yes&rtscts=1&exclusive=off&write_timeout=2.5"
    )
    assert parse_serial_url(url) == SerialSettings(
        "/dev/serial/by-id/usb-printer-if00",
        baudrate=115200,
        bytesize=7,
        parity="E",
        stopbits=2,
        xonxoff=True,
        rtscts=True,
        exclusive=False,
        write_timeout=2.5,
    )


def test_a_pyserial_url_keeps_its_own_options() -> None:
    settings = parse_serial_url("serial://spy:///dev/ttyUSB0?file=/tmp/trace.txt&baudrate=19200&parity=o")
    assert settings.port == "spy:///dev/ttyUSB0?file=%2Ftmp%2Ftrace.txt"
    assert (settings.baudrate, settings.parity) == (19200, "O")
    assert parse_serial_url("serial://loop://").port == "loop://"


def test_time_on_the_wire() -> None:
    assert parse_serial_url("serial:///dev/ttyS0?baudrate=9600").seconds_on_wire(960) == pytest.approx(1.0)
    assert parse_serial_url("serial:///dev/ttyS0?baudrate=1200&parity=E&stopbits=2").seconds_on_wire(
        100
    ) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "not a serial URL"),
        ("/dev/ttyUSB0", "not a serial URL"),
        ("serial:/dev/ttyUSB0", "not a serial URL"),
        ("usb://0x0f49:0x1234", "not a serial URL"),
        ("serial://", "names no port"),
        ("serial://?baudrate=9600", "names no port"),
        ("serial://ttyUSB0", "must be absolute"),
        ("serial:///dev/ttyUSB0#x", "no #fragment"),
        ("serial://nosuch://x", "knows no nosuch://"),
        ("serial:///dev/ttyUSB0?speed=9600", "unknown option 'speed'"),
        ("serial:///dev/ttyUSB0?baudrate", "name=value"),
        ("serial:///dev/ttyUSB0?baudrate=9600&&rtscts=1", "name=value"),
        ("serial:///dev/ttyUSB0?baudrate=9600&baudrate=115200", "given twice"),
        ("serial:///dev/ttyUSB0?baudrate=", "baudrate '' is not"),
        ("serial:///dev/ttyUSB0?baudrate=fast", "baudrate 'fast' is not"),
        ("serial:///dev/ttyUSB0?baudrate=0", "baudrate '0' is not"),
        ("serial:///dev/ttyUSB0?baudrate=-9600", "baudrate '-9600' is not"),
        ("serial:///dev/ttyUSB0?baudrate=9600.5", "baudrate '9600.5' is not"),
        ("serial:///dev/ttyUSB0?baudrate=99999999", "baudrate '99999999' is not"),
        ("serial:///dev/ttyUSB0?bytesize=9", "bytesize '9' is not"),
        ("serial:///dev/ttyUSB0?parity=X", "parity 'X' is not"),
        ("serial:///dev/ttyUSB0?stopbits=3", "stopbits '3' is not"),
        ("serial:///dev/ttyUSB0?rtscts=maybe", "rtscts 'maybe' is not"),
        ("serial:///dev/ttyUSB0?xonxoff=", "xonxoff '' is not"),
        ("serial:///dev/ttyUSB0?write_timeout=0", "write_timeout '0' is not"),
        ("serial:///dev/ttyUSB0?write_timeout=soon", "write_timeout 'soon' is not"),
        ("serial:///dev/ttyUSB0?write_timeout=inf", "write_timeout 'inf' is not"),
    ],
)
def test_malformed_urls(url: str, says: str) -> None:
    with pytest.raises(SerialURLError, match=re.escape(says)):
        parse_serial_url(url)


@pytest.mark.parametrize("url", ["serial://loop://?logging=loud", "serial://loop://?colour=1"])
def test_options_a_pyserial_url_refuses(url: str) -> None:
    with pytest.raises(SerialURLError):
        SerialTransport.from_url(url)


def test_loop_round_trip() -> None:
    transport = SerialTransport.from_url("serial://loop://?baudrate=115200")
    transport.write(b"\x1bRfv\r")
    assert transport.read(1.0) == b"\x1bRfv\r"
    started = time.monotonic()
    assert transport.read(0.05) == b""
    assert time.monotonic() - started >= 0.04
    transport.close()
    transport.close()
    with pytest.raises(TransportError, match="closed"):
        transport.read(0)
    with pytest.raises(TransportError, match="closed"):
        transport.write(b"x")


def test_a_missing_device_names_what_to_check() -> None:
    with pytest.raises(PrinterOfflineError, match=r"/dev/ttyNOSUCH9 does not exist.*plugged in"):
        SerialTransport.from_url("serial:///dev/ttyNOSUCH9")


def test_permission_denied_names_the_dialout_group(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: str, flags: int, mode: int = 0o777) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(serial.serialposix.os, "open", refuse)
    with pytest.raises(PrinterOfflineError, match="dialout group"):
        SerialTransport.from_url("serial:///dev/ttyS0")


def test_a_port_held_by_another_program_is_busy() -> None:
    master, slave = os.openpty()
    try:
        first = SerialTransport.from_url(f"serial://{os.ttyname(slave)}")
        with pytest.raises(PrinterOfflineError, match="busy"):
            SerialTransport.from_url(f"serial://{os.ttyname(slave)}")
        first.close()
        SerialTransport.from_url(f"serial://{os.ttyname(slave)}?exclusive=0").close()
    finally:
        os.close(slave)
        os.close(master)


def test_spy_traces_the_traffic(tmp_path: Path) -> None:
    master, slave = os.openpty()
    trace = tmp_path / "trace.txt"
    try:
        transport = SerialTransport.from_url(f"serial://spy://{os.ttyname(slave)}?file={trace}&baudrate=115200")
        transport.write(b"\x1bRsn\r")
        transport.close()
    finally:
        os.close(slave)
        os.close(master)
    assert "1B 52 73 6E 0D" in trace.read_text()
