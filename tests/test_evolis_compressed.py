"""Compressed K/O panels (Dbc): the line format byte for byte, the command framing both ways, the choice by
model and configuration, and the simulator printing exactly the same panels from Dbc as from Db."""

from __future__ import annotations

import pytest

from drivers.base import Card, Outcome
from drivers.evolis import panels, protocol
from drivers.evolis.driver import EvolisDriver
from drivers.evolis.protocol import Command, CommandDecoder, ProtocolError
from drivers.sim import make_sim_printer
from printd.config import ConfigError, parse_config
from tests.conftest import card_png

FAST = {"reply_timeout": 0.5, "motion_timeout": 2.0, "quiet_timeout": 0.02, "confirm_delay": 0}
CARD = Card(front=card_png("FRONT"), back=card_png("BACK"), chip_payload=b"payload")
LINE = panels.LINE_BYTES


def panel(lines: dict[int, bytes]) -> bytes:
    """A K panel, white but for ``lines`` (line number -> its 81 bytes)."""
    data = bytearray(panels.panel_data_size("k", 2))
    for number, line in lines.items():
        data[number * LINE : (number + 1) * LINE] = line
    return bytes(data)


def test_compressed_lines_byte_for_byte() -> None:
    partial = bytes([0x80, 0x00, 0x3C]) + bytes(LINE - 3)  # last inked byte is the 3rd
    full = bytes([0x01]) * LINE  # inked up to the last byte, not black
    data = panel({0: b"\xff" * LINE, 1: partial, 2: full})
    packed = panels.compress_mono(data)
    assert packed == b"\xff" + b"\x03\x80\x00\x3c" + b"\x51" + full + b"\x00" * (protocol.PANEL_HEIGHT - 3)
    assert panels.decompress_mono(packed) == data
    assert panels.compress_mono(panels.o_panel()) == b"\xff" * protocol.PANEL_HEIGHT


def test_dbc_command_bytes_and_the_printer_side_decoder() -> None:
    packed = panels.compress_mono(panel({5: b"\x0f" + bytes(LINE - 1)}))
    wire = protocol.encode_command(protocol.download_compressed_panel("k", 2, packed))
    assert wire == b"\x1bDbc;k;2;" + str(len(packed)).encode() + b";" + packed + b"\r"
    assert len(packed) == protocol.PANEL_HEIGHT + 1
    decoder = CommandDecoder()
    events = [e for i in range(0, len(wire), 7) for e in decoder.feed(wire[i : i + 7])]
    assert events == [Command("Dbc", ("k", "2", str(len(packed))), packed)]


@pytest.mark.parametrize(
    "bad",
    [b"\x52" + bytes(82), b"\x00" * (protocol.PANEL_HEIGHT - 1), b"\x00" * (protocol.PANEL_HEIGHT + 1), b"\x05\x01"],
)
def test_malformed_compressed_panels_are_refused(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        panels.decompress_mono(bad)


def test_dbc_is_for_k_and_o_only() -> None:
    with pytest.raises(ProtocolError, match="k and o"):
        protocol.download_compressed_panel("y", 32, b"\x00" * 1016)


@pytest.mark.parametrize(
    ("model", "listed"),
    [
        ("Dualys", True),
        ("Dualys 3", True),
        ("New Pebble", True),
        ("Quantum", True),
        ("Primacy", False),
        ("KC200", False),
        ("Zenius", False),
    ],
)
def test_models_the_guide_lists(model: str, listed: bool) -> None:
    assert protocol.accepts_compressed_panels(model, "any") is listed


def printed(model: str, mode: str) -> tuple[dict[str, dict[str, bytes]], EvolisDriver]:
    handle = make_sim_printer(f"dbc-{model}-{mode}", cards=3, seconds_per_card=0)
    handle.model.model_name = model
    driver = handle.driver(compress_panels=mode, **FAST)
    driver.open()
    assert driver.print_card(CARD).outcome is Outcome.PRINTED
    assert handle.model.physical_truth().in_hopper == 1
    return handle.printer.last_card_panels, driver


def test_the_simulator_prints_the_same_panels_from_dbc_as_from_db() -> None:
    plain, plain_driver = printed("Dualys", "never")
    packed, packed_driver = printed("Dualys", "auto")
    assert not plain_driver.compressing and packed_driver.compressing
    assert set(plain) == {"front", "back"} and set(plain["front"]) == {"y", "m", "c", "k", "o"}
    assert packed == plain


def test_auto_leaves_an_unlisted_model_uncompressed_and_always_falls_back_when_refused() -> None:
    plain, auto = printed("Primacy", "auto")
    assert not auto.compressing
    forced, always = printed("Primacy", "always")  # the simulated Primacy answers Dbc as an unknown command
    assert forced == plain and not always.compressing


def test_compress_panels_is_validated() -> None:
    with pytest.raises(ValueError, match="compress_panels"):
        EvolisDriver(make_sim_printer("dbc-bad", cards=0).transport, compress_panels="sometimes")
    text = '[[printer]]\ntype = "evolis"\nname = "p"\ntransport = "serial:///dev/ttyS0"\ncompress_panels = "x"\n'
    with pytest.raises(ConfigError, match="compress_panels"):
        parse_config(text)
    assert parse_config(text.replace('"x"', '"always"')).printer[0].compress_panels == "always"  # type: ignore[union-attr]
