"""A serial-port Transport over pyserial: device paths and pyserial URLs, settings from a serial:// URL."""

# URL form: ``serial://<port>[?<option>=<value>&...]`` where <port> is
#
# * a device path: ``serial:///dev/ttyUSB0``, ``serial:///dev/serial/by-id/usb-...``, ``serial:///dev/pts/7``;
# * or any pyserial URL: ``serial://loop://``, ``serial://socket://host:port``, ``serial://rfc2217://host:port``,
#   ``serial://spy:///dev/ttyUSB0?file=/tmp/trace.txt`` (a hex dump of the traffic, for tracing a printer).
#
# Options (the defaults are pyserial's, 9600 8N1 without flow control):
#
#   baudrate       a whole number of bits a second (the printer's serial port is set with Evolis Pcom)
#   bytesize       5, 6, 7 or 8
#   parity         N, E, O, M or S (or none, even, odd)
#   stopbits       1, 1.5 or 2
#   xonxoff        software flow control: 1/0, true/false, yes/no, on/off
#   rtscts         hardware flow control, same values
#   exclusive      lock the port against other programs (flock), on by default
#   write_timeout  seconds a write may take beyond the data's own time on the wire (default 10)
#
# Any other option is an error for a device path; for a pyserial URL it is handed to that URL (``file`` of
# spy://, ``logging`` of loop://...), and pyserial checks it when the port is opened.

from __future__ import annotations

import contextlib
import errno
import importlib.util
import re
import urllib.parse
from dataclasses import dataclass
from typing import Protocol, cast

import serial

from drivers.base import PrinterOfflineError
from drivers.transport import TransportError

SCHEME = "serial://"
DEFAULT_WRITE_TIMEOUT = 10.0
MAX_BAUDRATE = 4_000_000

PARITIES = {"N": "N", "E": "E", "O": "O", "M": "M", "S": "S", "NONE": "N", "EVEN": "E", "ODD": "O"}
BYTESIZES = ("5", "6", "7", "8")
STOPBITS: dict[str, float] = {"1": 1, "1.5": 1.5, "2": 2}
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
OPTIONS = ("baudrate", "bytesize", "parity", "stopbits", "xonxoff", "rtscts", "exclusive", "write_timeout")

_PYSERIAL_URL = re.compile(r"([a-z][a-z0-9+]*)://", re.IGNORECASE)
_URL_REFUSED = "expected a string in the form"  # how every pyserial URL handler words a URL it refuses


class SerialURLError(ValueError):
    """A serial:// URL that cannot be used; the message names the URL and what is expected."""


@dataclass(frozen=True)
class SerialSettings:
    """What `parse_serial_url` reads: the port (a device path or a pyserial URL) and its line settings."""

    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    xonxoff: bool = False
    rtscts: bool = False
    exclusive: bool = True
    write_timeout: float = DEFAULT_WRITE_TIMEOUT

    def seconds_on_wire(self, size: int) -> float:
        """How long ``size`` bytes take on the line (start, data, parity and stop bits)."""
        bits = 1 + self.bytesize + (self.parity != "N") + self.stopbits
        return size * bits / self.baudrate


def parse_serial_url(url: str) -> SerialSettings:
    """Read a ``serial://`` URL (see the top of this module); SerialURLError says what is wrong."""
    if not url.startswith(SCHEME):
        raise SerialURLError(f"{url!r} is not a serial URL: expected serial:///dev/ttyUSB0 or serial://loop://")
    rest = url[len(SCHEME) :]
    if "#" in rest:
        raise SerialURLError(f"{url!r}: a serial URL has no #fragment")
    port, _, query = rest.partition("?")
    if not port:
        raise SerialURLError(f"{url!r} names no port: expected serial:///dev/ttyUSB0 or serial://loop://")
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise SerialURLError(f"{url!r}: the options are not name=value pairs joined by '&'") from None
    ours: dict[str, str] = {}
    passed: list[tuple[str, str]] = []
    for name, value in pairs:
        if name not in OPTIONS:
            passed.append((name, value))
        elif name in ours:
            raise SerialURLError(f"{url!r}: option {name!r} is given twice")
        else:
            ours[name] = value
    handler = _PYSERIAL_URL.match(port)
    if handler is None:
        if not port.startswith("/"):
            raise SerialURLError(f"{url!r}: the device path must be absolute, e.g. serial:///dev/ttyUSB0")
        if passed:
            raise SerialURLError(f"{url!r}: unknown option {passed[0][0]!r}; the options are {', '.join(OPTIONS)}")
    else:
        name = handler.group(1).lower()
        if importlib.util.find_spec(f"serial.urlhandler.protocol_{name}") is None:
            raise SerialURLError(f"{url!r}: pyserial knows no {name}:// ports (loop://, spy://, socket://...)")
        if passed:
            port = f"{port}?{urllib.parse.urlencode(passed)}"
    return _settings(url, port, ours)


def _settings(url: str, port: str, raw: dict[str, str]) -> SerialSettings:
    def bad(name: str, expected: str) -> SerialURLError:
        return SerialURLError(f"{url!r}: {name} {raw[name]!r} is not {expected}")

    settings = SerialSettings(port)
    baudrate, bytesize, parity, stopbits = settings.baudrate, settings.bytesize, settings.parity, settings.stopbits
    flags = {"xonxoff": settings.xonxoff, "rtscts": settings.rtscts, "exclusive": settings.exclusive}
    write_timeout = settings.write_timeout
    if "baudrate" in raw:
        text = raw["baudrate"]
        if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_BAUDRATE:
            raise bad("baudrate", f"a whole number from 1 to {MAX_BAUDRATE}")
        baudrate = int(text)
    if "bytesize" in raw:
        if raw["bytesize"] not in BYTESIZES:
            raise bad("bytesize", "5, 6, 7 or 8")
        bytesize = int(raw["bytesize"])
    if "parity" in raw:
        if raw["parity"].upper() not in PARITIES:
            raise bad("parity", "N, E, O, M or S")
        parity = PARITIES[raw["parity"].upper()]
    if "stopbits" in raw:
        if raw["stopbits"] not in STOPBITS:
            raise bad("stopbits", "1, 1.5 or 2")
        stopbits = STOPBITS[raw["stopbits"]]
    for name in flags:
        if name in raw:
            if raw[name].lower() not in BOOLEANS:
                raise bad(name, "1/0, true/false, yes/no or on/off")
            flags[name] = BOOLEANS[raw[name].lower()]
    if "write_timeout" in raw:
        try:
            write_timeout = float(raw["write_timeout"])
        except ValueError:
            write_timeout = -1.0
        if not 0 < write_timeout < float("inf"):
            raise bad("write_timeout", "a number of seconds above 0")
    return SerialSettings(
        port,
        baudrate=baudrate,
        bytesize=bytesize,
        parity=parity,
        stopbits=stopbits,
        xonxoff=flags["xonxoff"],
        rtscts=flags["rtscts"],
        exclusive=flags["exclusive"],
        write_timeout=write_timeout,
    )


class _Port(Protocol):
    """The part of a pyserial port this transport uses (pyserial has no type hints)."""

    timeout: float | None
    write_timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def reset_output_buffer(self) -> None: ...

    def open(self) -> None: ...

    def close(self) -> None: ...


class SerialTransport:
    """`drivers.transport.Transport` over a pyserial port. `from_url` and `open` open the port and raise
    PrinterOfflineError when it cannot be opened. Not thread-safe: one caller, like the driver."""

    def __init__(self, port: _Port, settings: SerialSettings) -> None:
        self._port = port
        self.settings = settings
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> SerialTransport:
        return cls.open(parse_serial_url(url))

    @classmethod
    def open(cls, settings: SerialSettings) -> SerialTransport:
        try:
            port = cast(
                _Port,
                serial.serial_for_url(
                    settings.port,
                    do_not_open=True,
                    baudrate=settings.baudrate,
                    bytesize=settings.bytesize,
                    parity=settings.parity,
                    stopbits=settings.stopbits,
                    xonxoff=settings.xonxoff,
                    rtscts=settings.rtscts,
                    exclusive=settings.exclusive,
                ),
            )
            port.open()
        except serial.SerialException as exc:
            if _URL_REFUSED in str(exc):
                raise SerialURLError(f"serial port {settings.port}: {exc}") from None
            raise PrinterOfflineError(_open_failure(settings.port, exc)) from exc
        except (ValueError, KeyError) as exc:  # a setting the port refuses (pyserial's loop:// raises KeyError)
            raise SerialURLError(f"serial port {settings.port} refuses its settings: {exc!r}") from None
        return cls(port, settings)

    def write(self, data: bytes) -> None:
        self._check()
        settings = self.settings
        try:
            self._port.write_timeout = settings.write_timeout + settings.seconds_on_wire(len(data))
            self._port.write(bytes(data))
        except serial.SerialTimeoutException:
            self._discard_output()
            raise TransportError(
                f"write timeout on serial port {settings.port}: the printer took no data for "
                f"{settings.write_timeout:g} s (flow control holding, cable, printer off?)"
            ) from None
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"serial port {settings.port} failed while writing: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        self._check()
        port = self._port
        try:
            waiting = port.in_waiting
            if waiting:
                return port.read(waiting)
            port.timeout = max(timeout, 0.0)
            first = port.read(1)
            more = port.in_waiting if first else 0
            return first + port.read(more) if more else first
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"serial port {self.settings.port} is gone: {exc}") from exc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(serial.SerialException, OSError):  # a vanished port is closed all the same
                self._port.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check(self) -> None:
        if self._closed:
            raise TransportError(f"serial port {self.settings.port} is closed")

    def _discard_output(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):  # the write's own error is the one to report
            self._port.reset_output_buffer()


def _open_failure(port: str, exc: BaseException) -> str:
    """The sentence a person needs when ``port`` cannot be opened."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.ENOENT:
        return (
            f"serial port {port} does not exist: is the printer's serial cable or USB-serial adapter plugged in? "
            "(see /dev/serial/by-id/)"
        )
    if code in (errno.EACCES, errno.EPERM):
        return f"no permission to open serial port {port}: add the printd user to the dialout group"
    if code in (errno.EBUSY, errno.EAGAIN):
        return f"serial port {port} is busy: another program (another printd, a terminal, ModemManager) holds it"
    if code in (errno.ENODEV, errno.ENXIO, errno.EIO):
        return f"serial port {port} is there but its device is not: unplugged or powered off?"
    return f"serial port {port} cannot be opened: {exc}"
