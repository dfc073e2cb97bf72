"""USB printer-class transport over pyusb: find the printer, claim its bi-directional interface, move bytes."""

# Opening: find the device by vendor:product id (and serial number), take its printer-class interface
# (class 7) in the bi-directional setting (protocol 2; protocol 1 is uni-directional and never answers),
# detach a kernel driver bound to it (usblp), claim it, select the setting. close() undoes this in reverse
# and gives the interface back to the kernel driver it was taken from.

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import structlog
import usb.core
import usb.util

from drivers.base import PrinterOfflineError
from drivers.transport import TransportError

log = structlog.get_logger("drivers.transports.usb")

PRINTER_CLASS = 7
UNIDIRECTIONAL = 1
BIDIRECTIONAL = 2
UDEV_RULE = "systemd/70-printd.rules"
PROC_ROOT = Path("/proc")
"""Where the processes holding a device node are looked for."""

# Errors after which the device is not there any more (ENOENT/EPIPE: what a transfer cut short by an
# unplugged cable reports on some host controllers).
_GONE = frozenset({errno.ENODEV, errno.ENOENT, errno.EPIPE})
_GET_DEVICE_ID = 0
_CLASS_INTERFACE_IN = 0xA1
_CONTROL_TIMEOUT_MS = 1000
_READ_PACKETS = 16
_IDS = re.compile(r"([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})")
_URL_FORMAT = "expected usb://VID:PID or usb://VID:PID?serial=SERIAL with 4-digit hexadecimal ids, e.g. usb://0F49:0001"


class UsbUrlError(ValueError):
    """A ``usb://`` address that cannot be understood."""


class UsbOpenError(PrinterOfflineError):
    """The USB printer could not be opened; the message says what to do."""


class UsbNotFoundError(UsbOpenError):
    """No USB device with the configured ids (and serial number)."""


class UsbPermissionError(UsbOpenError):
    """The device node may not be opened by this user (EACCES)."""


class UsbBusyError(UsbOpenError):
    """Another driver or process holds the printer interface (EBUSY)."""


class UsbInterfaceError(UsbOpenError):
    """The device has no printer interface that can answer (class 7, protocol 2, bulk OUT and IN)."""


@dataclass(frozen=True)
class UsbAddress:
    """Which USB printer: vendor and product id, and the serial number when several may be connected."""

    vendor_id: int
    product_id: int
    serial_number: str | None = None

    @property
    def ids(self) -> str:
        return f"{self.vendor_id:04X}:{self.product_id:04X}"

    @property
    def url(self) -> str:
        query = "" if self.serial_number is None else "?serial=" + quote(self.serial_number, safe="")
        return f"usb://{self.ids}{query}"

    def __str__(self) -> str:
        return self.url


def parse_usb_url(url: str) -> UsbAddress:
    """``usb://VID:PID`` or ``usb://VID:PID?serial=SERIAL`` (ids in hexadecimal, as lsusb shows them)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "usb":
        raise UsbUrlError(f"{url!r} is not a USB address: {_URL_FORMAT}")
    ids = _IDS.fullmatch(parts.netloc)
    if ids is None:
        raise UsbUrlError(f"bad vendor:product ids {parts.netloc!r} in {url!r}: {_URL_FORMAT}")
    if parts.path not in ("", "/") or parts.fragment:
        raise UsbUrlError(f"unexpected path or fragment in {url!r}: {_URL_FORMAT}")
    try:
        options = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise UsbUrlError(f"bad options {parts.query!r} in {url!r}: {_URL_FORMAT}") from None
    serial: str | None = None
    for key, value in options:
        if key != "serial":
            raise UsbUrlError(f"unknown option {key!r} in {url!r}: the only option is serial=SERIAL")
        if serial is not None:
            raise UsbUrlError(f"serial given twice in {url!r}")
        if not value:
            raise UsbUrlError(f"empty serial number in {url!r}: {_URL_FORMAT}")
        serial = value
    return UsbAddress(int(ids[1], 16), int(ids[2], 16), serial)


def processes_holding(path: str, proc: Path | None = None) -> list[str]:
    """The processes that have ``path`` open, as ``name (pid N)``; processes this user may not inspect are
    not seen."""
    root = PROC_ROOT if proc is None else proc
    try:
        pids = sorted((entry for entry in root.iterdir() if entry.name.isdigit()), key=lambda e: int(e.name))
    except OSError:
        return []
    found: list[str] = []
    for entry in pids:
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target == path:
                try:
                    name = (entry / "comm").read_text().strip()
                except OSError:
                    name = "?"
                found.append(f"{name} (pid {entry.name})")
                break
    return found


@dataclass(frozen=True)
class _Claim:
    device: Any  # usb.core.Device
    address: UsbAddress
    node: str | None
    interface: int
    alternate: int
    ep_out: int
    ep_in: int
    read_size: int
    reattach: bool
    device_id: str | None


class UsbTransport:
    """`drivers.transport.Transport` over a USB printer-class interface: bulk OUT to the printer, bulk IN
    from it. Open it with `open` or `from_url`.

    ``read(timeout)`` returns b"" when nothing arrives in time. A printer that goes away (unplugged,
    switched off) makes this and every later call raise TransportError; open a new transport when it is
    back. ``close`` releases the interface and re-attaches the kernel driver it was taken from.
    """

    def __init__(self, claim: _Claim, *, write_timeout: float) -> None:
        self._claim = claim
        self.write_timeout = write_timeout
        self._closed = False
        self._gone: str | None = None

    @classmethod
    def open(
        cls,
        vendor_id: int,
        product_id: int,
        serial_number: str | None = None,
        *,
        backend: object | None = None,
        write_timeout: float = 30.0,
    ) -> UsbTransport:
        """Find and claim the printer. ``backend`` is a pyusb backend (libusb 1.0 when None).
        ``write_timeout`` bounds a write during which the printer takes no data. Raises UsbOpenError
        (a PrinterOfflineError) with a message that says what to do."""
        device, serial = _find(UsbAddress(vendor_id, product_id, serial_number), backend)
        claim = _take(device, UsbAddress(vendor_id, product_id, serial))
        log.info(
            "usb.opened",
            ids=claim.address.ids,
            serial=claim.address.serial_number,
            node=claim.node,
            interface=claim.interface,
            alternate=claim.alternate,
            device_id=claim.device_id,
        )
        return cls(claim, write_timeout=write_timeout)

    @classmethod
    def from_url(cls, url: str, *, backend: object | None = None, write_timeout: float = 30.0) -> UsbTransport:
        """`open` the printer a ``usb://VID:PID[?serial=SERIAL]`` address names (UsbUrlError if malformed)."""
        address = parse_usb_url(url)
        return cls.open(
            address.vendor_id,
            address.product_id,
            address.serial_number,
            backend=backend,
            write_timeout=write_timeout,
        )

    @property
    def address(self) -> UsbAddress:
        """The printer's ids and serial number as read from the device."""
        return self._claim.address

    @property
    def node(self) -> str | None:
        """The device node, /dev/bus/usb/BBB/DDD, when the backend knows bus and address."""
        return self._claim.node

    @property
    def interface(self) -> tuple[int, int]:
        """Interface number and alternate setting in use."""
        return self._claim.interface, self._claim.alternate

    @property
    def device_id(self) -> str | None:
        """The IEEE 1284 device ID (``MFG:...;MDL:...;``) the printer gave when opened, if it gave one."""
        return self._claim.device_id

    def write(self, data: bytes) -> None:
        device = self._usable()
        timeout = _milliseconds(self.write_timeout)
        sent = 0
        while sent < len(data):
            try:
                count = int(device.write(self._claim.ep_out, data[sent:], timeout))
            except usb.core.USBTimeoutError:
                count = 0
            except usb.core.USBError as exc:
                raise self._failed(exc) from exc
            if count <= 0:
                raise TransportError(
                    f"the printer took no data for {self.write_timeout:g} s "
                    f"(USB {self.address.ids}, {sent} of {len(data)} bytes sent)"
                )
            sent += count

    def read(self, timeout: float) -> bytes:
        device = self._usable()
        try:
            data = device.read(self._claim.ep_in, self._claim.read_size, _milliseconds(timeout))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            raise self._failed(exc) from exc
        return bytes(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        claim = self._claim
        _give_back(claim.device, claim.interface, claim.reattach)
        log.info("usb.closed", ids=claim.address.ids, node=claim.node)

    def _usable(self) -> Any:
        if self._closed:
            raise TransportError("the USB link to the printer is closed")
        if self._gone is not None:
            raise TransportError(self._gone)
        return self._claim.device

    def _failed(self, exc: usb.core.USBError) -> TransportError:
        reason = _strerror(exc)
        if exc.errno in _GONE:
            self._gone = f"the printer was unplugged or switched off (USB {self.address.ids}: {reason})"
            log.warning("usb.gone", ids=self.address.ids, error=reason)
            return TransportError(self._gone)
        return TransportError(f"USB transfer with the printer failed (USB {self.address.ids}: {reason})")


def _milliseconds(seconds: float) -> int:
    # libusb takes a timeout of 0 as "wait for ever"
    return max(1, math.ceil(seconds * 1000))


def _strerror(exc: usb.core.USBError) -> str:
    name = errno.errorcode.get(exc.errno) if exc.errno is not None else None
    text = str(exc.strerror or exc)
    return f"{text} [{name}]" if name else text


def _ids(device: Any) -> str:
    return f"{int(device.idVendor):04X}:{int(device.idProduct):04X}"


def _node(device: Any) -> str | None:
    bus, address = getattr(device, "bus", None), getattr(device, "address", None)
    if bus is None or address is None:
        return None
    return f"/dev/bus/usb/{int(bus):03d}/{int(address):03d}"


def _where(address: UsbAddress, node: str | None) -> str:
    return f"{address.ids} ({node})" if node else address.ids


# ---------------------------------------------------------------------------------------- finding it


def _find(wanted: UsbAddress, backend: object | None) -> tuple[Any, str | None]:
    """The device ``wanted`` names, and its serial number."""
    try:
        devices = list(usb.core.find(find_all=True, backend=backend))
    except usb.core.NoBackendError:
        raise UsbOpenError("no USB library found: install libusb 1.0 (Debian package libusb-1.0-0)") from None
    except usb.core.USBError as exc:
        raise UsbOpenError(f"the USB devices could not be listed ({_strerror(exc)})") from exc
    candidates = [d for d in devices if int(d.idVendor) == wanted.vendor_id and int(d.idProduct) == wanted.product_id]
    serials: list[str | None] = []
    denied: list[Any] = []
    for device in candidates:
        try:
            serials.append(_read_serial(device))
        except usb.core.USBError:
            serials.append(None)
            denied.append(device)
    chosen: Any = None
    if wanted.serial_number is not None:
        chosen = next((d for d, s in zip(candidates, serials, strict=True) if s == wanted.serial_number), None)
    elif len(candidates) > 1:
        _dispose(candidates)
        listed = ", ".join(s or "unreadable" for s in serials)
        raise UsbOpenError(
            f"{len(candidates)} USB printers {wanted.ids} are connected (serial numbers: {listed}): name one in "
            f'the configuration, e.g. transport = "usb://{wanted.ids}?serial=SERIAL"'
        )
    elif candidates and not denied:
        chosen = candidates[0]
    if chosen is None:
        _dispose(candidates)
        if denied:
            first = denied[0]
            raise _permission(_where(wanted, _node(first)))
        raise _not_found(wanted, devices, dict(zip(map(id, candidates), serials, strict=True)))
    _dispose(d for d in candidates if d is not chosen)
    return chosen, serials[candidates.index(chosen)]


def _read_serial(device: Any) -> str | None:
    """The serial number string; USBError only when the device cannot be opened (EACCES)."""
    if not device.iSerialNumber:
        return None
    try:
        langids = usb.util.get_langids(device)
        if not langids:
            return None
        return str(usb.util.get_string(device, device.iSerialNumber, langids[0]))
    except usb.core.USBError as exc:
        if exc.errno == errno.EACCES:
            raise
        return None
    except ValueError:
        return None


def _dispose(devices: Any) -> None:
    for device in devices:
        with contextlib.suppress(usb.core.USBError):
            usb.util.dispose_resources(device)


def _not_found(wanted: UsbAddress, devices: list[Any], serials: dict[int, str | None]) -> UsbNotFoundError:
    seen: list[str] = []
    for device in devices:
        serial = serials.get(id(device))
        label = _ids(device) + (f" (serial {serial})" if serial else "")
        if label not in seen:
            seen.append(label)
    what = f"no USB printer {wanted.ids}"
    if wanted.serial_number is not None:
        what += f" with serial number {wanted.serial_number}"
    return UsbNotFoundError(
        f"{what} found (USB devices seen: {', '.join(seen) or 'none'}): check that the printer is switched on "
        f'and its USB cable plugged in, and that the configuration names it (transport = "{wanted.url}")'
    )


# -------------------------------------------------------------------------------------- claiming it


def _take(device: Any, address: UsbAddress) -> _Claim:
    node = _node(device)
    number: int | None = None
    reattach = False
    try:
        configuration = _configuration(device)
        setting, ep_out, ep_in = _printer_interface(configuration, _where(address, node))
        number = int(setting.bInterfaceNumber)
        reattach = _detach_kernel_driver(device, number)
        usb.util.claim_interface(device, number)
        device_id = _device_id(device, number)
        alternate = int(setting.bAlternateSetting)
        if sum(1 for s in configuration if int(s.bInterfaceNumber) == number) > 1:
            device.set_interface_altsetting(number, alternate)
    except usb.core.USBError as exc:
        _give_back(device, number, reattach)
        raise _open_error(exc, address, node) from exc
    except Exception:
        _give_back(device, number, reattach)
        raise
    return _Claim(
        device=device,
        address=address,
        node=node,
        interface=number,
        alternate=alternate,
        ep_out=int(ep_out.bEndpointAddress),
        ep_in=int(ep_in.bEndpointAddress),
        read_size=_READ_PACKETS * max(int(ep_in.wMaxPacketSize), 64),
        reattach=reattach,
        device_id=device_id,
    )


def _configuration(device: Any) -> Any:
    try:
        return device.get_active_configuration()
    except usb.core.USBError as exc:
        if exc.errno is not None:
            raise
    # pyusb's "Configuration not set": the device is unconfigured; take its first configuration
    device.set_configuration()
    return device.get_active_configuration()


def _printer_interface(configuration: Any, where: str) -> tuple[Any, Any, Any]:
    """The bi-directional printer setting and its bulk OUT and IN endpoints."""
    settings = [s for s in configuration if int(s.bInterfaceClass) == PRINTER_CLASS]
    for setting in settings:
        if int(setting.bInterfaceProtocol) == BIDIRECTIONAL:
            ep_out = _bulk_endpoint(setting, usb.util.ENDPOINT_OUT)
            ep_in = _bulk_endpoint(setting, usb.util.ENDPOINT_IN)
            if ep_out is not None and ep_in is not None:
                return setting, ep_out, ep_in
    if not settings:
        raise UsbInterfaceError(f"the USB device {where} has no printer interface (class 7): is it the card printer?")
    if all(int(s.bInterfaceProtocol) == UNIDIRECTIONAL for s in settings):
        raise UsbInterfaceError(
            f"the USB printer {where} offers only a uni-directional printer interface (7/1/1): it takes "
            "commands but never answers, so its status and card counter cannot be read. The driver needs the "
            "bi-directional interface (7/1/2): check the printer's USB settings"
        )
    found = ", ".join(
        sorted({f"{int(s.bInterfaceClass)}/{int(s.bInterfaceSubClass)}/{int(s.bInterfaceProtocol)}" for s in settings})
    )
    raise UsbInterfaceError(
        f"the USB printer {where} has no bi-directional printer interface (7/1/2) with bulk OUT and IN "
        f"endpoints (it offers {found})"
    )


def _bulk_endpoint(setting: Any, direction: int) -> Any:
    return usb.util.find_descriptor(
        setting,
        custom_match=lambda e: (
            usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
            and usb.util.endpoint_direction(e.bEndpointAddress) == direction
        ),
    )


def _detach_kernel_driver(device: Any, number: int) -> bool:
    """Detach the kernel driver (usblp) bound to the interface; True if one was."""
    try:
        active = bool(device.is_kernel_driver_active(number))
    except NotImplementedError:  # a platform without kernel drivers to detach
        return False
    if not active:
        return False
    device.detach_kernel_driver(number)
    log.info("usb.kernel_driver_detached", ids=_ids(device), interface=number)
    return True


def _device_id(device: Any, number: int) -> str | None:
    """The IEEE 1284 device ID (printer class GET_DEVICE_ID), or None."""
    # pyusb claims interface (wIndex & 0xFF) before an interface request, but the printer class puts the
    # alternate setting there (wIndex = interface << 8 | setting). Asked as setting 0 of interface 0, that is
    # the interface already claimed; for another interface pyusb would claim a foreign one, so don't ask.
    if number != 0:
        return None
    try:
        raw = bytes(device.ctrl_transfer(_CLASS_INTERFACE_IN, _GET_DEVICE_ID, 0, 0, 1023, _CONTROL_TIMEOUT_MS))
    except (usb.core.USBError, ValueError):
        return None
    length = int.from_bytes(raw[:2], "big")
    text = raw[2:length].decode("ascii", "replace").strip()
    return text or None


def _give_back(device: Any, number: int | None, reattach: bool) -> None:
    """Release the interface, re-attach the kernel driver taken from it, close the device handle."""
    if number is not None:
        with contextlib.suppress(usb.core.USBError):
            usb.util.release_interface(device, number)
        if reattach:
            try:
                device.attach_kernel_driver(number)
            except (usb.core.USBError, NotImplementedError) as exc:
                log.warning("usb.kernel_driver_not_reattached", ids=_ids(device), interface=number, error=str(exc))
    with contextlib.suppress(usb.core.USBError):
        usb.util.dispose_resources(device)


def _open_error(exc: usb.core.USBError, address: UsbAddress, node: str | None) -> UsbOpenError:
    where = _where(address, node)
    if exc.errno == errno.EACCES:
        return _permission(where)
    if exc.errno == errno.EBUSY:
        return _busy(where, node)
    if exc.errno == errno.ENODEV:
        return UsbOpenError(f"the USB printer {where} went away while it was being opened: check its cable and power")
    return UsbOpenError(f"the USB printer {where} could not be opened ({_strerror(exc)})")


def _permission(where: str) -> UsbPermissionError:
    return UsbPermissionError(
        f"permission denied on the USB printer {where}: install the udev rule {UDEV_RULE} (copy it to "
        "/etc/udev/rules.d/, then run `udevadm control --reload` and `udevadm trigger`), which gives group "
        "printd access to the printer; make sure printd runs in group printd, then unplug the printer and plug "
        "it back in"
    )


def _busy(where: str, node: str | None) -> UsbBusyError:
    holders = processes_holding(node) if node else []
    if holders:
        held = f"; {', '.join(holders)} has it open"
    elif node:
        held = f"; `sudo fuser -v {node}` shows who has it open"
    else:
        held = ""
    return UsbBusyError(
        f"the USB printer {where} is in use by another driver or program{held}. The usual ones: the usblp "
        "kernel module (`sudo modprobe -r usblp`), the ipp-usb service (`sudo systemctl stop ipp-usb`), or a "
        "CUPS queue printing to it through CUPS's usb backend (remove the queue or stop cups). Stop it and try "
        "again"
    )
