"""Fault scripts for the simulated printer: clauses like ``card 7: jam while printing``, plus seeded spoils."""

# Grammar (case and extra spaces do not matter, a few obvious variants are accepted ("jam", "cover open");
# clauses are separated by ";" or newlines, or given as a list):
#
#   clause  := "card" N ":" card-fault | "after" N ":" after-fault
#   card-fault  := "jam while printing" | "jam" | "print fails" | "head error" | "head temperature"
#                | "ribbon ends" | "encode fails" | "cover opens" | "garbled reply" | "no reply"
#   after-fault := "feeder empty" | "reject box full" | "cover opens" | "ribbon ends"
#
# N counts the blanks this printer fed, from 1 ("card 7" is the seventh blank to leave the feeder);
# "after N" strikes once N blanks have been fed, before the next. What each fault does:
#
# * jam while printing / print fails / head temperature / ribbon ends (card N): the printer fails the card's
#   first panel (mechanical error, ribbon error, head temperature, ribbon ended); the card stays in the
#   printer until it is sent to the reject box. "ribbon ends" also stays after the card, until Scs.
# * encode fails (card N): the simulated encoder raises EncodeError with the chip's UID.
# * cover opens (card N, or after N-1): the cover-open error appears when card N is to be fed; nothing is
#   fed until Scs.
# * feeder empty / reject box full (after N): the sensor reports it as soon as N blanks have been fed, and
#   feeding is refused, until Scs.
# * garbled reply / no reply (card N): the reply to the command that ends card N (Se or Ser) is garbled or
#   never sent; the card moves all the same.
#
# Scs in the simulator means "the operator fixed the cause and pressed the button": it clears what a
# clause latched. Random spoils (spoil_rate, seed) are "print fails" on the cards whose draw, a pure
# function of (seed, card number), falls under the rate, so a restarted simulator spoils the same cards.

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class FaultScriptError(ValueError):
    """A fault script that cannot be understood; the message names the bad clause."""


class FaultKind(enum.StrEnum):
    """What goes wrong. The value is the canonical phrase used in scripts."""

    JAM = "jam while printing"
    PRINT_FAILS = "print fails"
    HEAD_TEMPERATURE = "head temperature"
    RIBBON_ENDS = "ribbon ends"
    ENCODE_FAILS = "encode fails"
    COVER_OPENS = "cover opens"
    GARBLED_REPLY = "garbled reply"
    NO_REPLY = "no reply"
    FEEDER_EMPTY = "feeder empty"
    REJECT_BOX_FULL = "reject box full"


class Trigger(enum.StrEnum):
    CARD = "card"
    AFTER = "after"


_PHRASES: dict[str, FaultKind] = {
    "jam while printing": FaultKind.JAM,
    "jam": FaultKind.JAM,
    "jams": FaultKind.JAM,
    "print fails": FaultKind.PRINT_FAILS,
    "print failure": FaultKind.PRINT_FAILS,
    "head error": FaultKind.PRINT_FAILS,
    "head temperature": FaultKind.HEAD_TEMPERATURE,
    "ribbon ends": FaultKind.RIBBON_ENDS,
    "ribbon ended": FaultKind.RIBBON_ENDS,
    "encode fails": FaultKind.ENCODE_FAILS,
    "encoding fails": FaultKind.ENCODE_FAILS,
    "cover opens": FaultKind.COVER_OPENS,
    "cover open": FaultKind.COVER_OPENS,
    "garbled reply": FaultKind.GARBLED_REPLY,
    "no reply": FaultKind.NO_REPLY,
    "feeder empty": FaultKind.FEEDER_EMPTY,
    "feeder empties": FaultKind.FEEDER_EMPTY,
    "reject box full": FaultKind.REJECT_BOX_FULL,
}

# Faults that happen to one card, while it is in the printer.
CARD_FAULTS = frozenset(
    {
        FaultKind.JAM,
        FaultKind.PRINT_FAILS,
        FaultKind.HEAD_TEMPERATURE,
        FaultKind.RIBBON_ENDS,
        FaultKind.ENCODE_FAILS,
        FaultKind.COVER_OPENS,
        FaultKind.GARBLED_REPLY,
        FaultKind.NO_REPLY,
    }
)
# Conditions that stop the printer from feeding once N blanks have been fed, until cleared (Scs).
AFTER_FAULTS = frozenset(
    {FaultKind.FEEDER_EMPTY, FaultKind.REJECT_BOX_FULL, FaultKind.COVER_OPENS, FaultKind.RIBBON_ENDS}
)
# The card faults that strike before the card is fed (the rest strike once it is in the printer).
BEFORE_FEED_FAULTS = frozenset({FaultKind.COVER_OPENS})

_CLAUSE = re.compile(r"^\s*(?P<trigger>[a-z]+)\s+(?P<number>\S+?)\s*:\s*(?P<what>.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Clause:
    """One scripted fault: ``card N: <kind>`` (card N, 1-based, counting blanks this printer fed) or
    ``after N: <kind>`` (once N blanks have been fed, before the next one is)."""

    trigger: Trigger
    number: int
    kind: FaultKind

    def __str__(self) -> str:
        return f"{self.trigger.value} {self.number}: {self.kind.value}"

    @property
    def blocks_feed_of(self) -> int | None:
        """The card whose feed this clause prevents, if it strikes before a feed."""
        if self.trigger is Trigger.AFTER:
            return self.number + 1
        if self.kind in BEFORE_FEED_FAULTS:
            return self.number
        return None


def parse_clause(text: str) -> Clause:
    """Parse one clause; raise FaultScriptError naming it when it is malformed."""
    match = _CLAUSE.match(text)
    if match is None:
        raise FaultScriptError(f"fault clause {text.strip()!r}: expected 'card N: <fault>' or 'after N: <fault>'")
    trigger_text = match["trigger"].lower()
    try:
        trigger = Trigger(trigger_text)
    except ValueError:
        raise FaultScriptError(
            f"fault clause {text.strip()!r}: {match['trigger']!r} is not 'card' or 'after'"
        ) from None
    number_text = match["number"]
    if not number_text.isdigit():
        raise FaultScriptError(f"fault clause {text.strip()!r}: {number_text!r} is not a whole number")
    number = int(number_text)
    if trigger is Trigger.CARD and number < 1:
        raise FaultScriptError(f"fault clause {text.strip()!r}: cards are counted from 1")
    what = " ".join(match["what"].lower().split())
    kind = _PHRASES.get(what)
    if kind is None:
        known = ", ".join(k.value for k in FaultKind)
        raise FaultScriptError(f"fault clause {text.strip()!r}: unknown fault {what!r}; known faults: {known}")
    allowed = CARD_FAULTS if trigger is Trigger.CARD else AFTER_FAULTS
    if kind not in allowed:
        other = "after N" if trigger is Trigger.CARD else "card N"
        raise FaultScriptError(
            f"fault clause {text.strip()!r}: {kind.value!r} goes with '{other}:', not '{trigger.value} N:'"
        )
    return Clause(trigger, number, kind)


def _split(script: str | Sequence[str] | None) -> Iterable[str]:
    if script is None:
        return []
    items = [script] if isinstance(script, str) else list(script)
    return [part for item in items for part in re.split(r"[;\n]", item) if part.strip()]


def spoil_draw(seed: int, card: int) -> float:
    """A number in [0, 1) that depends only on (seed, card), so a restart draws the same for each card."""
    digest = hashlib.sha256(f"printd-sim:{seed}:{card}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class FaultScript:
    """Scripted faults plus random print failures at ``spoil_rate``, decided per card from ``seed``."""

    clauses: tuple[Clause, ...] = ()
    spoil_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.spoil_rate <= 1.0:
            raise FaultScriptError(f"spoil_rate {self.spoil_rate!r} is not between 0 and 1")

    @classmethod
    def parse(cls, script: str | Sequence[str] | None = None, *, spoil_rate: float = 0.0, seed: int = 0) -> FaultScript:
        """Parse clauses separated by ``;`` or newlines, or given as a list."""
        clauses = tuple(parse_clause(part) for part in _split(script))
        return cls(clauses, spoil_rate, seed)

    def random_spoil(self, card: int) -> bool:
        return self.spoil_rate > 0 and spoil_draw(self.seed, card) < self.spoil_rate

    def card_faults(self, card: int) -> frozenset[FaultKind]:
        """What strikes card ``card`` once it is in the printer (scripted, plus a random print failure)."""
        kinds = {
            c.kind
            for c in self.clauses
            if c.trigger is Trigger.CARD and c.number == card and c.kind not in BEFORE_FEED_FAULTS
        }
        if self.random_spoil(card):
            kinds.add(FaultKind.PRINT_FAILS)
        return frozenset(kinds)

    def before_feed(self, card: int, fired: Iterable[str]) -> list[Clause]:
        """The clauses, not yet fired, that stop card ``card`` from being fed."""
        done = set(fired)
        due = []
        for clause in self.clauses:
            target = clause.blocks_feed_of
            if target is not None and target <= card and str(clause) not in done:
                due.append(clause)
        return due
