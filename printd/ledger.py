"""The blank-card ledger: append-only events and the balance folded from them.

Invariants (checked by ``Balance.check`` and by the tests after every scenario):
- Events are inserted, never updated or deleted.
- Every blank is in exactly one place: ``received + adjusted = on_hand + issued + spoiled + in_doubt``.
- No place holds a negative number of blanks.
- ``destroyed``/``returned`` move spoiled blanks out of the office; they never change the stock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class LedgerKind(enum.StrEnum):
    RECEIVED = "received"
    ISSUED = "issued"
    SPOILED = "spoiled"
    IN_DOUBT = "in_doubt"
    RESOLVED = "resolved"
    ADJUSTED = "adjusted"
    DESTROYED = "destroyed"
    RETURNED = "returned"


class Resolution(enum.StrEnum):
    """What an in-doubt blank turned out to be."""

    ISSUED = "issued"
    SPOILED = "spoiled"
    NOT_CONSUMED = "not_consumed"


@dataclass(frozen=True)
class LedgerEntry:
    """The part of a ledger event the balance depends on.

    ``count`` is the signed number of blanks for received/adjusted/destroyed/returned and 1 otherwise.
    ``from_issued`` marks a spoil of a card that had been booked as issued (rejected at inspection).
    """

    kind: LedgerKind
    count: int = 1
    resolution: Resolution | None = None
    from_issued: bool = False


PRINTER_PLACES = ("issued", "spoiled", "in_doubt")
"""The places a printer's own blanks are counted in (on hand is the station's, not a printer's)."""


class InvariantError(AssertionError):
    pass


@dataclass
class Balance:
    received: int = 0
    adjusted: int = 0
    on_hand: int = 0
    issued: int = 0
    spoiled: int = 0
    in_doubt: int = 0
    destroyed: int = 0
    returned: int = 0

    def apply(self, entry: LedgerEntry) -> None:
        kind = entry.kind
        if kind is LedgerKind.RECEIVED:
            self.received += entry.count
            self.on_hand += entry.count
        elif kind is LedgerKind.ADJUSTED:
            self.adjusted += entry.count
            self.on_hand += entry.count
        elif kind is LedgerKind.ISSUED:
            self.on_hand -= 1
            self.issued += 1
        elif kind is LedgerKind.SPOILED:
            if entry.from_issued:
                self.issued -= 1
            else:
                self.on_hand -= 1
            self.spoiled += 1
        elif kind is LedgerKind.IN_DOUBT:
            self.on_hand -= 1
            self.in_doubt += 1
        elif kind is LedgerKind.RESOLVED:
            self.in_doubt -= 1
            if entry.resolution is Resolution.ISSUED:
                self.issued += 1
            elif entry.resolution is Resolution.SPOILED:
                self.spoiled += 1
            else:
                self.on_hand += 1
        elif kind is LedgerKind.DESTROYED:
            self.destroyed += entry.count
        elif kind is LedgerKind.RETURNED:
            self.returned += entry.count

    @classmethod
    def fold(cls, entries: Iterable[LedgerEntry]) -> Balance:
        balance = cls()
        for entry in entries:
            balance.apply(entry)
        return balance

    def check(self) -> None:
        """Raise InvariantError unless every blank is in exactly one place."""
        places = self.on_hand + self.issued + self.spoiled + self.in_doubt
        if self.received + self.adjusted != places:
            raise InvariantError(
                f"received {self.received} + adjusted {self.adjusted} != on_hand {self.on_hand}"
                f" + issued {self.issued} + spoiled {self.spoiled} + in_doubt {self.in_doubt}"
            )
        negative = [name for name, value in self.as_dict().items() if value < 0 and name != "adjusted"]
        if negative:
            raise InvariantError(f"negative ledger places: {', '.join(negative)}")
        if self.destroyed + self.returned > self.spoiled:
            raise InvariantError("more spoiled blanks destroyed or returned than were spoiled")

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "adjusted": self.adjusted,
            "issued": self.issued,
            "spoiled": self.spoiled,
            "in_doubt": self.in_doubt,
            "on_hand": self.on_hand,
            "destroyed": self.destroyed,
            "returned": self.returned,
        }
