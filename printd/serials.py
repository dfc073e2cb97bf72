"""Serial ranges of delivered blanks: ``FIRST-LAST`` parsed into a prefix and a numbered span, and overlaps."""

from __future__ import annotations

import re
from dataclasses import dataclass

from printd.errors import PrintdError

_SERIAL = re.compile(r"(?P<prefix>[A-Za-z0-9./_:]*?)(?P<number>[0-9]+)")
MAX_SERIAL_LENGTH = 64


@dataclass(frozen=True)
class SerialRange:
    """Blanks ``prefix + first`` to ``prefix + last``, both included (numbers compared as numbers)."""

    prefix: str
    first: int
    last: int
    text: str

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def overlaps(self, other: SerialRange) -> bool:
        return self.prefix == other.prefix and self.first <= other.last and other.first <= self.last


def parse_serials(text: str) -> SerialRange:
    """``FIRST-LAST``: two serials with the same prefix, ending in the number that counts the blanks.

    The dash that splits them is the one leaving two serials of one prefix, so a prefix may hold dashes of its
    own only if the two halves then still agree (``KTP-0001-KTP-0100``)."""
    candidates = []
    if len(text) <= 2 * MAX_SERIAL_LENGTH + 1:
        for at in (i for i, ch in enumerate(text) if ch == "-"):
            first, last = _serial(text[:at]), _serial(text[at + 1 :])
            if first is not None and last is not None and first[0] == last[0]:
                candidates.append(SerialRange(first[0], first[1], last[1], text))
    if len(candidates) != 1:
        raise PrintdError(
            "stock.invalid_serials",
            f"the serial range {text[:80]!r} is not FIRST-LAST with one prefix and a number at the end of each"
            " (e.g. KTP000101-KTP000200); copy it from the delivery note",
        )
    found = candidates[0]
    if found.last < found.first:
        raise PrintdError(
            "stock.invalid_serials", f"the serial range {text!r} ends before it starts; give the lower serial first"
        )
    return found


def _serial(text: str) -> tuple[str, int] | None:
    match = _SERIAL.fullmatch(text.replace("-", "/")) if text else None
    if match is None or len(text) > MAX_SERIAL_LENGTH:
        return None
    # the prefix keeps its own dashes: the match ran over a copy with them made slashes
    return text[: match.start("number")], int(match["number"])
