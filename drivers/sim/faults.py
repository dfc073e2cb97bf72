"""Fault scripts for the simulated printer: clauses like ``card 7: jam at eject``, plus seeded spoils."""

# Grammar (case and extra spaces do not matter, a few obvious variants are accepted ("jam", "cover open");
# clauses are separated by ";" or newlines, or given as a list):
#
#   clause      := "card" N ":" card-fault [stage] | "after" N ":" after-fault
#   card-fault  := "jam while printing" ("jam", "card jam") | "print fails" ("head error") | "head temperature"
#                | "ribbon ends" ("ribbon ended") | "ribbon jam" | "encode fails" | "cover opens"
#                | "feeder empty" | "feeder near empty" | "reject box full"
#                | "garbled reply" | "no reply" ("reply timeout") | "link lost" | "spurious ribbon ended"
#                | "late reply" ("slow reply") | "spurious eject error" | "eject error after eject"
#                | "chip refuses" | "card leaves the field" | "slow chip" | "no card in the field"
#                | "printer hangs" ("hangs", "firmware hangs")
#   after-fault := "feeder empty" | "feeder near empty" | "reject box full" | "cover opens" | "ribbon ends"
#                | "ribbon jam" | "head temperature"
#   stage       := "before feeding" ("at feed") | "at the encoder" ("while encoding")
#                | "during the panels" ("while printing") | "at eject"
#
# N counts the blanks this printer fed, from 1 ("card 7" is the seventh blank to leave the feeder);
# "after N" strikes once N blanks have been fed, before the next. A card fault without a stage strikes at its
# usual stage (the first one listed below); "card 7: jam at eject" names another. The stages, in a card's order:
#
# * before feeding: as the printer is to feed card N. A condition latches and the feed is refused: the blank
#   stays in the feeder and the counter does not move ("jam" here is a misfeed). "feeder near empty" is a
#   warning: it latches and the card is fed all the same. A link fault strikes the card's first command (Pr).
# * at the encoder (printers with an encoder): while card N is parked at the contactless station. "encode
#   fails" makes the encoder raise EncodeError with the chip's UID; a jam sticks the card there; a cover that
#   opens or a head out of temperature latches, and the printer takes no panel. A link fault strikes Sic.
# * during the panels: at card N's first panel (printed when the next command arrives). The panel fails, the
#   card is marked failed and stays in the printer until Ser (or the operator) takes it to the reject box.
#   Ribbon ended, ribbon jam, head temperature and cover open also latch. A link fault strikes the first Db.
# * at eject: card N, fully printed, is being moved to the output hopper by Se. A jam sticks it at the exit;
#   a cover that opens stops it. A link fault strikes the command that ends the card (Se, or Ser).
#
# Usual stage, then the others a fault can strike at (`STAGES`; `NOT_AT` says why the rest cannot happen):
#
#   jam while printing   panels, feed, encoder, eject   head temperature   panels, feed, encoder
#   print fails          panels                         ribbon ends        panels, feed
#   ribbon jam           panels, feed                   encode fails       encoder
#   cover opens          feed, encoder, panels, eject   feeder (near) empty, reject box full   feed
#   garbled reply, no reply   eject, feed, encoder, panels       link lost   panels, feed, encoder, eject
#   spurious ribbon ended     feed, panels
#   late reply   eject, feed, encoder, panels       spurious eject error, eject error after eject   eject
#   chip refuses, card leaves the field, slow chip, no card in the field   encoder
#   printer hangs   panels, feed, encoder, eject
#
# Link faults: "garbled reply" garbles the reply, "no reply" never sends it, "link lost" drops the link as the
# printer answers (an in-process link is then unplugged until the host reconnects; on a served link the reply
# is only withheld), "late reply" sends it `SimPrinter.late_reply_seconds` later (longer than a host waits, so
# it arrives unasked, on whatever link is then open, before any later reply). In each case the printer carried
# the command out. Two faults are false answers to card N's eject (Se): "spurious eject error" answers ERR and
# leaves the card, fine, inside (the status shows no error; a second Se ejects it); "eject error after eject"
# answers ERR although the card went to the output hopper.
# "spurious ribbon ended" is the field quirk of a Primacy reporting its ribbon ended while ribbon remains:
# before feeding, ONE general status reply (Rst) before card N reports DEF_RIBBON_ENDED; during the panels,
# card N's first Db answers "ERR RIBBON ENDED" without doing anything, and the next Rst reports it too.
# Chip faults (the chip of card N, at the encoder): with a contactless field (drivers/sim/field.py, a virtual card
# in a PC/SC reader) "chip refuses" answers every UPDATE BINARY 6581 (memory failure), and so does "encode
# fails"; "card leaves the field" drops the card's link to the reader in the middle of its first UPDATE BINARY
# (half of that write lands, no answer comes); "slow chip" answers every APDU after SLOW_CHIP_SECONDS; "no card in
# the field" never puts the card in the reader. With the in-process encoder (drivers/sim/encoder.py) each but
# "slow chip" makes the encoder raise EncodeError ("no card in the field" without a UID), and "slow chip" adds
# SLOW_CHIP_SECONDS to the encode time.
# "printer hangs": the printer's firmware hangs, as a real printer that wedges. It strikes the command a link fault
# strikes at its stage (Pr before feeding, before it is carried out: no card is fed; Sic at the encoder and the
# card's first Db during the panels, once carried out: the card is fed; Se or Ser at eject, before the card
# moves). From then on the printer reads none of its input and answers nothing until it is power-cycled
# (`SimPrinter.power_cycle`; a new `serve` process): an in-process link's write blocks until the link is
# closed or the printer power-cycled, then raises TransportError; a served pty is no longer read, so the host's
# writes fill the terminal's buffer and block. The card stays where it is, stopped in the card path with the
# mechanism: the model marks it jammed at once (saved to the state file like any physical change). That is what
# the printer reports after a power cycle, reusing the jam of a fed card: Rst ERR_MECHANICAL, Rlr;p "ERR CARD",
# Rse;p CARD; the host's Ser or the operator's clear-jam takes it to the reject box, and the jam leaves with
# it. So printd's start-up settlement finds the interrupted card inside after exactly one feed, rejects it and
# books it spoiled. A hang before feeding leaves nothing inside: the counter did not move, the card was not fed.
# "after N:" clauses: "cover opens", "ribbon ends", "ribbon jam" and "head temperature" strike at the next feed,
# as "card N+1: <fault> before feeding" does; "feeder empty", "feeder near empty" and "reject box full" are
# sensors: they report as soon as N blanks have been fed (and refuse feeding, but for the warning).
#
# What a fault leaves: a jam of a fed card or a print failure stays with its card, and is gone once the card
# leaves the printer; a misfeed and every other condition latch until Scs. Each clause strikes once (the fired
# clauses are kept with the simulator's state). Scs in the simulator means "the operator fixed the cause and
# pressed the button": it clears what a clause latched. Random spoils (spoil_rate, seed) are "print fails" on
# the cards whose draw, a pure function of (seed, card number), falls under the rate, so a restarted simulator
# spoils the same cards.

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
    RIBBON_JAM = "ribbon jam"
    ENCODE_FAILS = "encode fails"
    COVER_OPENS = "cover opens"
    GARBLED_REPLY = "garbled reply"
    NO_REPLY = "no reply"
    LINK_LOST = "link lost"
    LATE_REPLY = "late reply"
    SPURIOUS_EJECT_ERROR = "spurious eject error"
    EJECT_ERROR_AFTER_EJECT = "eject error after eject"
    FEEDER_EMPTY = "feeder empty"
    FEEDER_NEAR_EMPTY = "feeder near empty"
    REJECT_BOX_FULL = "reject box full"
    SPURIOUS_RIBBON_ENDED = "spurious ribbon ended"
    CHIP_REFUSES = "chip refuses"
    CARD_LEAVES_FIELD = "card leaves the field"
    SLOW_CHIP = "slow chip"
    NO_CARD_IN_FIELD = "no card in the field"
    PRINTER_HANGS = "printer hangs"  # until a power cycle; the card it leaves inside is then a jam (see above)


class Stage(enum.StrEnum):
    """Where a card is when a fault strikes it, in a card's order. The value is the canonical phrase."""

    FEED = "before feeding"
    ENCODER = "at the encoder"
    PANELS = "during the panels"
    EJECT = "at eject"


class Trigger(enum.StrEnum):
    CARD = "card"
    AFTER = "after"


_PHRASES: dict[str, FaultKind] = {
    "jam while printing": FaultKind.JAM,
    "jam": FaultKind.JAM,
    "jams": FaultKind.JAM,
    "card jam": FaultKind.JAM,
    "print fails": FaultKind.PRINT_FAILS,
    "print failure": FaultKind.PRINT_FAILS,
    "head error": FaultKind.PRINT_FAILS,
    "head temperature": FaultKind.HEAD_TEMPERATURE,
    "print-head temperature": FaultKind.HEAD_TEMPERATURE,
    "print head temperature": FaultKind.HEAD_TEMPERATURE,
    "ribbon ends": FaultKind.RIBBON_ENDS,
    "ribbon ended": FaultKind.RIBBON_ENDS,
    "ribbon jam": FaultKind.RIBBON_JAM,
    "ribbon jams": FaultKind.RIBBON_JAM,
    "encode fails": FaultKind.ENCODE_FAILS,
    "encoding fails": FaultKind.ENCODE_FAILS,
    "encode failure": FaultKind.ENCODE_FAILS,
    "cover opens": FaultKind.COVER_OPENS,
    "cover open": FaultKind.COVER_OPENS,
    "garbled reply": FaultKind.GARBLED_REPLY,
    "no reply": FaultKind.NO_REPLY,
    "reply timeout": FaultKind.NO_REPLY,
    "link lost": FaultKind.LINK_LOST,
    "link drops": FaultKind.LINK_LOST,
    "late reply": FaultKind.LATE_REPLY,
    "slow reply": FaultKind.LATE_REPLY,
    "spurious eject error": FaultKind.SPURIOUS_EJECT_ERROR,
    "false eject error": FaultKind.SPURIOUS_EJECT_ERROR,
    "eject error after eject": FaultKind.EJECT_ERROR_AFTER_EJECT,
    "feeder empty": FaultKind.FEEDER_EMPTY,
    "feeder empties": FaultKind.FEEDER_EMPTY,
    "feeder near empty": FaultKind.FEEDER_NEAR_EMPTY,
    "feeder nearly empty": FaultKind.FEEDER_NEAR_EMPTY,
    "reject box full": FaultKind.REJECT_BOX_FULL,
    "spurious ribbon ended": FaultKind.SPURIOUS_RIBBON_ENDED,
    "spurious ribbon end": FaultKind.SPURIOUS_RIBBON_ENDED,
    "chip refuses": FaultKind.CHIP_REFUSES,
    "chip refuses the write": FaultKind.CHIP_REFUSES,
    "card leaves the field": FaultKind.CARD_LEAVES_FIELD,
    "card leaves field": FaultKind.CARD_LEAVES_FIELD,
    "slow chip": FaultKind.SLOW_CHIP,
    "no card in the field": FaultKind.NO_CARD_IN_FIELD,
    "no card in field": FaultKind.NO_CARD_IN_FIELD,
    "printer hangs": FaultKind.PRINTER_HANGS,
    "hangs": FaultKind.PRINTER_HANGS,
    "firmware hangs": FaultKind.PRINTER_HANGS,
}

_STAGE_PHRASES: dict[str, Stage] = {
    "before feeding": Stage.FEED,
    "before the feed": Stage.FEED,
    "at feed": Stage.FEED,
    "at the feed": Stage.FEED,
    "at the encoder": Stage.ENCODER,
    "at encoder": Stage.ENCODER,
    "while encoding": Stage.ENCODER,
    "during the panels": Stage.PANELS,
    "during panels": Stage.PANELS,
    "at the panels": Stage.PANELS,
    "while printing": Stage.PANELS,
    "at eject": Stage.EJECT,
    "at the eject": Stage.EJECT,
    "at ejection": Stage.EJECT,
}

STAGES: dict[FaultKind, tuple[Stage, ...]] = {
    FaultKind.JAM: (Stage.PANELS, Stage.FEED, Stage.ENCODER, Stage.EJECT),
    FaultKind.PRINT_FAILS: (Stage.PANELS,),
    FaultKind.HEAD_TEMPERATURE: (Stage.PANELS, Stage.FEED, Stage.ENCODER),
    FaultKind.RIBBON_ENDS: (Stage.PANELS, Stage.FEED),
    FaultKind.RIBBON_JAM: (Stage.PANELS, Stage.FEED),
    FaultKind.ENCODE_FAILS: (Stage.ENCODER,),
    FaultKind.COVER_OPENS: (Stage.FEED, Stage.ENCODER, Stage.PANELS, Stage.EJECT),
    FaultKind.GARBLED_REPLY: (Stage.EJECT, Stage.FEED, Stage.ENCODER, Stage.PANELS),
    FaultKind.NO_REPLY: (Stage.EJECT, Stage.FEED, Stage.ENCODER, Stage.PANELS),
    FaultKind.LINK_LOST: (Stage.PANELS, Stage.FEED, Stage.ENCODER, Stage.EJECT),
    FaultKind.LATE_REPLY: (Stage.EJECT, Stage.FEED, Stage.ENCODER, Stage.PANELS),
    FaultKind.SPURIOUS_EJECT_ERROR: (Stage.EJECT,),
    FaultKind.EJECT_ERROR_AFTER_EJECT: (Stage.EJECT,),
    FaultKind.FEEDER_EMPTY: (Stage.FEED,),
    FaultKind.FEEDER_NEAR_EMPTY: (Stage.FEED,),
    FaultKind.REJECT_BOX_FULL: (Stage.FEED,),
    FaultKind.SPURIOUS_RIBBON_ENDED: (Stage.FEED, Stage.PANELS),
    FaultKind.CHIP_REFUSES: (Stage.ENCODER,),
    FaultKind.CARD_LEAVES_FIELD: (Stage.ENCODER,),
    FaultKind.SLOW_CHIP: (Stage.ENCODER,),
    FaultKind.NO_CARD_IN_FIELD: (Stage.ENCODER,),
    FaultKind.PRINTER_HANGS: (Stage.PANELS, Stage.FEED, Stage.ENCODER, Stage.EJECT),
}
"""The stages each card fault can strike at; the first is where it strikes when no stage is given."""

_AT_THE_ENCODER = "a chip answers a reader only while its card is parked at the contactless station"

NOT_AT: dict[FaultKind, str] = {
    FaultKind.PRINT_FAILS: "a print failure is a panel printing badly, so it happens during the panels",
    FaultKind.HEAD_TEMPERATURE: "the print head has finished with a card before it is ejected",
    FaultKind.RIBBON_ENDS: "the ribbon moves only while panels print; one that ended earlier stops the feed",
    FaultKind.RIBBON_JAM: "the ribbon moves only while panels print; one that jammed earlier stops the feed",
    FaultKind.ENCODE_FAILS: "the chip is written only while the card is parked at the encoder, before any panel",
    FaultKind.SPURIOUS_EJECT_ERROR: "it is an answer to the eject (Se)",
    FaultKind.EJECT_ERROR_AFTER_EJECT: "it is an answer to the eject (Se)",
    FaultKind.FEEDER_EMPTY: "the feeder's level changes only when a blank is fed, so its sensor trips at a feed",
    FaultKind.FEEDER_NEAR_EMPTY: "the feeder's level changes only when a blank is fed, so its sensor trips at a feed",
    FaultKind.REJECT_BOX_FULL: "the reject box fills only when a card drops into it, and a full box stops the next"
    " feed",
    FaultKind.SPURIOUS_RIBBON_ENDED: "a false ribbon end shows in a status reply before the feed or in a panel's reply",
    FaultKind.CHIP_REFUSES: _AT_THE_ENCODER,
    FaultKind.CARD_LEAVES_FIELD: _AT_THE_ENCODER,
    FaultKind.SLOW_CHIP: _AT_THE_ENCODER,
    FaultKind.NO_CARD_IN_FIELD: _AT_THE_ENCODER,
}
"""Why a card fault cannot strike at the stages `STAGES` leaves out."""

# Faults that strike at the feed as a printer condition (the others there act on the link or a status reply).
FEED_CONDITIONS = frozenset(
    {
        FaultKind.JAM,
        FaultKind.HEAD_TEMPERATURE,
        FaultKind.RIBBON_ENDS,
        FaultKind.RIBBON_JAM,
        FaultKind.COVER_OPENS,
        FaultKind.FEEDER_EMPTY,
        FaultKind.FEEDER_NEAR_EMPTY,
        FaultKind.REJECT_BOX_FULL,
    }
)
EJECT_REPLY_FAULTS = frozenset({FaultKind.SPURIOUS_EJECT_ERROR, FaultKind.EJECT_ERROR_AFTER_EJECT})
"""Link faults that strike the reply to ``Se`` only (a ``Ser`` that ends the card instead is answered as usual)."""
LINK_FAULTS = frozenset({FaultKind.GARBLED_REPLY, FaultKind.NO_REPLY, FaultKind.LINK_LOST, FaultKind.LATE_REPLY})
LINK_FAULTS |= EJECT_REPLY_FAULTS | {FaultKind.PRINTER_HANGS}  # a hang strikes the commands a link fault does
CHIP_FAULTS = frozenset(
    {FaultKind.CHIP_REFUSES, FaultKind.CARD_LEAVES_FIELD, FaultKind.SLOW_CHIP, FaultKind.NO_CARD_IN_FIELD}
)
SLOW_CHIP_SECONDS = 0.3
"""How long a "slow chip" takes to answer each APDU (or, with the in-process encoder, adds to its encode)."""
# Conditions that stop the printer from feeding (or warn) once N blanks have been fed, until cleared (Scs).
AFTER_FAULTS = frozenset(
    {
        FaultKind.FEEDER_EMPTY,
        FaultKind.FEEDER_NEAR_EMPTY,
        FaultKind.REJECT_BOX_FULL,
        FaultKind.COVER_OPENS,
        FaultKind.RIBBON_ENDS,
        FaultKind.RIBBON_JAM,
        FaultKind.HEAD_TEMPERATURE,
    }
)

_CLAUSE = re.compile(r"^\s*(?P<trigger>[a-z]+)\s+(?P<number>\S+?)\s*:\s*(?P<what>.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    """One scripted fault: ``card N: <kind> [stage]`` (card N, 1-based, counting blanks this printer fed) or
    ``after N: <kind>`` (once N blanks have been fed, before the next one is).

    ``stage`` is None for the fault's usual stage (the first of `STAGES`), so that a clause written with or
    without its usual stage is the same clause; `at` is the stage it strikes at either way."""

    trigger: Trigger
    number: int
    kind: FaultKind
    stage: Stage | None = None

    def __post_init__(self) -> None:
        if self.trigger is Trigger.AFTER or self.stage is STAGES[self.kind][0]:
            object.__setattr__(self, "stage", None)

    @property
    def at(self) -> Stage:
        """The stage this clause strikes at (an ``after`` clause: before feeding the next card)."""
        if self.trigger is Trigger.AFTER:
            return Stage.FEED
        return self.stage if self.stage is not None else STAGES[self.kind][0]

    def __str__(self) -> str:
        if self.stage is None:
            return f"{self.trigger.value} {self.number}: {self.kind.value}"
        name = "jam" if self.kind is FaultKind.JAM else self.kind.value
        return f"{self.trigger.value} {self.number}: {name} {self.stage.value}"

    @property
    def blocks_feed_of(self) -> int | None:
        """The card whose feed this clause strikes as a printer condition, if it does."""
        if self.trigger is Trigger.AFTER:
            return self.number + 1
        if self.at is Stage.FEED and self.kind in FEED_CONDITIONS:
            return self.number
        return None


def _split_stage(what: str) -> tuple[str, Stage | None]:
    """``what`` without a trailing stage phrase, and that stage (None when there is none)."""
    if what in _PHRASES:
        return what, None  # "jam while printing" is a fault's own name
    for phrase in sorted(_STAGE_PHRASES, key=len, reverse=True):
        if what.endswith(" " + phrase):
            return what[: -len(phrase) - 1].strip(), _STAGE_PHRASES[phrase]
    return what, None


def parse_clause(text: str) -> Clause:
    """Parse one clause; raise FaultScriptError naming it when it is malformed."""
    shown = repr(text.strip())
    match = _CLAUSE.match(text)
    if match is None:
        raise FaultScriptError(f"fault clause {shown}: expected 'card N: <fault>' or 'after N: <fault>'")
    trigger_text = match["trigger"].lower()
    try:
        trigger = Trigger(trigger_text)
    except ValueError:
        raise FaultScriptError(f"fault clause {shown}: {match['trigger']!r} is not 'card' or 'after'") from None
    number_text = match["number"]
    if not number_text.isdigit():
        raise FaultScriptError(f"fault clause {shown}: {number_text!r} is not a whole number")
    number = int(number_text)
    if trigger is Trigger.CARD and number < 1:
        raise FaultScriptError(f"fault clause {shown}: cards are counted from 1")
    what, stage = _split_stage(" ".join(match["what"].lower().split()))
    kind = _PHRASES.get(what)
    if kind is None:
        known = ", ".join(k.value for k in FaultKind)
        raise FaultScriptError(f"fault clause {shown}: unknown fault {what!r}; known faults: {known}")
    if trigger is Trigger.AFTER:
        if kind not in AFTER_FAULTS:
            raise FaultScriptError(f"fault clause {shown}: {kind.value!r} goes with 'card N:', not 'after N:'")
        if stage is not None:
            raise FaultScriptError(
                f"fault clause {shown}: 'after N:' strikes before the next feed; a stage goes with 'card N:'"
            )
        return Clause(trigger, number, kind)
    allowed = STAGES[kind]
    if stage is not None and stage not in allowed:
        where = ", ".join(s.value for s in allowed)
        raise FaultScriptError(
            f"fault clause {shown}: {kind.value!r} cannot strike {stage.value} ({NOT_AT[kind]}); it strikes {where}"
        )
    return Clause(trigger, number, kind, stage)


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

    def card_faults(self, card: int, stage: Stage | None = None) -> frozenset[FaultKind]:
        """What strikes card ``card`` at ``stage`` (scripted, plus a random print failure during the panels);
        with no stage, everything that strikes it once it is in the printer (feed-stage clauses excluded)."""
        kinds = {
            c.kind
            for c in self.clauses
            if c.trigger is Trigger.CARD
            and c.number == card
            and (c.at is stage if stage is not None else c.at is not Stage.FEED)
        }
        if stage in (None, Stage.PANELS) and self.random_spoil(card):
            kinds.add(FaultKind.PRINT_FAILS)
        return frozenset(kinds)

    def before_feed(self, card: int, fired: Iterable[str]) -> list[Clause]:
        """The clauses, not yet fired, that strike as conditions before card ``card`` is fed."""
        done = set(fired)
        due = []
        for clause in self.clauses:
            target = clause.blocks_feed_of
            if target is not None and target <= card and str(clause) not in done:
                due.append(clause)
        return due

    def pending(self, card: int, stage: Stage, kinds: Iterable[FaultKind], fired: Iterable[str]) -> list[Clause]:
        """The card clauses of ``kinds`` for card ``card`` at ``stage`` that have not fired yet."""
        wanted, done = set(kinds), set(fired)
        return [
            c
            for c in self.clauses
            if c.trigger is Trigger.CARD
            and c.number == card
            and c.at is stage
            and c.kind in wanted
            and str(c) not in done
        ]
