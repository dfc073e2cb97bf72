"""A pyusb backend with simulated USB card printers on its bus: their bulk transfers reach a SimPrinter."""

# It behaves as pyusb's libusb 1.0 backend does on Linux, as far as a host program can see: errors are
# USBError carrying libusb's error code and the errno pyusb maps it to (a transfer that times out raises
# USBTimeoutError, as pyusb's libusb1 backend does); a timeout of 0 waits for ever; a kernel driver (usblp)
# is bound to the printer interface until detached; an interface held by a kernel driver or another handle
# cannot be claimed (EBUSY); an unplugged device answers ENODEV; the printer-class GET_DEVICE_ID request
# is accepted for the printer interface whatever the claims (as Linux's usbfs allows it).
#
# bulk_write runs the printer in the caller's thread, mechanical time included (like InProcessTransport),
# whatever its timeout; the replies wait for bulk_read.

from __future__ import annotations

import array
import errno
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import usb.backend
import usb.core
from usb.backend import libusb1

from drivers.sim.model import Condition
from drivers.sim.printer import SimPrinter

SIM_VENDOR_ID = 0x0F49
SIM_PRODUCT_ID = 0x0001
EP_OUT = 0x01
EP_IN = 0x82

_DT_DEVICE, _DT_CONFIGURATION, _DT_STRING, _DT_INTERFACE, _DT_ENDPOINT = 1, 2, 3, 4, 5
_BULK = 0x02
_SPEED_FULL, _SPEED_HIGH = 2, 3
_LANG_EN_US = 0x0409
_STRINGS = {"manufacturer": 1, "product": 2, "serial": 3}

# errno -> libusb error code and libusb's message, as pyusb's libusb1 backend raises them
_ERRORS: dict[int, tuple[int, str]] = {
    errno.EACCES: (libusb1.LIBUSB_ERROR_ACCESS, "Access denied (insufficient permissions)"),
    errno.ENODEV: (libusb1.LIBUSB_ERROR_NO_DEVICE, "No such device (it may have been disconnected)"),
    errno.ENOENT: (libusb1.LIBUSB_ERROR_NOT_FOUND, "Entity not found"),
    errno.EBUSY: (libusb1.LIBUSB_ERROR_BUSY, "Resource busy"),
    errno.EPIPE: (libusb1.LIBUSB_ERROR_PIPE, "Pipe error"),
    errno.EINVAL: (libusb1.LIBUSB_ERROR_INVALID_PARAM, "Invalid parameter"),
}


def _error(code: int) -> usb.core.USBError:
    backend_code, message = _ERRORS[code]
    return usb.core.USBError(message, backend_code, code)


def _timed_out() -> usb.core.USBTimeoutError:
    return usb.core.USBTimeoutError("Operation timed out", libusb1.LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)


def _fill(buffer: array.array[int], payload: bytes) -> int:
    count = min(len(buffer), len(payload))
    buffer[:count] = array.array("B", payload[:count])
    return count


@dataclass(frozen=True)
class _DeviceRef:
    """What enumerate_devices yields: a device as it was plugged in (stale after a re-plug)."""

    device: SimUsbDevice
    generation: int


@dataclass
class _Handle:
    device: SimUsbDevice
    generation: int
    closed: bool = False


@dataclass
class _Setting:
    """One alternate setting of the printer interface: its descriptor and endpoint descriptors."""

    descriptor: SimpleNamespace
    endpoints: list[SimpleNamespace] = field(default_factory=list)


def _endpoint(address: int, packet_size: int) -> SimpleNamespace:
    return SimpleNamespace(
        bLength=7,
        bDescriptorType=_DT_ENDPOINT,
        bEndpointAddress=address,
        bmAttributes=_BULK,
        wMaxPacketSize=packet_size,
        bInterval=0,
        bRefresh=0,
        bSynchAddress=0,
        extra_descriptors=[],
    )


def _setting(alternate: int, protocol: int, endpoints: list[SimpleNamespace]) -> _Setting:
    descriptor = SimpleNamespace(
        bLength=9,
        bDescriptorType=_DT_INTERFACE,
        bInterfaceNumber=0,
        bAlternateSetting=alternate,
        bNumEndpoints=len(endpoints),
        bInterfaceClass=7,
        bInterfaceSubClass=1,
        bInterfaceProtocol=protocol,
        iInterface=0,
        extra_descriptors=[],
    )
    return _Setting(descriptor, endpoints)


class SimUsbDevice:
    """One simulated card printer on the USB bus, its bulk endpoints wired to ``printer``.

    Configuration 1 has one printer interface (number 0) with two alternate settings: 0 is uni-directional
    (7/1/1, bulk OUT 0x01 only), 1 is bi-directional (7/1/2, bulk OUT 0x01 and bulk IN 0x82);
    ``only_unidirectional`` leaves setting 0 alone. Packets are 512 bytes (high speed), 64 at full speed.

    Knobs: ``busy`` (another process has claimed the interface: claiming fails with EBUSY),
    ``permission_denied`` (opening fails with EACCES), ``accepting`` (False: bulk writes time out, as to a
    printer that takes no data; so do they once the printer hung), ``kernel_driver`` (usblp is bound to the
    interface when configured), ``configured`` (False: the device starts unconfigured), `unplug` / `plug`, and
    `unplug_on` to pull the cable when a given command is written. ``events`` records what the host did.
    """

    def __init__(
        self,
        printer: SimPrinter,
        *,
        serial_number: str | None = None,
        vendor_id: int = SIM_VENDOR_ID,
        product_id: int = SIM_PRODUCT_ID,
        bus: int = 1,
        address: int = 5,
        only_unidirectional: bool = False,
        full_speed: bool = False,
        kernel_driver: bool = True,
        configured: bool = True,
        busy: bool = False,
        permission_denied: bool = False,
        accepting: bool = True,
    ) -> None:
        self.printer = printer
        self.serial_number = printer.model.serial if serial_number is None else serial_number
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.bus = bus
        self.address = address
        self.full_speed = full_speed
        self.kernel_driver = kernel_driver
        self.busy = busy
        self.permission_denied = permission_denied
        self.accepting = accepting
        self.events: list[str] = []
        packet = 64 if full_speed else 512
        self.settings = [_setting(0, 1, [_endpoint(EP_OUT, packet)])]
        if not only_unidirectional:
            self.settings.append(_setting(1, 2, [_endpoint(EP_OUT, packet), _endpoint(EP_IN, packet)]))
        self.present = True
        self.generation = 0
        self.configuration = 1 if configured else 0
        self.alternate = 0
        self.kernel_bound: set[int] = {0} if kernel_driver and configured else set()
        self.claims: dict[int, _Handle] = {}
        self._replies = bytearray()
        self._ready = threading.Condition()
        self._trap: tuple[bytes, bool] | None = None

    # --- knobs ---

    @property
    def node(self) -> str:
        return f"/dev/bus/usb/{self.bus:03d}/{self.address:03d}"

    def device_id(self) -> str:
        """The IEEE 1284 device ID the printer gives (GET_DEVICE_ID)."""
        model = self.printer.model.model_name
        return f"MFG:Evolis;CMD:EVOLIS;MDL:{model};CLS:PRINTER;DES:Evolis {model};SN:{self.serial_number};"

    def unplug(self) -> None:
        """Pull the cable: every handle and transfer fails with ENODEV, waiting reads wake up, replies not
        yet read are lost and the printer drops a half-received command."""
        with self._ready:
            self.present = False
            self._replies.clear()
            self.claims.clear()
            self._ready.notify_all()
        self.printer.reset_link()

    def plug(self) -> None:
        """Plug the cable back in: a new device address, the kernel driver bound again, no claims."""
        with self._ready:
            self.present = True
            self.generation += 1
            self.address += 1
            self.configuration = 1
            self.alternate = 0
            self.kernel_bound = {0} if self.kernel_driver else set()
            self.claims.clear()

    def unplug_on(self, prefix: bytes, *, delivered: bool = False) -> None:
        """Pull the cable at the next bulk write that starts with ``prefix`` (e.g. ``b"\\x1bDb"``): before the
        printer gets it (the write fails with ENODEV), or, ``delivered``, after the printer acted on it and
        before its reply is read (the write succeeds, the next transfer fails)."""
        self._trap = (prefix, delivered)

    # --- descriptors ---

    def identity(self) -> _DeviceRef:
        return _DeviceRef(self, self.generation)

    def device_descriptor(self) -> SimpleNamespace:
        return SimpleNamespace(
            bLength=18,
            bDescriptorType=_DT_DEVICE,
            bcdUSB=0x0200,
            bDeviceClass=0,  # the class is in the interface descriptor, as on printers
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=64,
            idVendor=self.vendor_id,
            idProduct=self.product_id,
            bcdDevice=0x0100,
            iManufacturer=_STRINGS["manufacturer"],
            iProduct=_STRINGS["product"],
            iSerialNumber=_STRINGS["serial"] if self.serial_number else 0,
            bNumConfigurations=1,
            bus=self.bus,
            address=self.address,
            port_number=1,
            port_numbers=(1,),
            speed=_SPEED_FULL if self.full_speed else _SPEED_HIGH,
        )

    def configuration_descriptor(self, index: int) -> SimpleNamespace:
        if index != 0:
            raise IndexError(f"Invalid configuration index {index}")
        total = 9 + sum(9 + 7 * len(s.endpoints) for s in self.settings)
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=_DT_CONFIGURATION,
            wTotalLength=total,
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0xC0,  # self-powered
            bMaxPower=1,
            extra_descriptors=[],
        )

    def setting(self, interface: int, alternate: int, configuration: int) -> _Setting:
        self.configuration_descriptor(configuration)
        if interface != 0:
            raise IndexError(f"Invalid interface index {interface}")
        if not 0 <= alternate < len(self.settings):
            raise IndexError(f"Invalid alternate setting index {alternate}")
        return self.settings[alternate]

    # --- the host's side of the device ---

    def open(self, ref: _DeviceRef) -> _Handle:
        with self._ready:
            if not self.present or ref.generation != self.generation:
                raise _error(errno.ENODEV)
            if self.permission_denied:
                raise _error(errno.EACCES)
            self.events.append("open")
            return _Handle(self, self.generation)

    def close(self, handle: _Handle) -> None:
        with self._ready:
            handle.closed = True
            for number in [n for n, h in self.claims.items() if h is handle]:
                del self.claims[number]
            self.events.append("close")

    def set_configuration(self, handle: _Handle, value: int) -> None:
        with self._ready:
            self._check(handle)
            if value not in (0, 1):
                raise _error(errno.EINVAL)
            if self.kernel_bound or any(h is not handle for h in self.claims.values()):
                raise _error(errno.EBUSY)
            self.configuration = value
            self.alternate = 0
            if value and self.kernel_driver:
                self.kernel_bound = {0}  # the kernel binds its driver to the new configuration's interfaces
            self.events.append(f"configuration {value}")

    def get_configuration(self, handle: _Handle) -> int:
        with self._ready:
            self._check(handle)
            return self.configuration

    def set_alternate(self, handle: _Handle, interface: int, alternate: int) -> None:
        with self._ready:
            self._check(handle)
            if self.claims.get(interface) is not handle:
                raise _error(errno.ENOENT)
            if not 0 <= alternate < len(self.settings):
                raise _error(errno.EINVAL)
            self.alternate = alternate
            self.events.append(f"alternate {interface}/{alternate}")

    def claim(self, handle: _Handle, interface: int) -> None:
        with self._ready:
            self._claim(handle, interface)

    def release(self, handle: _Handle, interface: int) -> None:
        with self._ready:
            self._check(handle)
            if self.claims.get(interface) is not handle:
                raise _error(errno.ENOENT)
            del self.claims[interface]
            self.events.append(f"release {interface}")

    def kernel_driver_active(self, handle: _Handle, interface: int) -> bool:
        with self._ready:
            self._check(handle)
            return interface in self.kernel_bound

    def detach(self, handle: _Handle, interface: int) -> None:
        with self._ready:
            self._check(handle)
            if interface not in self.kernel_bound:
                raise _error(errno.ENOENT)
            self.kernel_bound.discard(interface)
            self.events.append(f"detach {interface}")

    def attach(self, handle: _Handle, interface: int) -> None:
        with self._ready:
            self._check(handle)
            if interface in self.claims or interface in self.kernel_bound:
                raise _error(errno.EBUSY)
            self.kernel_bound.add(interface)
            self.events.append(f"attach {interface}")

    def bulk_write(self, handle: _Handle, endpoint: int, interface: int, data: bytes, timeout: int) -> int:
        with self._ready:
            self._transfer_check(handle, endpoint, interface)
            if not self.accepting or self.printer.hung:  # a hung printer's endpoint takes no more data
                self._ready.wait_for(lambda: not self._alive(handle), timeout / 1000 if timeout > 0 else None)
                self._check(handle)
                raise _timed_out()
            trap = self._trap
            if trap is not None and data.startswith(trap[0]):
                self._trap = None
            else:
                trap = None
        if trap is not None and not trap[1]:
            self.unplug()
            raise _error(errno.ENODEV)
        replies = self.printer.receive(data)
        with self._ready:
            if not self.present or handle.generation != self.generation:
                raise _error(errno.ENODEV)
            self._replies += replies
            self._ready.notify_all()
        if trap is not None:
            self.unplug()
        return len(data)

    def bulk_read(self, handle: _Handle, endpoint: int, interface: int, buffer: array.array[int], timeout: int) -> int:
        with self._ready:
            self._transfer_check(handle, endpoint, interface)
            if not self._replies:
                wait = timeout / 1000 if timeout > 0 else None  # libusb: 0 is no timeout
                self._ready.wait_for(lambda: bool(self._replies) or not self._alive(handle), wait)
                self._check(handle)
            if not self._replies:
                raise _timed_out()
            count = _fill(buffer, bytes(self._replies))
            del self._replies[:count]
            return count

    def control(self, handle: _Handle, request_type: int, request: int, value: int, index: int, data: Any) -> int:
        with self._ready:
            self._check(handle)
        reply = self._control_reply(request_type, request, value, index)
        if reply is None:
            raise _error(errno.EPIPE)  # the device stalls a request it does not know
        if request_type & 0x80:
            return _fill(data, reply)
        return len(data)

    # --- inside ---

    def _control_reply(self, request_type: int, request: int, value: int, index: int) -> bytes | None:
        if request_type == 0x80 and request == 6 and value >> 8 == _DT_STRING:
            return self._string(value & 0xFF)
        if request_type == 0xA1 and request == 0:  # GET_DEVICE_ID: wIndex is interface << 8 | alternate
            if index >> 8 != 0 or (index & 0xFF) >= len(self.settings):
                return None
            text = self.device_id().encode("ascii")
            return (len(text) + 2).to_bytes(2, "big") + text
        if request_type == 0xA1 and request == 1 and index == 0:  # GET_PORT_STATUS
            empty = Condition.FEEDER_EMPTY in self.printer.model.conditions()
            return bytes([0x18 | (0x20 if empty else 0)])  # selected, no error, paper empty
        if request_type == 0x21 and request == 2 and index == 0:  # SOFT_RESET
            with self._ready:
                self._replies.clear()
            self.printer.reset_link()
            return b""
        return None

    def _string(self, index: int) -> bytes | None:
        if index == 0:
            return bytes([4, _DT_STRING]) + _LANG_EN_US.to_bytes(2, "little")
        texts = {
            _STRINGS["manufacturer"]: "Evolis",
            _STRINGS["product"]: self.printer.model.model_name,
            _STRINGS["serial"]: self.serial_number,
        }
        text = texts.get(index)
        if not text:
            return None
        encoded = text.encode("utf-16-le")
        return bytes([2 + len(encoded), _DT_STRING]) + encoded

    def _alive(self, handle: _Handle) -> bool:
        return self.present and handle.generation == self.generation and not handle.closed

    def _check(self, handle: _Handle) -> None:
        if handle.closed:
            raise _error(errno.EINVAL)
        if not self._alive(handle):
            raise _error(errno.ENODEV)

    def _claim(self, handle: _Handle, interface: int) -> None:
        self._check(handle)
        if interface != 0 or not self.configuration:
            raise _error(errno.ENOENT)
        if self.claims.get(interface) is handle:
            return
        if self.busy or interface in self.kernel_bound or interface in self.claims:
            raise _error(errno.EBUSY)
        self.claims[interface] = handle
        self.events.append(f"claim {interface}")

    def _transfer_check(self, handle: _Handle, endpoint: int, interface: int) -> None:
        self._check(handle)
        if self.claims.get(interface) is not handle:
            self._claim(handle, interface)  # usbfs claims an interface on its first transfer
        addresses = {int(e.bEndpointAddress) for e in self.settings[self.alternate].endpoints}
        if endpoint not in addresses:
            raise _error(errno.EINVAL)


class SimUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend with ``devices`` on its bus: pass it as ``backend=`` to usb.core.find (or to
    UsbTransport.open). Unplugged devices are not listed."""

    def __init__(self, *devices: SimUsbDevice) -> None:
        super().__init__()
        self.devices = list(devices)

    @property
    def device(self) -> SimUsbDevice:
        """The first device on the bus."""
        return self.devices[0]

    def enumerate_devices(self) -> list[_DeviceRef]:
        return [d.identity() for d in self.devices if d.present]

    def get_parent(self, dev: _DeviceRef) -> None:
        return None

    def get_device_descriptor(self, dev: _DeviceRef) -> SimpleNamespace:
        return dev.device.device_descriptor()

    def get_configuration_descriptor(self, dev: _DeviceRef, config: int) -> SimpleNamespace:
        return dev.device.configuration_descriptor(config)

    def get_interface_descriptor(self, dev: _DeviceRef, intf: int, alt: int, config: int) -> SimpleNamespace:
        return dev.device.setting(intf, alt, config).descriptor

    def get_endpoint_descriptor(self, dev: _DeviceRef, ep: int, intf: int, alt: int, config: int) -> SimpleNamespace:
        endpoints = dev.device.setting(intf, alt, config).endpoints
        if not 0 <= ep < len(endpoints):
            raise IndexError(f"Invalid endpoint index {ep}")
        return endpoints[ep]

    def open_device(self, dev: _DeviceRef) -> _Handle:
        return dev.device.open(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        dev_handle.device.close(dev_handle)

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        dev_handle.device.set_configuration(dev_handle, config_value)

    def get_configuration(self, dev_handle: _Handle) -> int:
        return dev_handle.device.get_configuration(dev_handle)

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        dev_handle.device.set_alternate(dev_handle, intf, altsetting)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.device.claim(dev_handle, intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.device.release(dev_handle, intf)

    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
        return dev_handle.device.bulk_write(dev_handle, ep, intf, data.tobytes(), timeout)

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        return dev_handle.device.bulk_read(dev_handle, ep, intf, buff, timeout)

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        request_type: int,
        request: int,
        value: int,
        index: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        return dev_handle.device.control(dev_handle, request_type, request, value, index, data)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        dev_handle.device.get_configuration(dev_handle)  # fails as the device does when it is gone

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return dev_handle.device.kernel_driver_active(dev_handle, intf)

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.device.detach(dev_handle, intf)

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.device.attach(dev_handle, intf)
