"""The USB transport over the simulated pyusb backend, alone and under the real EvolisDriver."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from drivers import base
from drivers.base import Card, Outcome
from drivers.evolis.driver import EvolisDriver
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.usb_backend import SimUsbBackend, SimUsbDevice
from drivers.transport import Transport, TransportError
from drivers.transports import usb as usb_transport
from drivers.transports.usb import (
    UsbAddress,
    UsbBusyError,
    UsbInterfaceError,
    UsbNotFoundError,
    UsbOpenError,
    UsbPermissionError,
    UsbTransport,
    UsbUrlError,
    parse_usb_url,
    processes_holding,
)
from tests.conftest import card_png
from tests.sim_usb import usb_sim_link, usb_sim_rig

RTP = b"\x1bRtp\r"


def sim(name: str = "usb", cards: int = 5, **options: Any) -> SimHandle:
    return make_sim_printer(name, cards=cards, seconds_per_card=0, **options)


def bus(*handles: SimHandle, **options: Any) -> tuple[SimUsbBackend, list[SimUsbDevice]]:
    devices = [SimUsbDevice(h.printer, address=5 + i, **options) for i, h in enumerate(handles)]
    return SimUsbBackend(*devices), devices


def driver_over(transport: Transport, handle: SimHandle) -> EvolisDriver:
    driver = EvolisDriver(
        transport,
        encoder=handle.encoder,
        ribbon=handle.model.ribbon_type,
        reply_timeout=0.5,
        motion_timeout=0.5,
        quiet_timeout=0.02,
        confirm_delay=0,
    )
    driver.open()
    return driver


# ------------------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("usb://0F49:0001", UsbAddress(0x0F49, 0x0001)),
        ("usb://0f49:00a1/", UsbAddress(0x0F49, 0x00A1)),
        ("USB://0F49:0001?serial=ABC%2F12", UsbAddress(0x0F49, 0x0001, "ABC/12")),
    ],
)
def test_parse_usb_url(url: str, address: UsbAddress) -> None:
    assert parse_usb_url(url) == address
    assert parse_usb_url(address.url) == address


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("serial:///dev/ttyS0", "is not a USB address"),
        ("usb://0F49", "bad vendor:product ids"),
        ("usb://0F49:1", "4-digit hexadecimal"),
        ("usb://0x0F49:0x0001", "e.g. usb://0F49:0001"),
        ("usb:0F49:0001", "bad vendor:product ids"),
        ("usb://0F49:0001/lp0", "unexpected path"),
        ("usb://0F49:0001?serial=", "empty serial number"),
        ("usb://0F49:0001?serial", "bad options"),
        ("usb://0F49:0001?port=1", "unknown option 'port'"),
        ("usb://0F49:0001?serial=A&serial=B", "serial given twice"),
    ],
)
def test_malformed_usb_urls_say_what_is_expected(url: str, says: str) -> None:
    with pytest.raises(UsbUrlError, match=says) as error:
        parse_usb_url(url)
    assert isinstance(error.value, ValueError)


# ------------------------------------------------------------------------------- opening, closing


def test_from_url_claims_the_bidirectional_setting_and_talks() -> None:
    handle = sim()
    backend, (device,) = bus(handle)
    transport = UsbTransport.from_url("usb://0F49:0001", backend=backend)
    assert transport.interface == (0, 1)  # protocol 2 is setting 1; setting 0 is uni-directional
    assert transport.address == UsbAddress(0x0F49, 0x0001, handle.model.serial)
    assert transport.node == "/dev/bus/usb/001/005"
    assert transport.device_id == device.device_id()
    transport.write(RTP)
    assert transport.read(1.0) == b"Primacy\r"
    assert device.events[-4:] == ["open", "detach 0", "claim 0", "alternate 0/1"]
    assert device.kernel_bound == set()
    transport.close()
    transport.close()
    assert device.events[-3:] == ["release 0", "attach 0", "close"]
    assert device.kernel_bound == {0} and device.claims == {}


def test_no_kernel_driver_nothing_to_detach_or_reattach() -> None:
    handle = sim()
    with usb_sim_rig(handle, kernel_driver=False) as rig:
        assert "detach 0" not in rig.device.events
    assert "attach 0" not in rig.device.events and rig.device.kernel_bound == set()


def test_an_unconfigured_printer_is_configured_then_its_kernel_driver_detached() -> None:
    with usb_sim_rig(sim(), configured=False) as rig:
        assert rig.device.events[1:4] == ["configuration 1", "detach 0", "claim 0"]
        rig.transport.write(RTP)
        assert rig.transport.read(1.0) == b"Primacy\r"


def test_only_a_unidirectional_interface_is_refused_with_the_reason() -> None:
    backend, (device,) = bus(sim(), only_unidirectional=True)
    with pytest.raises(UsbInterfaceError) as refused:
        UsbTransport.open(0x0F49, 0x0001, backend=backend)
    message = str(refused.value)
    assert "only a uni-directional printer interface (7/1/1)" in message
    assert "never answers" in message and "bi-directional interface (7/1/2)" in message
    assert refused.value.reason == base.OFFLINE
    assert device.kernel_bound == {0} and device.claims == {} and device.events[-1] == "close"


def test_the_serial_number_picks_one_of_two_printers() -> None:
    first, second = sim("usb-a"), sim("usb-b")
    backend, (dev_a, dev_b) = bus(first, second)
    transport = UsbTransport.open(0x0F49, 0x0001, second.model.serial, backend=backend)
    assert transport.address.serial_number == second.model.serial
    assert transport.node == "/dev/bus/usb/001/006"
    transport.write(b"\x1bRsn\r")
    assert transport.read(1.0) == second.model.serial.encode() + b"\r"
    assert dev_b.claims and not dev_a.claims and dev_a.events == ["open", "close"]
    transport.close()


def test_two_printers_and_no_serial_number_is_an_error_naming_both() -> None:
    first, second = sim("usb-a"), sim("usb-b")
    backend, devices = bus(first, second)
    with pytest.raises(UsbOpenError) as ambiguous:
        UsbTransport.open(0x0F49, 0x0001, backend=backend)
    message = str(ambiguous.value)
    assert first.model.serial in message and second.model.serial in message
    assert 'transport = "usb://0F49:0001?serial=SERIAL"' in message
    assert all(d.events[-1] == "close" for d in devices)


def test_not_found_lists_the_ids_seen_and_what_to_check() -> None:
    handle = sim()
    backend = SimUsbBackend(
        SimUsbDevice(handle.printer, product_id=0x0002), SimUsbDevice(sim("usb-c").printer, address=9)
    )
    with pytest.raises(UsbNotFoundError) as missing:
        UsbTransport.open(0x0F49, 0x0003, backend=backend)
    message = str(missing.value)
    assert message.startswith("no USB printer 0F49:0003 found (USB devices seen: 0F49:0002, 0F49:0001)")
    assert "switched on" in message and "USB cable" in message
    assert 'transport = "usb://0F49:0003"' in message
    assert isinstance(missing.value, base.PrinterOfflineError)

    with pytest.raises(UsbNotFoundError) as wrong_serial:
        UsbTransport.open(0x0F49, 0x0001, "OTHER", backend=backend)
    message = str(wrong_serial.value)
    assert "no USB printer 0F49:0001 with serial number OTHER found" in message
    assert f"0F49:0001 (serial {sim('usb-c').model.serial})" in message
    assert 'transport = "usb://0F49:0001?serial=OTHER"' in message

    with pytest.raises(UsbNotFoundError, match=r"USB devices seen: none\)"):
        UsbTransport.open(0x0F49, 0x0001, backend=SimUsbBackend())


@pytest.mark.parametrize("by_serial", [False, True])
def test_permission_denied_names_the_udev_rule_and_the_device_node(by_serial: bool) -> None:
    handle = sim()
    backend, _ = bus(handle, permission_denied=True)
    with pytest.raises(UsbPermissionError) as denied:
        UsbTransport.open(0x0F49, 0x0001, handle.model.serial if by_serial else None, backend=backend)
    message = str(denied.value)
    assert message.startswith("permission denied on the USB printer 0F49:0001 (/dev/bus/usb/001/005)")
    assert "udev rule systemd/70-printd.rules" in message and "group printd" in message


def test_busy_names_the_usual_holders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    handle = sim()
    backend, (device,) = bus(handle, busy=True)
    monkeypatch.setattr(usb_transport, "PROC_ROOT", tmp_path)
    with pytest.raises(UsbBusyError) as busy:
        UsbTransport.open(0x0F49, 0x0001, backend=backend)
    message = str(busy.value)
    assert message.startswith("the USB printer 0F49:0001 (/dev/bus/usb/001/005) is in use by another driver")
    assert "`sudo fuser -v /dev/bus/usb/001/005` shows who has it open" in message
    assert "usblp" in message and "ipp-usb" in message and "CUPS's usb backend" in message
    assert device.kernel_bound == {0}  # the kernel driver detached for the claim is given back

    holder = tmp_path / "4242"
    (holder / "fd").mkdir(parents=True)
    (holder / "comm").write_text("ipp-usb\n")
    (holder / "fd" / "7").symlink_to("/dev/bus/usb/001/005")
    with pytest.raises(UsbBusyError, match=r"; ipp-usb \(pid 4242\) has it open\. The usual ones"):
        UsbTransport.open(0x0F49, 0x0001, backend=backend)


def test_processes_holding_a_file(tmp_path: Path) -> None:
    path = tmp_path / "node"
    path.write_text("")
    with path.open():
        holders = processes_holding(str(path))
    assert any(h.endswith(f"(pid {os.getpid()})") for h in holders)
    assert processes_holding(str(tmp_path / "nobody")) == []


# -------------------------------------------------------------------------------- moving bytes


def test_read_returns_nothing_after_its_timeout() -> None:
    with usb_sim_rig(sim()) as rig:
        started = time.monotonic()
        assert rig.transport.read(0.05) == b""
        assert time.monotonic() - started >= 0.04
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(rig.transport.read(0)))
        reader.start()
        reader.join(2.0)
        if reader.is_alive():  # libusb reads a timeout of 0 as "for ever": it must not get one
            rig.device.unplug()
        assert got == [b""]


def test_a_printer_that_takes_no_data_fails_the_write() -> None:
    with usb_sim_rig(sim(), write_timeout=0.05) as rig:
        rig.device.accepting = False
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"the printer took no data for 0\.05 s \(USB 0F49:0001, 0 of 5"):
            rig.transport.write(RTP)
        assert time.monotonic() - started >= 0.04
        rig.device.accepting = True
        rig.transport.write(RTP)  # a write that timed out does not end the link
        assert rig.transport.read(1.0) == b"Primacy\r"


def test_unplugged_printer_fails_every_call_and_close_still_works() -> None:
    with usb_sim_rig(sim()) as rig:
        rig.device.unplug()
        with pytest.raises(TransportError, match=r"^the printer was unplugged or switched off \(USB 0F49:0001"):
            rig.transport.write(RTP)
        rig.device.plug()  # a new device; this transport stays dead
        with pytest.raises(TransportError, match="unplugged"):
            rig.transport.read(0.01)
        again = UsbTransport.open(0x0F49, 0x0001, backend=rig.backend)
        assert again.node == "/dev/bus/usb/001/006"
        again.write(RTP)
        assert again.read(1.0) == b"Primacy\r"
        again.close()
    with pytest.raises(TransportError, match="closed"):
        rig.transport.write(RTP)


def test_unplug_during_a_read_wakes_it() -> None:
    with usb_sim_rig(sim()) as rig:
        errors: list[Exception] = []

        def wait() -> None:
            try:
                rig.transport.read(5.0)
            except TransportError as exc:
                errors.append(exc)

        reader = threading.Thread(target=wait)
        reader.start()
        time.sleep(0.05)
        rig.device.unplug()
        reader.join(2.0)
        assert not reader.is_alive() and "unplugged" in str(errors[0])


# ---------------------------------------------------------------------------- the Evolis driver


@pytest.mark.parametrize("two_sided", [False, True])
def test_cards_print_over_usb(two_sided: bool) -> None:
    handle = sim()
    card = Card(front=card_png("FRONT"), back=card_png("BACK", (648, 1016)) if two_sided else None)
    with usb_sim_link(handle) as transport:
        driver = driver_over(transport, handle)
        results = [driver.print_card(card) for _ in range(2)]
        status = driver.status()
    assert [r.outcome for r in results] == [Outcome.PRINTED, Outcome.PRINTED]
    truth = handle.model.physical_truth()
    assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box, truth.in_feeder) == (2, 2, 0, 3)
    assert [r.chip_uid for r in results] == [c.chip_uid for c in handle.model.hopper]
    assert status.counters.cards_fed == 2
    panels = 5 * (2 if two_sided else 1)
    assert handle.model.panels_printed == 2 * panels


def test_a_refused_card_over_usb_is_not_fed() -> None:
    handle = sim(cards=0)
    with usb_sim_link(handle) as transport:
        result = driver_over(transport, handle).print_card(Card(front=card_png()))
    assert result.outcome is Outcome.NOT_FED and result.reason == base.MEDIA_EMPTY


@pytest.mark.parametrize(
    ("prefix", "delivered", "outcome", "fed"),
    [
        (b"\x1bPr;", False, Outcome.NOT_FED, 0),  # before the first command that can move a card
        (b"\x1bSic", False, Outcome.UNKNOWN, 0),  # the feed command may have been sent: never guess
        (b"\x1bSic", True, Outcome.UNKNOWN, 1),
        (b"\x1bDb;", True, Outcome.UNKNOWN, 1),
        (b"\x1bSe\r", True, Outcome.UNKNOWN, 1),  # the card is in the hopper; its eject was not confirmed
    ],
)
def test_unplug_mid_card(prefix: bytes, delivered: bool, outcome: Outcome, fed: int) -> None:
    handle = sim()
    with usb_sim_rig(handle) as rig:
        driver = driver_over(rig.transport, handle)
        rig.device.unplug_on(prefix, delivered=delivered)
        result = driver.print_card(Card(front=card_png(), back=card_png("BACK")))
    assert result.outcome is outcome
    assert "unplugged" in result.detail
    truth = handle.model.physical_truth()
    assert truth.cards_fed == fed and truth.balanced
    if outcome is Outcome.NOT_FED:
        assert result.reason == base.OFFLINE and result.blank_consumed is False
    else:
        assert result.blank_consumed is None
