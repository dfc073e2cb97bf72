"""Test helper: the real USB transport to a simulated printer, through the simulated pyusb backend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from drivers.sim import SimHandle
from drivers.sim.usb_backend import SIM_PRODUCT_ID, SIM_VENDOR_ID, SimUsbBackend, SimUsbDevice
from drivers.transports.usb import UsbTransport


@dataclass
class UsbRig:
    """A simulated printer on a simulated USB bus, and the transport opened to it."""

    handle: SimHandle
    device: SimUsbDevice
    backend: SimUsbBackend
    transport: UsbTransport


@contextmanager
def usb_sim_rig(handle: SimHandle, *, write_timeout: float = 5.0, **device_options: Any) -> Iterator[UsbRig]:
    """Put ``handle``'s printer on a simulated USB bus (``device_options`` go to SimUsbDevice) and open a
    UsbTransport to it by ids and serial number; the transport is closed on the way out."""
    device = SimUsbDevice(handle.printer, **device_options)
    backend = SimUsbBackend(device)
    transport = UsbTransport.open(
        SIM_VENDOR_ID, SIM_PRODUCT_ID, device.serial_number, backend=backend, write_timeout=write_timeout
    )
    try:
        yield UsbRig(handle, device, backend, transport)
    finally:
        transport.close()


@contextmanager
def usb_sim_link(handle: SimHandle, **device_options: Any) -> Iterator[UsbTransport]:
    """The USB transport to ``handle``'s printer, e.g. for ``EvolisDriver(transport, encoder=handle.encoder)``."""
    with usb_sim_rig(handle, **device_options) as rig:
        yield rig.transport
