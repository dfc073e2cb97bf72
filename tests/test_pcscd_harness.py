"""The simulator's contactless field against a real pcscd with vpcd readers, read through pyscard as a host would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.faults import SLOW_CHIP_SECONDS
from drivers.sim.field import ContactlessField
from drivers.sim.model import Position
from drivers.sim.vicc import APP_AID
from tests.pcscd import PrivatePcscd, private_pcscd, require_pcscd

PRESENT_TIMEOUT = 3.0  # pcscd polls a vpcd slot about every 0.4 s
SELECT_APP = [0x00, 0xA4, 0x04, 0x0C, len(APP_AID), *APP_AID]
SELECT_EF = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x01, 0x01]
GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]


class Reader:
    """One PC/SC reader seen through pyscard's low-level API (the one pcscd this process talks to)."""

    def __init__(self, name: str) -> None:
        from smartcard import scard

        self.scard = scard
        self.name = name
        hresult, self.context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        assert hresult == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hresult)
        self.card: int | None = None
        self.protocol = 0

    def state(self) -> int:
        s = self.scard
        _, states = s.SCardGetStatusChange(self.context, 0, [(self.name, s.SCARD_STATE_UNAWARE)])
        return int(states[0][1])

    def wait(self, flag: int, timeout: float = PRESENT_TIMEOUT) -> bool:
        """Wait until the reader's state has ``flag`` (SCARD_STATE_PRESENT or _EMPTY); False after ``timeout``."""
        s = self.scard
        deadline = time.monotonic() + timeout
        known = s.SCARD_STATE_UNAWARE
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            hresult, states = s.SCardGetStatusChange(self.context, int(left * 1000), [(self.name, known)])
            if hresult == s.SCARD_E_TIMEOUT:
                return False
            known = states[0][1] & ~s.SCARD_STATE_CHANGED
            if known & flag:
                return True

    def connect(self) -> None:
        s = self.scard
        assert self.wait(s.SCARD_STATE_PRESENT), f"no card in {self.name} within {PRESENT_TIMEOUT} s"
        hresult, self.card, self.protocol = s.SCardConnect(
            self.context, self.name, s.SCARD_SHARE_SHARED, s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1
        )
        assert hresult == s.SCARD_S_SUCCESS, s.SCardGetErrorMessage(hresult)

    def transmit(self, apdu: list[int]) -> tuple[int, bytes]:
        """(hresult, R-APDU)."""
        assert self.card is not None
        hresult, response = self.scard.SCardTransmit(self.card, self.protocol, apdu)
        return int(hresult), bytes(response)

    def ok(self, apdu: list[int]) -> bytes:
        hresult, response = self.transmit(apdu)
        assert hresult == self.scard.SCARD_S_SUCCESS, self.scard.SCardGetErrorMessage(hresult)
        assert response[-2:] == b"\x90\x00", response[-2:].hex()
        return response[:-2]

    def close(self) -> None:
        s = self.scard
        if self.card is not None:
            s.SCardDisconnect(self.card, s.SCARD_LEAVE_CARD)
        s.SCardReleaseContext(self.context)


@pytest.fixture
def readers(pcsc_stack: PrivatePcscd) -> Iterator[list[Reader]]:
    opened = [Reader(r.pcsc_name) for r in pcsc_stack.readers]
    yield opened
    for reader in opened:
        reader.close()


def printer(pcsc_stack: PrivatePcscd, index: int = 0, faults: str | None = None) -> SimHandle:
    return make_sim_printer(
        f"chip-{index}", cards=5, seconds_per_card=0, faults=faults, field=pcsc_stack.readers[index].field_url
    )


def park(handle: SimHandle) -> None:
    """The host's Sic: the printer feeds a blank and parks it at the contactless station."""
    assert handle.printer.receive(b"\x1bSic\r") == b"OK\r"
    assert handle.model.position is Position.CONTACTLESS


def eject(handle: SimHandle) -> None:
    assert handle.printer.receive(b"\x1bSer\r") == b"OK\r"


def write_in_chunks(reader: Reader, data: bytes, chunk: int = 250) -> None:
    reader.ok(SELECT_APP)
    reader.ok(SELECT_EF)
    for offset in range(0, len(data), chunk):
        part = data[offset : offset + chunk]
        reader.ok([0x00, 0xD6, offset >> 8, offset & 0xFF, len(part), *part])


def test_the_uid_read_is_the_blanks_and_the_card_leaves_at_reject(
    pcsc_stack: PrivatePcscd, readers: list[Reader]
) -> None:
    handle = printer(pcsc_stack)
    reader = readers[0]
    park(handle)
    reader.connect()
    assert handle.model.card is not None
    assert reader.ok(GET_UID).hex().upper() == handle.model.card.chip_uid
    assert reader.transmit([0xFF, 0xCA, 0x00, 0x00, 0x04])[1] == bytes([0x6C, 7])
    eject(handle)
    assert reader.wait(reader.scard.SCARD_STATE_EMPTY), "pcscd still sees the card after Ser"


def test_4_kib_written_in_chunks_reads_back_and_is_the_card_records(
    pcsc_stack: PrivatePcscd, readers: list[Reader]
) -> None:
    handle = printer(pcsc_stack)
    reader = readers[0]
    park(handle)
    reader.connect()
    data = bytes((i * 7 + 3) % 256 for i in range(4096))
    write_in_chunks(reader, data)
    assert reader.ok([0x00, 0xB0, 0x00, 0x00, 0x00, 0x10, 0x00]) == data  # one extended READ BINARY
    read = b"".join(reader.ok([0x00, 0xB0, o >> 8, o & 0xFF, 0x00]) for o in range(0, 4096, 256))
    assert read == data
    record = handle.model.card
    assert record is not None
    eject(handle)
    assert bytes(record.chip) == data
    assert handle.model.reject_box[-1].chip == data


def test_a_chip_that_refuses_answers_6581(pcsc_stack: PrivatePcscd, readers: list[Reader]) -> None:
    handle = printer(pcsc_stack, faults="card 1: chip refuses")
    reader = readers[0]
    park(handle)
    reader.connect()
    reader.ok(SELECT_APP)
    reader.ok(SELECT_EF)
    assert reader.transmit([0x00, 0xD6, 0x00, 0x00, 0x02, 0xAA, 0xBB]) == (0, b"\x65\x81")
    eject(handle)
    # "encode fails" at the encoder means the same with a field
    handle = printer(pcsc_stack, faults="card 1: encode fails")
    park(handle)
    reader.close()
    reader = Reader(pcsc_stack.readers[0].pcsc_name)
    try:
        reader.connect()
        reader.ok(SELECT_EF)
        assert reader.transmit([0x00, 0xD6, 0x00, 0x00, 0x01, 0xAA])[1] == b"\x65\x81"
    finally:
        eject(handle)
        reader.close()


def test_a_card_that_leaves_the_field_mid_write_is_a_removed_card_for_pyscard(pcsc_stack: PrivatePcscd) -> None:
    from smartcard.Exceptions import CardConnectionException
    from smartcard.System import readers as system_readers

    handle = printer(pcsc_stack, faults="card 1: card leaves the field")
    name = pcsc_stack.readers[0].pcsc_name
    park(handle)
    probe = Reader(name)
    try:
        assert probe.wait(probe.scard.SCARD_STATE_PRESENT)
    finally:
        probe.close()
    connection = next(r for r in system_readers() if str(r) == name).createConnection()
    connection.connect()
    try:
        assert connection.transmit(SELECT_EF) == ([], 0x90, 0x00)
        with pytest.raises(CardConnectionException):
            connection.transmit([0x00, 0xD6, 0x00, 0x00, 0x04, 1, 2, 3, 4])
        assert handle.model.card is not None
        assert bytes(handle.model.card.chip) == b"\x01\x02"  # torn: half of it landed
    finally:
        connection.release()
        eject(handle)


def test_a_slow_chip_answers_each_apdu_late(pcsc_stack: PrivatePcscd, readers: list[Reader]) -> None:
    handle = printer(pcsc_stack, faults="card 1: slow chip")
    reader = readers[0]
    park(handle)
    try:
        reader.connect()
        start = time.monotonic()
        reader.ok(GET_UID)
        elapsed = time.monotonic() - start
        assert SLOW_CHIP_SECONDS <= elapsed < SLOW_CHIP_SECONDS + 1.0
    finally:
        eject(handle)


def test_no_card_in_the_field_is_never_present(pcsc_stack: PrivatePcscd, readers: list[Reader]) -> None:
    handle = printer(pcsc_stack, faults="card 1: no card in the field")
    reader = readers[0]
    park(handle)
    try:
        assert not reader.wait(reader.scard.SCARD_STATE_PRESENT, timeout=1.2)
    finally:
        eject(handle)


def test_two_readers_two_cards_at_once(pcsc_stack: PrivatePcscd, readers: list[Reader]) -> None:
    first, second = printer(pcsc_stack, 1), printer(pcsc_stack, 2)
    park(first)
    park(second)
    try:
        readers[1].connect()
        readers[2].connect()
        assert first.model.card is not None and second.model.card is not None
        assert readers[1].ok(GET_UID).hex().upper() == first.model.card.chip_uid
        assert readers[2].ok(GET_UID).hex().upper() == second.model.card.chip_uid
        assert first.model.card.chip_uid != second.model.card.chip_uid
    finally:
        eject(first)
        eject(second)
    assert readers[1].wait(readers[1].scard.SCARD_STATE_EMPTY)
    assert readers[2].wait(readers[2].scard.SCARD_STATE_EMPTY)


def test_a_card_leaves_the_field_when_printing_starts(pcsc_stack: PrivatePcscd, readers: list[Reader]) -> None:
    handle = printer(pcsc_stack, 3)
    reader = readers[3]
    park(handle)
    assert reader.wait(reader.scard.SCARD_STATE_PRESENT)
    handle.model.print_panel("front", "k")
    assert reader.wait(reader.scard.SCARD_STATE_EMPTY)
    eject(handle)


def test_pcscd_down_and_back_with_a_second_pcscd_beside_the_first(pcsc_stack: PrivatePcscd) -> None:
    """The card is in no field while pcscd is down (no crash); once pcscd is back it is. This second pcscd runs
    beside the session's (as under pytest-xdist), reached from a process of its own."""
    require_pcscd()
    with private_pcscd(readers=1) as second:
        reader = second.readers[0]
        field = ContactlessField("127.0.0.1", reader.port)
        handle = make_sim_printer("chip-down", cards=3, seconds_per_card=0)
        handle.model.field = field
        second.stop()
        park(handle)
        assert not field.occupied
        eject(handle)
        second.start()
        park(handle)
        assert field.occupied
        try:
            assert _present_in_another_process(second, reader.pcsc_name)
        finally:
            eject(handle)
    assert pcsc_stack.running
    assert any(r.pcsc_name in _reader_names() for r in pcsc_stack.readers)


def _present_in_another_process(server: PrivatePcscd, name: str) -> bool:
    script = (
        "import sys, time\n"
        "from smartcard import scard as s\n"
        "_, ctx = s.SCardEstablishContext(s.SCARD_SCOPE_USER)\n"
        "deadline = time.monotonic() + 3\n"
        "while time.monotonic() < deadline:\n"
        "    _, st = s.SCardGetStatusChange(ctx, 0, [(sys.argv[1], s.SCARD_STATE_UNAWARE)])\n"
        "    if st[0][1] & s.SCARD_STATE_PRESENT: sys.exit(0)\n"
        "    time.sleep(0.1)\n"
        "sys.exit(1)\n"
    )
    env = {**os.environ, **server.env}
    done = subprocess.run([sys.executable, "-c", script, name], env=env, timeout=20, check=False)
    return done.returncode == 0


def _reader_names() -> list[str]:
    from smartcard import scard

    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        _, names = scard.SCardListReaders(context, [])
        return list(names)
    finally:
        scard.SCardReleaseContext(context)
