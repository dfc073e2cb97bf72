"""A virtual ISO 14443 contactless chip card, sans-I/O: C-APDU bytes in, R-APDU bytes out; and vpcd's framing."""

# The card (what a test's or the simulator's contactless field puts in a vpcd reader):
#
#   MF 3F00
#   └── DF 7F10, the application, AID F0 70 72 69 6E 74 64 4B 54 50 ("F0" + "printdKTP": an e-KTP-like
#       │        application; F0 is ISO 7816-5's category of proprietary, unregistered identifiers)
#       └── EF 0101, transparent, EF_SIZE bytes: the chip's memory, kept on the card record (`CardRecord.chip`)
#
# File ids are unique on the card, so SELECT by file id (P1 00, 01, 02) finds its file from any current DF;
# P1 04 selects the application by its AID (a shorter prefix also matches, as ISO 7816-4 allows), P1 08 by a
# path from the MF (P1 09 from the current DF). P2 0C answers no data; P2 00/04 answers an FCP template.
#
# Commands, CLA 00 (no logical channel, no secure messaging):
#   A4 SELECT, B0 READ BINARY, D6 UPDATE BINARY on the current EF, offset in P1P2 (15 bits; P1 bit 8 set names a
#   short EF identifier, which this card does not support: 6A81). Short and extended Lc/Le. The EF's memory is
#   erased to 00: a read of bytes never written gives 00.
# CLA FF, the PC/SC part 3 pseudo-APDUs a reader handles itself (vpcd hands them to the card, so the card
#   stands in for the reader): FF CA 00 00 Le GET DATA answers the UID; P1 01 the ATS historical bytes.
#
# Status words (ISO 7816-4, PC/SC part 3): 9000 done; 6282 end of file or data reached before Le bytes (with
# what there was); 6581 memory failure (the chip refuses a write: `refuse_writes`); 6700 wrong length (no Le
# where one is needed, an Lc that does not match the data, a write running past the end of the EF); 6986 no EF
# selected; 6A81 function not supported; 6A82 file not found; 6A86 wrong P1-P2 for SELECT; 6B00 offset outside
# the EF, or a wrong P2 for GET DATA; 6CXX GET DATA with an Le shorter than the UID (XX its length); 6D00 unknown
# INS; 6E00 unknown CLA.
#
# The ATR is what a PC/SC reader builds for an ISO 14443-4 card (PC/SC part 3, 3.1.3.2.3.1): 3B 8n 80 01,
# the n historical bytes (from the ATS; here HISTORICAL), and the check byte TCK (the XOR of T0 .. the last
# historical byte).
#
# vpcd's link (vsmartcard's vpcd driver, the card's side): every message is a 2-byte big-endian length and its
# payload. A 1-byte payload is a control (`Control`): the card answers GET_ATR with the ATR, the others with
# nothing. A longer payload is a C-APDU, answered by the R-APDU.

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

MF_FID = 0x3F00
APP_FID = 0x7F10
EF_FID = 0x0101
APP_AID = bytes.fromhex("F0") + b"printdKTP"
EF_SIZE = 16384
HISTORICAL = b"printd"

SW_OK = b"\x90\x00"
SW_END_REACHED = b"\x62\x82"
SW_MEMORY_FAILURE = b"\x65\x81"
SW_WRONG_LENGTH = b"\x67\x00"
SW_NO_CURRENT_EF = b"\x69\x86"
SW_FUNCTION_NOT_SUPPORTED = b"\x6a\x81"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_WRONG_PARAMETERS = b"\x6b\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_UPDATE_BINARY = 0xD6
INS_GET_DATA = 0xCA


def contactless_atr(historical: bytes = HISTORICAL) -> bytes:
    """The ATR a PC/SC reader makes up for an ISO 14443-4 card whose ATS carries ``historical``."""
    if len(historical) > 15:
        raise ValueError(f"an ATR carries at most 15 historical bytes, not {len(historical)}")
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes([tck])


@dataclass(frozen=True)
class Apdu:
    """A parsed C-APDU (ISO 7816-4 cases 1 to 4, short or extended). ``le`` is None when absent; an Le of
    00 (0000 extended) is 256 (65536)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    @property
    def offset(self) -> int:
        return (self.p1 << 8) | self.p2


class MalformedApduError(ValueError):
    """Bytes that are no C-APDU: too short, or lengths that do not add up."""


def parse_apdu(raw: bytes) -> Apdu:
    """Parse ``raw``; raise MalformedApduError when its lengths do not add up."""
    if len(raw) < 4:
        raise MalformedApduError(f"a C-APDU has at least 4 bytes, not {len(raw)}")
    cla, ins, p1, p2 = raw[:4]
    body = raw[4:]
    if not body:
        return Apdu(cla, ins, p1, p2)
    if len(body) == 1:
        return Apdu(cla, ins, p1, p2, le=body[0] or 256)
    if body[0] != 0:  # short Lc
        lc = body[0]
        data = body[1 : 1 + lc]
        rest = body[1 + lc :]
        if len(data) != lc or len(rest) > 1:
            raise MalformedApduError("short Lc does not match the data")
        return Apdu(cla, ins, p1, p2, data, (rest[0] or 256) if rest else None)
    if len(body) == 3:  # extended Le only
        return Apdu(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or 65536)
    lc = int.from_bytes(body[1:3], "big")
    data = body[3 : 3 + lc]
    rest = body[3 + lc :]
    if lc == 0 or len(data) != lc or len(rest) not in (0, 2):
        raise MalformedApduError("extended Lc does not match the data")
    return Apdu(cla, ins, p1, p2, data, (int.from_bytes(rest, "big") or 65536) if rest else None)


@dataclass
class ChipCard:
    """One contactless chip: ``uid`` (PC/SC GET DATA), ``memory`` the EF's content (shared with the card record,
    so what is written is the physical truth; it grows as far as it is written, unwritten bytes read 00).

    ``refuse_writes``: every UPDATE BINARY is answered 6581 (memory failure) and changes nothing."""

    uid: bytes
    memory: bytearray = field(default_factory=bytearray)
    refuse_writes: bool = False
    historical: bytes = HISTORICAL
    current_df: int = MF_FID
    current_ef: int | None = None

    @property
    def atr(self) -> bytes:
        return contactless_atr(self.historical)

    def reset(self) -> None:
        """Power off, power on or reset: the card starts again at the MF with no EF selected."""
        self.current_df = MF_FID
        self.current_ef = None

    def process(self, raw: bytes) -> bytes:
        """The R-APDU (data + SW1 SW2) the card answers to the C-APDU ``raw``."""
        try:
            apdu = parse_apdu(raw)
        except MalformedApduError:
            return SW_WRONG_LENGTH
        if apdu.cla == 0xFF:
            return self._get_data(apdu) if apdu.ins == INS_GET_DATA else SW_INS_NOT_SUPPORTED
        if apdu.cla != 0x00:
            return SW_CLA_NOT_SUPPORTED
        if apdu.ins == INS_SELECT:
            return self._select(apdu)
        if apdu.ins == INS_READ_BINARY:
            return self._read_binary(apdu)
        if apdu.ins == INS_UPDATE_BINARY:
            return self._update_binary(apdu)
        return SW_INS_NOT_SUPPORTED

    def write_torn(self, raw: bytes) -> None:
        """The card leaves the field in the middle of the UPDATE BINARY ``raw``: the first half of its data is
        written, and no answer is ever sent."""
        try:
            apdu = parse_apdu(raw)
        except MalformedApduError:
            return
        if self._writable(apdu) is None:
            self._write(apdu.offset, apdu.data[: len(apdu.data) // 2])

    # --- commands ---

    def _get_data(self, apdu: Apdu) -> bytes:
        if apdu.p1 == 0x00:
            value = self.uid
        elif apdu.p1 == 0x01:
            value = self.historical
        else:
            return SW_FUNCTION_NOT_SUPPORTED
        if apdu.p2 != 0x00:
            return SW_WRONG_PARAMETERS
        if apdu.le is None:
            return SW_WRONG_LENGTH
        if apdu.le in (256, 65536) or apdu.le == len(value):  # Le 00 (0000): the whole value, whatever its length
            return value + SW_OK
        if apdu.le < len(value):
            return bytes([0x6C, len(value)])
        return value + SW_END_REACHED

    def _select(self, apdu: Apdu) -> bytes:
        if apdu.p2 & 0xF3 != 0x00:  # b8-b5, b2-b1: first or only occurrence, FCP/FCI/none (b4-b3)
            return SW_WRONG_P1P2
        if apdu.p1 == 0x04:
            found = APP_FID if apdu.data and APP_AID.startswith(apdu.data) else None
        elif apdu.p1 in (0x00, 0x01, 0x02):
            found = _fid(apdu.data) if apdu.data else MF_FID
        elif apdu.p1 in (0x08, 0x09):
            found = self._by_path(apdu.data, from_mf=apdu.p1 == 0x08)
        else:
            return SW_WRONG_P1P2
        if found is None or found not in (MF_FID, APP_FID, EF_FID):
            return SW_FILE_NOT_FOUND
        if found == EF_FID:
            self.current_df, self.current_ef = APP_FID, EF_FID
        else:
            self.current_df, self.current_ef = found, None
        if apdu.p2 & 0x0C == 0x0C:
            return SW_OK
        return _fcp(found) + SW_OK

    def _by_path(self, path: bytes, *, from_mf: bool) -> int | None:
        if len(path) < 2 or len(path) % 2:
            return None
        fids = [int.from_bytes(path[i : i + 2], "big") for i in range(0, len(path), 2)]
        if from_mf and fids[0] == MF_FID:
            fids = fids[1:]  # the path may name the MF first
        parent = MF_FID if from_mf else self.current_df
        found = parent
        for fid in fids:
            if _PARENT.get(fid) != found:
                return None
            found = fid
        return found

    def _read_binary(self, apdu: Apdu) -> bytes:
        problem = self._readable(apdu)
        if problem is not None:
            return problem
        assert apdu.le is not None
        end = min(apdu.offset + apdu.le, EF_SIZE)
        data = bytes(self.memory[apdu.offset : end]).ljust(end - apdu.offset, b"\x00")
        return data + (SW_OK if len(data) == apdu.le else SW_END_REACHED)

    def _readable(self, apdu: Apdu) -> bytes | None:
        if apdu.p1 & 0x80:
            return SW_FUNCTION_NOT_SUPPORTED
        if self.current_ef is None:
            return SW_NO_CURRENT_EF
        if apdu.data or apdu.le is None:
            return SW_WRONG_LENGTH
        if apdu.offset >= EF_SIZE:
            return SW_WRONG_PARAMETERS
        return None

    def _update_binary(self, apdu: Apdu) -> bytes:
        problem = self._writable(apdu)
        if problem is not None:
            return problem
        if self.refuse_writes:
            return SW_MEMORY_FAILURE
        self._write(apdu.offset, apdu.data)
        return SW_OK

    def _writable(self, apdu: Apdu) -> bytes | None:
        if apdu.p1 & 0x80:
            return SW_FUNCTION_NOT_SUPPORTED
        if self.current_ef is None:
            return SW_NO_CURRENT_EF
        if apdu.offset >= EF_SIZE:
            return SW_WRONG_PARAMETERS
        if not apdu.data or apdu.le is not None or apdu.offset + len(apdu.data) > EF_SIZE:
            return SW_WRONG_LENGTH
        return None

    def _write(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if len(self.memory) < end:
            self.memory.extend(bytes(end - len(self.memory)))
        self.memory[offset:end] = data


# Each file's parent DF.
_PARENT = {APP_FID: MF_FID, EF_FID: APP_FID}


def _fid(data: bytes) -> int | None:
    return int.from_bytes(data, "big") if len(data) == 2 else None


def _fcp(fid: int) -> bytes:
    """The FCP template (ISO 7816-4 tag 62) SELECT answers for ``fid``."""
    if fid == EF_FID:
        body = b"\x80\x02" + EF_SIZE.to_bytes(2, "big") + b"\x82\x01\x01" + b"\x83\x02" + fid.to_bytes(2, "big")
    else:
        body = b"\x82\x01\x38" + b"\x83\x02" + fid.to_bytes(2, "big")
        if fid == APP_FID:
            body += bytes([0x84, len(APP_AID)]) + APP_AID
    return bytes([0x62, len(body)]) + body


# --- vpcd's framing ---


class Control(enum.IntEnum):
    """A 1-byte vpcd message: what the reader does to the card."""

    POWER_OFF = 0
    POWER_ON = 1
    RESET = 2
    GET_ATR = 4


def frame(payload: bytes) -> bytes:
    """One vpcd message: the 2-byte big-endian length, then ``payload``."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"a vpcd message carries at most 65535 bytes, not {len(payload)}")
    return struct.pack(">H", len(payload)) + payload


class VpcdDecoder:
    """Bytes from vpcd in (any split), whole message payloads out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        while len(self._buffer) >= 2:
            (length,) = struct.unpack_from(">H", self._buffer)
            if len(self._buffer) < 2 + length:
                return
            payload = bytes(self._buffer[2 : 2 + length])
            del self._buffer[: 2 + length]
            yield payload


def answer(card: ChipCard, payload: bytes) -> bytes | None:
    """The card's answer to one vpcd message (framed), or None when the message wants none."""
    if len(payload) == 1:
        control = payload[0]
        if control == Control.GET_ATR:
            return frame(card.atr)
        if control in (Control.POWER_OFF, Control.POWER_ON, Control.RESET):
            card.reset()
        return None
    return frame(card.process(payload))
