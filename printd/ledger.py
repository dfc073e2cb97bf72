"""The blank-card ledger: append-only events and the balance folded from them.

Invariants (checked by ``Balance.check`` and by the tests after every scenario):
- Events are inserted, never updated or deleted.
- Every blank is in exactly one place, per station and for the whole queue:
  ``received + transferred_in - transferred_out + adjusted = on_hand + issued + spoiled + in_doubt``.
- ``transferred`` moves blanks on hand from one station's custody to another's: one event, booked at the source,
  naming the destination; for the whole queue it moves nothing.
- No place holds a negative number of blanks.
- ``destroyed``/``returned`` move spoiled blanks out of the office; they never change the stock.
- ``reconciled`` records a printer's own card counter against what the ledger booked on it; it moves no blank.
  A difference it finds is reported, never booked: booking it is a supervisor's ``adjusted`` event.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, fields


class LedgerKind(enum.StrEnum):
    RECEIVED = "received"
    ISSUED = "issued"
    SPOILED = "spoiled"
    IN_DOUBT = "in_doubt"
    RESOLVED = "resolved"
    ADJUSTED = "adjusted"
    DESTROYED = "destroyed"
    RETURNED = "returned"
    RECONCILED = "reconciled"
    TRANSFERRED = "transferred"


class Direction(enum.StrEnum):
    """Which end of a transfer a balance is folded for (neither: the whole queue, where it nets to nothing)."""

    OUT = "out"
    IN = "in"


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
    ``transfer``: for a transfer folded into one station's balance, which end that station is.
    """

    kind: LedgerKind
    count: int = 1
    resolution: Resolution | None = None
    from_issued: bool = False
    transfer: Direction | None = None


PRINTER_PLACES = ("issued", "spoiled", "in_doubt")
"""The places a printer's own blanks are counted in (on hand is the station's, not a printer's)."""


class InvariantError(AssertionError):
    pass


@dataclass
class Balance:
    received: int = 0
    transferred_in: int = 0
    transferred_out: int = 0
    adjusted: int = 0
    on_hand: int = 0
    issued: int = 0
    spoiled: int = 0
    in_doubt: int = 0
    destroyed: int = 0
    returned: int = 0

    def apply(self, entry: LedgerEntry, events: int = 1) -> None:
        """Fold ``events`` events of ``entry``'s shape; for the kinds that carry a count, ``entry.count`` is already
        their counts' sum (every other kind moves one blank an event)."""
        kind, n = entry.kind, events
        if kind is LedgerKind.RECEIVED:
            self.received += entry.count
            self.on_hand += entry.count
        elif kind is LedgerKind.ADJUSTED:
            self.adjusted += entry.count
            self.on_hand += entry.count
        elif kind is LedgerKind.ISSUED:
            self.on_hand -= n
            self.issued += n
        elif kind is LedgerKind.SPOILED:
            if entry.from_issued:
                self.issued -= n
            else:
                self.on_hand -= n
            self.spoiled += n
        elif kind is LedgerKind.IN_DOUBT:
            self.on_hand -= n
            self.in_doubt += n
        elif kind is LedgerKind.RESOLVED:
            self.in_doubt -= n
            if entry.resolution is Resolution.ISSUED:
                self.issued += n
            elif entry.resolution is Resolution.SPOILED:
                self.spoiled += n
            else:
                self.on_hand += n
        elif kind is LedgerKind.DESTROYED:
            self.destroyed += entry.count
        elif kind is LedgerKind.RETURNED:
            self.returned += entry.count
        elif kind is LedgerKind.RECONCILED:
            pass  # a reconciliation records the printer's counter; it moves no blank
        elif kind is LedgerKind.TRANSFERRED:
            if entry.transfer is not Direction.IN:
                self.transferred_out += entry.count
            if entry.transfer is not Direction.OUT:
                self.transferred_in += entry.count
            self.on_hand += {Direction.IN: entry.count, Direction.OUT: -entry.count, None: 0}[entry.transfer]

    @property
    def consumed(self) -> int:
        """Blanks taken from the stock by printing: of one printer's events, what its feeders gave out."""
        return self.issued + self.spoiled + self.in_doubt

    @classmethod
    def total(cls, parts: Iterable[Balance]) -> Balance:
        """Balances added place by place (every station's custody: the whole queue's)."""
        whole = cls()
        for part in parts:
            for place in fields(cls):
                setattr(whole, place.name, getattr(whole, place.name) + getattr(part, place.name))
        return whole

    @classmethod
    def fold(cls, entries: Iterable[LedgerEntry]) -> Balance:
        balance = cls()
        for entry in entries:
            balance.apply(entry)
        return balance

    def check(self) -> None:
        """Raise InvariantError unless every blank is in exactly one place."""
        places = self.on_hand + self.issued + self.spoiled + self.in_doubt
        if self.received + self.transferred_in - self.transferred_out + self.adjusted != places:
            raise InvariantError(
                f"received {self.received} + transferred in {self.transferred_in} - out {self.transferred_out}"
                f" + adjusted {self.adjusted} != on_hand {self.on_hand}"
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
            "transferred_in": self.transferred_in,
            "transferred_out": self.transferred_out,
            "adjusted": self.adjusted,
            "issued": self.issued,
            "spoiled": self.spoiled,
            "in_doubt": self.in_doubt,
            "on_hand": self.on_hand,
            "destroyed": self.destroyed,
            "returned": self.returned,
        }


@dataclass(frozen=True)
class Reconciliation:
    """A printer's own card counter held against what the ledger booked on it (one ``reconciled`` event).

    Since the previous reconciliation (for the first: since before printd's first card on the printer), the
    counter went from ``previous_counter`` to ``counter`` while the ledger booked ``consumed`` blanks on it.
    ``difference`` > 0: blanks left the feeder that the ledger does not book (fed outside printd: a test card from
    the printer's own menu, a card fed while a jam was cleared by hand); < 0: the ledger books blanks the counter
    never saw. ``explained``: blanks that supervisors' adjustments against this printer wrote off since the
    previous reconciliation. ``unexplained``: what is still open, from this and every earlier one.
    ``consumed_total`` is the ledger's running count for the printer, where the next reconciliation starts.
    """

    printer: str
    counter: int
    previous_counter: int
    consumed: int
    explained: int
    unexplained_before: int
    consumed_total: int
    event_id: int = 0
    at: float = 0.0
    actor: str = ""

    @property
    def difference(self) -> int:
        return self.counter - self.previous_counter - self.consumed

    @property
    def unexplained(self) -> int:
        return self.unexplained_before + self.difference - self.explained

    def summary(self) -> str:
        """One line for the ledger event's detail: numbers only, nothing about any card holder."""
        return (
            f"card counter {self.previous_counter} -> {self.counter}, ledger booked {self.consumed}: difference"
            f" {self.difference:+d}; explained by adjustments {self.explained}; unexplained {self.unexplained:+d}"
        )


def open_difference(
    last: Reconciliation, counter_now: int | None, consumed_total_now: int, explained_since: int, in_flight: int
) -> int:
    """Blanks still unexplained on a printer now: what its last reconciliation left open, less what adjustments
    explained since, plus how far its counter has drifted from the ledger since (``counter_now`` None: the
    counter cannot be read now, so no drift is counted). Up to ``in_flight`` blanks of drift are cards being
    printed or awaiting their booking, not a difference."""
    drift = 0
    if counter_now is not None:
        drift = (counter_now - last.counter) - (consumed_total_now - last.consumed_total)
        if 0 < drift <= in_flight:
            drift = 0
    return last.unexplained + drift - explained_since
