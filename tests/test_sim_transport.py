"""The in-process transport, the simulated encoder and the handle the station builds."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from drivers.base import EncodeError, Encoder
from drivers.evolis import protocol as p
from drivers.sim import make_sim_printer, sim_serial
from drivers.sim.encoder import SimEncoder
from drivers.sim.faults import FaultScriptError
from drivers.sim.model import PrinterModel
from drivers.sim.printer import SimPrinter
from drivers.sim.transport import InProcessTransport
from drivers.transport import Transport, TransportError


def make(seconds_per_card: float = 0.0) -> InProcessTransport:
    return InProcessTransport(SimPrinter(PrinterModel("SIM0000001", cards=3, seconds_per_card=seconds_per_card)))


def test_write_then_read_the_reply() -> None:
    link: Transport = make()
    link.write(p.encode_command(p.read_serial()))
    assert link.read(1.0) == b"SIM0000001\r"
    assert link.read(0) == b""


def test_read_waits_its_timeout_when_nothing_comes() -> None:
    link = make()
    started = time.monotonic()
    assert link.read(0.05) == b""
    assert time.monotonic() - started >= 0.04


def test_mechanical_time_blocks_the_writer_and_a_reader_waits_for_it() -> None:
    link = make(seconds_per_card=1.0)  # feeding takes 0.2 s
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(link.read(5.0)))
    reader.start()
    started = time.monotonic()
    link.write(p.encode_command(p.park_contactless()))
    assert time.monotonic() - started >= 0.18
    reader.join()
    assert got == [b"OK\r"]


def test_unplugged_and_closed_links_raise() -> None:
    link = make()
    link.write(p.encode_command(p.read_serial()))
    link.unplug()
    with pytest.raises(TransportError):
        link.read(0)
    with pytest.raises(TransportError):
        link.write(p.encode_command(p.read_serial()))
    link.plug()
    assert link.read(0) == b""  # what was queued before the cable came out is gone
    link.write(p.encode_command(p.read_model()))
    assert link.read(1.0) == b"Primacy\r"
    link.close()
    assert link.closed
    with pytest.raises(TransportError):
        link.write(p.encode_command(p.read_serial()))
    with pytest.raises(TransportError):
        link.read(0)


def test_unplug_wakes_a_waiting_reader() -> None:
    link = make()
    errors: list[Exception] = []

    def wait() -> None:
        try:
            link.read(5.0)
        except TransportError as exc:
            errors.append(exc)

    reader = threading.Thread(target=wait)
    reader.start()
    time.sleep(0.05)
    link.unplug()
    reader.join(2.0)
    assert not reader.is_alive() and errors


def test_sim_encoder_is_an_encoder() -> None:
    model = PrinterModel("SIM0000001", cards=2, seconds_per_card=0)
    encoder: Encoder = SimEncoder(model)
    with pytest.raises(EncodeError):
        encoder.encode(None)
    card = model.move_to_contactless()
    assert encoder.encode(None) == card.chip_uid
    assert card.uid_read and not card.encoded


def test_make_sim_printer(tmp_path: Path) -> None:
    handle = make_sim_printer(
        "van-2",
        cards=7,
        seconds_per_card=0,
        spoil_rate=0.1,
        seed=3,
        faults=["card 2: jam", "after 5: feeder empty"],
        state_file=tmp_path / "state.json",
        save_png_dir=tmp_path / "png",
    )
    assert handle.model.serial == sim_serial("van-2") != sim_serial("van-3")
    assert handle.model.physical_truth().in_feeder == 7
    assert handle.model.faults.spoil_rate == 0.1 and len(handle.model.faults.clauses) == 2
    assert handle.encoder is not None and handle.printer.save_png_dir == tmp_path / "png"
    assert (tmp_path / "state.json").exists()
    no_encoder = make_sim_printer("van-2", cards=1, seconds_per_card=0, encoder=False)
    assert no_encoder.encoder is None
    with pytest.raises(FaultScriptError, match="card x"):
        make_sim_printer("van-2", faults="card x: jam")
