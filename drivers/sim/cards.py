"""Blank cards and what became of them: deterministic chip UIDs and serials, card records, physical truth."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def chip_uid(serial: str, index: int) -> str:
    """A 7-byte NXP-style UID (0x04 manufacturer byte), distinct for each blank index of one printer."""
    salt = hashlib.sha256(f"uid:{serial}".encode()).digest()
    multiplier = int.from_bytes(salt[:4], "big") | 1  # odd, so index -> body is one-to-one modulo 2**32
    body = (index * multiplier + int.from_bytes(salt[4:8], "big")) % 2**32
    return ("04" + salt[8:10].hex() + body.to_bytes(4, "big").hex()).upper()


def card_serial(serial: str, index: int) -> str:
    return f"{serial}-B{index:06d}"


@dataclass(frozen=True)
class Blank:
    """A blank card waiting in the feeder. ``index`` counts blanks loaded into this printer, from 1."""

    index: int
    chip_uid: str
    card_serial: str


@dataclass
class CardRecord:
    """A blank that left the feeder, and what happened to it. No job data: the printer never knows any.

    ``chip`` is the chip's memory (the transparent EF of drivers/sim/vicc.py) as far as it was written over
    PC/SC; bytes never written are 00. A card's chip link thread writes it without the model's lock (bytearray
    slice assignment is atomic in CPython); it is saved with the record at the printer's next physical change.
    """

    index: int
    chip_uid: str
    card_serial: str
    sides_printed: list[str] = field(default_factory=list)
    panels: list[str] = field(default_factory=list)
    uid_read: bool = False
    encoded: bool = False
    failure: str | None = None
    chip: bytearray = field(default_factory=bytearray)

    @classmethod
    def from_blank(cls, blank: Blank) -> CardRecord:
        return cls(blank.index, blank.chip_uid, blank.card_serial)


@dataclass(frozen=True)
class PhysicalTruth:
    """Where every blank is. ``balanced`` is the invariant: each blank fed is somewhere."""

    blanks_loaded: int
    cards_fed: int
    in_feeder: int
    in_printer: int
    in_hopper: int
    in_reject_box: int
    taken_from_hopper: int
    taken_from_reject_box: int

    @property
    def balanced(self) -> bool:
        placed = self.in_printer + self.in_hopper + self.in_reject_box
        taken = self.taken_from_hopper + self.taken_from_reject_box
        return self.cards_fed == placed + taken and self.blanks_loaded == self.in_feeder + self.cards_fed
