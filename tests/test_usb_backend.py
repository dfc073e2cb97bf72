"""The simulated pyusb backend, seen through plain pyusb: descriptors, strings, claims, transfers, unplug."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import usb.core
import usb.util

from drivers.evolis import protocol as p
from drivers.sim import make_sim_printer
from drivers.sim.usb_backend import EP_IN, EP_OUT, SIM_PRODUCT_ID, SIM_VENDOR_ID, SimUsbBackend, SimUsbDevice

GET_DEVICE_ID = (0xA1, 0)


def sim_device(**options: Any) -> SimUsbDevice:
    return SimUsbDevice(make_sim_printer("usb-backend", cards=3, seconds_per_card=0).printer, **options)


@pytest.fixture
def device() -> SimUsbDevice:
    return sim_device()


@pytest.fixture
def dev(device: SimUsbDevice) -> Iterator[Any]:
    found = usb.core.find(idVendor=SIM_VENDOR_ID, idProduct=SIM_PRODUCT_ID, backend=SimUsbBackend(device))
    assert found is not None
    yield found
    usb.util.dispose_resources(found)


def ready(dev: Any) -> None:
    """What a host does before bulk transfers: detach usblp, claim, pick the bi-directional setting."""
    dev.detach_kernel_driver(0)
    usb.util.claim_interface(dev, 0)
    dev.set_interface_altsetting(0, 1)


def test_descriptors_and_strings(device: SimUsbDevice, dev: Any) -> None:
    assert (dev.bLength, dev.bDescriptorType, dev.bcdUSB, dev.bDeviceClass) == (18, 1, 0x0200, 0)
    assert (dev.idVendor, dev.idProduct, dev.bNumConfigurations) == (0x0F49, 0x0001, 1)
    assert (dev.bus, dev.address) == (1, 5)
    assert dev.serial_number == device.printer.model.serial == device.serial_number
    assert (dev.manufacturer, dev.product) == ("Evolis", "Primacy")
    assert dev.langids == (0x0409,)
    config = dev.get_active_configuration()
    assert (config.bConfigurationValue, config.bNumInterfaces) == (1, 1)
    settings = [(i.bInterfaceNumber, i.bAlternateSetting, i.bInterfaceClass, i.bInterfaceProtocol) for i in config]
    assert settings == [(0, 0, 7, 1), (0, 1, 7, 2)]
    uni, bi = list(config)
    assert [e.bEndpointAddress for e in uni] == [EP_OUT]
    assert [(e.bEndpointAddress, e.bmAttributes, e.wMaxPacketSize) for e in bi] == [(EP_OUT, 2, 512), (EP_IN, 2, 512)]
    assert config.wTotalLength == 9 + 9 + 7 + 9 + 7 + 7
    assert "Printer" in str(dev)  # pyusb's own description walks every descriptor


def test_options_change_the_descriptors() -> None:
    device = sim_device(only_unidirectional=True, full_speed=True, serial_number="", product_id=0x0002)
    dev = usb.core.find(backend=SimUsbBackend(device))
    assert dev.idProduct == 0x0002 and dev.iSerialNumber == 0 and dev.serial_number is None
    (only,) = list(dev.get_active_configuration())
    assert only.bInterfaceProtocol == 1
    assert [e.wMaxPacketSize for e in only] == [64]


def test_kernel_driver_must_be_detached_before_claiming(device: SimUsbDevice, dev: Any) -> None:
    assert dev.is_kernel_driver_active(0)
    with pytest.raises(usb.core.USBError) as busy:
        usb.util.claim_interface(dev, 0)
    assert busy.value.errno == errno.EBUSY
    dev.detach_kernel_driver(0)
    assert not dev.is_kernel_driver_active(0)
    usb.util.claim_interface(dev, 0)
    with pytest.raises(usb.core.USBError) as attach_while_claimed:
        dev.attach_kernel_driver(0)
    assert attach_while_claimed.value.errno == errno.EBUSY
    usb.util.release_interface(dev, 0)
    dev.attach_kernel_driver(0)
    assert device.kernel_bound == {0}
    assert device.events == ["open", "detach 0", "claim 0", "release 0", "attach 0"]


def test_get_device_id_and_port_status(device: SimUsbDevice, dev: Any) -> None:
    ready(dev)
    raw = bytes(dev.ctrl_transfer(*GET_DEVICE_ID, 0, 0x0000, 1023))
    text = device.device_id()
    assert raw == (len(text) + 2).to_bytes(2, "big") + text.encode()
    assert text.startswith("MFG:Evolis;") and "MDL:Primacy;" in text
    assert bytes(dev.ctrl_transfer(0xA1, 1, 0, 0, 1)) == b"\x18"
    with pytest.raises(usb.core.USBError) as stall:
        dev.ctrl_transfer(0xC0, 0x42, 0, 0, 8)  # a vendor request the printer does not know
    assert stall.value.errno == errno.EPIPE


def test_bulk_round_trip_and_timeout(dev: Any) -> None:
    ready(dev)
    assert dev.write(EP_OUT, p.encode_command(p.read_model()), 1000) == 5
    assert bytes(dev.read(EP_IN, 512, 1000)) == b"Primacy\r"
    started = time.monotonic()
    with pytest.raises(usb.core.USBTimeoutError) as timeout:
        dev.read(EP_IN, 512, 50)
    assert time.monotonic() - started >= 0.04
    # what pyusb's libusb1 backend raises: libusb's code and the errno pyusb maps it to
    assert (timeout.value.errno, timeout.value.backend_error_code) == (errno.ETIMEDOUT, -7)


def test_a_short_buffer_gets_the_rest_on_the_next_read(dev: Any) -> None:
    ready(dev)
    dev.write(EP_OUT, p.encode_command(p.read_model()), 1000)
    assert bytes(dev.read(EP_IN, 3, 1000)) == b"Pri"
    assert bytes(dev.read(EP_IN, 512, 1000)) == b"macy\r"


def test_the_uni_directional_setting_has_no_in_endpoint(dev: Any) -> None:
    dev.detach_kernel_driver(0)
    usb.util.claim_interface(dev, 0)
    dev.set_interface_altsetting(0, 0)
    with pytest.raises(ValueError, match="endpoint"):  # pyusb finds no 0x82 in the setting in use
        dev.read(EP_IN, 512, 10)


def test_unplug_fails_every_call_and_hides_the_device(device: SimUsbDevice, dev: Any) -> None:
    ready(dev)
    backend = SimUsbBackend(device)
    device.unplug()
    with pytest.raises(usb.core.USBError) as write_gone:
        dev.write(EP_OUT, b"\x1bRsn\r", 100)
    with pytest.raises(usb.core.USBError) as read_gone:
        dev.read(EP_IN, 512, 100)
    assert write_gone.value.errno == read_gone.value.errno == errno.ENODEV
    assert list(usb.core.find(find_all=True, backend=backend)) == []
    device.plug()
    again = usb.core.find(backend=backend)
    assert again.address == 6 and device.kernel_bound == {0}
    with pytest.raises(usb.core.USBError) as stale:  # the old device object is the device as it was
        dev.is_kernel_driver_active(0)
    assert stale.value.errno == errno.ENODEV
    ready(again)
    again.write(EP_OUT, b"\x1bRtp\r", 100)
    assert bytes(again.read(EP_IN, 512, 100)) == b"Primacy\r"
    usb.util.dispose_resources(again)


def test_unplug_wakes_a_waiting_read(device: SimUsbDevice, dev: Any) -> None:
    ready(dev)
    errors: list[int | None] = []

    def wait() -> None:
        try:
            dev.read(EP_IN, 512, 0)  # no timeout at all, as libusb takes 0
        except usb.core.USBError as exc:
            errors.append(exc.errno)

    reader = threading.Thread(target=wait)
    reader.start()
    time.sleep(0.05)
    device.unplug()
    reader.join(2.0)
    assert not reader.is_alive() and errors == [errno.ENODEV]


def test_unplug_on_a_command_before_or_after_the_printer_gets_it() -> None:
    device = sim_device()
    dev = usb.core.find(backend=SimUsbBackend(device))
    ready(dev)
    device.unplug_on(b"\x1bRsn")
    dev.write(EP_OUT, b"\x1bRtp\r", 100)  # another command goes through
    assert bytes(dev.read(EP_IN, 512, 100)) == b"Primacy\r"
    with pytest.raises(usb.core.USBError) as before:
        dev.write(EP_OUT, b"\x1bRsn\r", 100)
    assert before.value.errno == errno.ENODEV

    device = sim_device()
    dev = usb.core.find(backend=SimUsbBackend(device))
    ready(dev)
    device.printer.model.open_cover()
    device.unplug_on(b"\x1bScs", delivered=True)
    assert dev.write(EP_OUT, b"\x1bScs\r", 100) == 5
    with pytest.raises(usb.core.USBError) as after:
        dev.read(EP_IN, 512, 100)
    assert after.value.errno == errno.ENODEV


@pytest.mark.parametrize(("knob", "code"), [("permission_denied", errno.EACCES), ("busy", errno.EBUSY)])
def test_knobs(knob: str, code: int) -> None:
    device = sim_device(**{knob: True})
    dev = usb.core.find(backend=SimUsbBackend(device))
    with pytest.raises(usb.core.USBError) as refused:
        dev.is_kernel_driver_active(0)
        dev.detach_kernel_driver(0)
        usb.util.claim_interface(dev, 0)
    assert refused.value.errno == code
    if knob == "permission_denied":  # strings need an open device too
        with pytest.raises(usb.core.USBError) as no_strings:
            usb.util.get_langids(dev)
        assert no_strings.value.errno == errno.EACCES


def test_an_unconfigured_device_binds_its_kernel_driver_when_configured() -> None:
    device = sim_device(configured=False)
    dev = usb.core.find(backend=SimUsbBackend(device))
    with pytest.raises(usb.core.USBError, match="Configuration not set"):
        dev.get_active_configuration()
    assert not dev.is_kernel_driver_active(0)
    dev.set_configuration()
    assert dev.get_active_configuration().bConfigurationValue == 1
    assert dev.is_kernel_driver_active(0)
