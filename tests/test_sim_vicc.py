"""The virtual contactless card, byte for byte: its ATR, GET DATA, SELECT, READ/UPDATE BINARY, vpcd's framing."""

from __future__ import annotations

import pytest

from drivers.sim.cards import CardRecord
from drivers.sim.faults import FaultKind
from drivers.sim.field import ChipBehaviour, FieldAddressError, parse_field_url
from drivers.sim.vicc import (
    APP_AID,
    EF_SIZE,
    ChipCard,
    Control,
    VpcdDecoder,
    answer,
    contactless_atr,
    frame,
)

UID = bytes.fromhex("04A1B2C3D4E5F6")
SELECT_APP = bytes.fromhex("00A4040C0A") + APP_AID
SELECT_EF = bytes.fromhex("00A4020C020101")


def card(*, refuse_writes: bool = False) -> ChipCard:
    return ChipCard(UID, refuse_writes=refuse_writes)


def selected(*, refuse_writes: bool = False) -> ChipCard:
    chip = card(refuse_writes=refuse_writes)
    assert chip.process(SELECT_APP) == b"\x90\x00"
    assert chip.process(SELECT_EF) == b"\x90\x00"
    return chip


def test_the_atr_is_pc_sc_part_3s_for_an_iso_14443_4_card() -> None:
    assert contactless_atr(b"printd") == bytes.fromhex("3B 86 80 01 70 72 69 6E 74 64 12")
    assert contactless_atr(b"") == bytes.fromhex("3B 80 80 01 01")
    atr = card().atr
    check = 0
    for byte in atr[1:]:
        check ^= byte
    assert check == 0
    with pytest.raises(ValueError, match="15 historical bytes"):
        contactless_atr(bytes(16))


@pytest.mark.parametrize(
    ("apdu", "reply"),
    [
        ("FFCA000000", "04A1B2C3D4E5F6 9000"),
        ("FFCA000007", "04A1B2C3D4E5F6 9000"),
        ("FFCA000004", "6C07"),
        ("FFCA000008", "04A1B2C3D4E5F6 6282"),
        ("FFCA010000", "7072696E7464 9000"),
        ("FFCA020000", "6A81"),
        ("FFCA000100", "6B00"),
        ("FFCA0000", "6700"),
        ("FFB0000000", "6D00"),
        ("80CA000000", "6E00"),
        ("0012000000", "6D00"),
        ("00A4", "6700"),
    ],
)
def test_get_data_and_unknown_commands(apdu: str, reply: str) -> None:
    assert card().process(bytes.fromhex(apdu)) == bytes.fromhex(reply)


def test_select_by_aid_by_file_id_and_by_path_with_their_fcp() -> None:
    chip = card()
    assert chip.process(bytes.fromhex("00A4040010") + APP_AID[:6]) == bytes.fromhex("6700")  # Lc 16, 6 bytes
    assert chip.process(bytes.fromhex("00A40400 0A") + APP_AID) == (
        bytes.fromhex("6213 8201 38 8302 7F10 840A") + APP_AID + b"\x90\x00"
    )
    assert chip.process(bytes.fromhex("00A40400 05") + APP_AID[:5]) == bytes.fromhex("6213 820138 83027F10 840A") + (
        APP_AID + b"\x90\x00"
    )  # a prefix of the AID
    assert chip.process(bytes.fromhex("00A4040C 05 A000000001")) == bytes.fromhex("6A82")
    assert chip.process(bytes.fromhex("00A40000 02 0101")) == bytes.fromhex("620B 80024000 820101 83020101 9000")
    assert chip.process(bytes.fromhex("00A4000C 02 3F00")) == bytes.fromhex("9000")
    assert chip.current_ef is None
    assert chip.process(bytes.fromhex("00A4080C 04 7F100101")) == bytes.fromhex("9000")
    assert chip.current_ef == 0x0101
    assert chip.process(bytes.fromhex("00A4080C 06 3F007F100101")) == bytes.fromhex("9000")
    assert chip.process(bytes.fromhex("00A4080C 02 0101")) == bytes.fromhex("6A82")  # not a child of the MF
    assert chip.process(bytes.fromhex("00A4000C 02 0102")) == bytes.fromhex("6A82")
    assert chip.process(bytes.fromhex("00A4050C 02 0101")) == bytes.fromhex("6A86")
    assert chip.process(bytes.fromhex("00A40010 02 0101")) == bytes.fromhex("6A86")


def test_update_then_read_binary_short_and_extended() -> None:
    chip = selected()
    assert chip.process(bytes.fromhex("00D60010 03 0A0B0C")) == bytes.fromhex("9000")
    assert chip.process(bytes.fromhex("00B0000E 06")) == bytes.fromhex("0000 0A0B0C 00 9000")
    block = bytes(range(256)) * 16
    assert chip.process(bytes.fromhex("00D61000 001000") + block) == bytes.fromhex("9000")
    assert chip.process(bytes.fromhex("00B01000 001000")) == block + bytes.fromhex("9000")
    assert chip.process(bytes.fromhex("00B01000 00")) == block[:256] + bytes.fromhex("9000")  # Le 00 = 256
    assert chip.memory[0x1000:0x2000] == block
    assert len(chip.memory) == 0x2000  # the memory reaches as far as it was written


@pytest.mark.parametrize(
    ("apdu", "reply"),
    [
        (f"00B0{EF_SIZE:04X}01", "6B00"),  # offset past the end
        (f"00D6{EF_SIZE:04X}0101", "6B00"),
        (f"00D6{EF_SIZE - 1:04X}020101", "6700"),  # a write running past the end
        ("00B00000", "6700"),  # no Le
        ("00D60000", "6700"),  # no data
        ("00D6000003 0101", "6700"),  # Lc 3, 2 bytes
        ("00D6000002 0101 00", "6700"),  # UPDATE BINARY takes no Le
        ("00B0810001", "6A81"),  # short EF identifier
        ("00D6810001AA", "6A81"),
    ],
)
def test_binary_errors(apdu: str, reply: str) -> None:
    assert selected().process(bytes.fromhex(apdu)) == bytes.fromhex(reply)


def test_a_read_past_the_end_gives_what_there_is_with_6282() -> None:
    chip = selected()
    assert chip.process(bytes.fromhex(f"00B0{EF_SIZE - 2:04X}04")) == bytes.fromhex("0000 6282")


def test_no_ef_selected_and_a_reset_forgets_the_selection() -> None:
    chip = card()
    assert chip.process(bytes.fromhex("00B0000001")) == bytes.fromhex("6986")
    assert chip.process(bytes.fromhex("00D6000001AA")) == bytes.fromhex("6986")
    chip = selected()
    assert answer(chip, bytes([Control.RESET])) is None
    assert chip.process(bytes.fromhex("00B0000001")) == bytes.fromhex("6986")


def test_a_chip_that_refuses_writes_answers_6581_and_keeps_its_memory() -> None:
    chip = selected(refuse_writes=True)
    assert chip.process(bytes.fromhex("00D6000002AABB")) == bytes.fromhex("6581")
    assert chip.memory == bytearray()
    assert chip.process(bytes.fromhex("00B0000002")) == bytes.fromhex("0000 9000")


def test_a_torn_write_lands_half_its_data() -> None:
    chip = selected()
    chip.write_torn(bytes.fromhex("00D6000004 01020304"))
    assert chip.memory == bytearray(b"\x01\x02")


def test_the_chip_memory_is_the_card_records() -> None:
    record = CardRecord(1, UID.hex().upper(), "S-1")
    chip = ChipCard(bytes.fromhex(record.chip_uid), record.chip)
    chip.process(SELECT_EF)
    chip.process(bytes.fromhex("00D6000203 414243"))
    assert record.chip == bytearray(b"\0\0ABC")


def test_vpcd_framing() -> None:
    chip = card()
    assert answer(chip, bytes([Control.GET_ATR])) == b"\x00\x0b" + chip.atr
    assert answer(chip, bytes([Control.POWER_ON])) is None
    assert answer(chip, bytes([Control.POWER_OFF])) is None
    assert answer(chip, bytes.fromhex("FFCA000000")) == bytes.fromhex("0009 04A1B2C3D4E5F6 9000")
    assert frame(b"") == b"\x00\x00"
    with pytest.raises(ValueError, match="65535"):
        frame(bytes(65536))
    decoder = VpcdDecoder()
    stream = frame(b"\x04") + frame(bytes.fromhex("FFCA000000")) + frame(b"\x01")
    received = [payload for i in range(len(stream)) for payload in decoder.feed(stream[i : i + 1])]
    assert received == [b"\x04", bytes.fromhex("FFCA000000"), b"\x01"]


def test_field_addresses() -> None:
    assert parse_field_url("vpcd://localhost:35963") == ("localhost", 35963)
    assert parse_field_url("vpcd://127.0.0.1:1") == ("127.0.0.1", 1)
    for bad in ("localhost:35963", "vpcd://localhost", "vpcd://:35963", "vpcd://h:0", "vpcd://h:70000", "tcp://h:1"):
        with pytest.raises(FieldAddressError, match="vpcd://HOST:PORT"):
            parse_field_url(bad)


def test_chip_behaviour_from_the_fault_script() -> None:
    assert ChipBehaviour.from_faults(frozenset()) == ChipBehaviour()
    assert ChipBehaviour.from_faults(frozenset({FaultKind.ENCODE_FAILS})).refuse_writes
    assert ChipBehaviour.from_faults(frozenset({FaultKind.CHIP_REFUSES})).refuse_writes
    assert ChipBehaviour.from_faults(frozenset({FaultKind.CARD_LEAVES_FIELD})).leave_mid_write
    assert ChipBehaviour.from_faults(frozenset({FaultKind.SLOW_CHIP})).delay == 0.3
    assert ChipBehaviour.from_faults(frozenset({FaultKind.NO_CARD_IN_FIELD})).absent
