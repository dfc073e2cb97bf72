"""The physical card printer the simulator models: feeder, card path, hopper, reject box, ribbon, counters."""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from drivers.base import EncodeError
from drivers.sim.cards import Blank, CardRecord, PhysicalTruth, card_serial, chip_uid
from drivers.sim.faults import LINK_FAULTS, SLOW_CHIP_SECONDS, FaultKind, FaultScript, Stage, Trigger

if TYPE_CHECKING:
    from drivers.sim.field import ContactlessField


class Position(enum.StrEnum):
    """Where the card in the printer is."""

    NONE = "none"
    PRINT_HEAD = "print_head"
    CONTACTLESS = "contactless"


class Condition(enum.StrEnum):
    """A printer condition; the SDK's names, loosely."""

    COVER_OPEN = "cover_open"
    FEEDER_EMPTY = "feeder_empty"
    FEEDER_NEAR_EMPTY = "feeder_near_empty"
    JAM = "jam"
    PRINT_ERROR = "print_error"
    HEAD_TEMPERATURE = "head_temperature"
    RIBBON_ENDED = "ribbon_ended"
    RIBBON_JAM = "ribbon_jam"
    RIBBON_LOW = "ribbon_low"
    REJECT_BOX_FULL = "reject_box_full"
    HOPPER_FULL = "hopper_full"


WARNINGS = frozenset({Condition.FEEDER_NEAR_EMPTY, Condition.RIBBON_LOW})
# Conditions under which the printer prints no panel (the feed is refused by every error).
PRINT_BLOCKERS = (
    Condition.COVER_OPEN,
    Condition.JAM,
    Condition.RIBBON_JAM,
    Condition.RIBBON_ENDED,
    Condition.HEAD_TEMPERATURE,
)

# The condition a fault leaves behind.
_CONDITION_OF: dict[FaultKind, Condition] = {
    FaultKind.JAM: Condition.JAM,
    FaultKind.PRINT_FAILS: Condition.PRINT_ERROR,
    FaultKind.HEAD_TEMPERATURE: Condition.HEAD_TEMPERATURE,
    FaultKind.RIBBON_ENDS: Condition.RIBBON_ENDED,
    FaultKind.RIBBON_JAM: Condition.RIBBON_JAM,
    FaultKind.COVER_OPENS: Condition.COVER_OPEN,
    FaultKind.FEEDER_EMPTY: Condition.FEEDER_EMPTY,
    FaultKind.FEEDER_NEAR_EMPTY: Condition.FEEDER_NEAR_EMPTY,
    FaultKind.REJECT_BOX_FULL: Condition.REJECT_BOX_FULL,
}
_FAULT_OF = {condition: kind for kind, condition in _CONDITION_OF.items()}
# Scripted conditions a sensor reports as soon as the count is reached; the others strike at a feed attempt.
_SENSOR_FAULTS = frozenset({FaultKind.FEEDER_EMPTY, FaultKind.FEEDER_NEAR_EMPTY, FaultKind.REJECT_BOX_FULL})
# Faults that strike a card while its panels print, in the order they are looked for.
_PANEL_FAULTS = (
    FaultKind.JAM,
    FaultKind.RIBBON_JAM,
    FaultKind.RIBBON_ENDS,
    FaultKind.HEAD_TEMPERATURE,
    FaultKind.COVER_OPENS,
    FaultKind.PRINT_FAILS,
)
# Conditions a fault on a card leaves latched (until Scs) after the card has left the printer.
_LATCHING = frozenset({FaultKind.RIBBON_ENDS, FaultKind.RIBBON_JAM, FaultKind.HEAD_TEMPERATURE, FaultKind.COVER_OPENS})

# Panels in one card's worth of each ribbon (for Rco;l and the time a panel takes); mono ribbons have one.
RIBBON_PANELS: dict[str, int] = {"ymcko": 5, "ymckok": 6, "ymckos": 6, "ymckoko": 7, "ko": 2}

# How one card's mechanical time is split.
FEED_SHARE = 0.2
PANELS_SHARE = 0.65
EJECT_SHARE = 0.15


class MechanismError(Exception):
    """The printer cannot do what was asked, or failed doing it; ``condition`` says why."""

    def __init__(self, condition: Condition, message: str) -> None:
        super().__init__(message)
        self.condition = condition


class SequenceError(Exception):
    """A command that makes no sense in the printer's present state (e.g. eject with no card)."""


class PrinterModel:
    """One physical printer. Every method holds ``lock`` and spends the mechanical time it takes.

    Cards are fed first in, first out, so the n-th blank loaded is the n-th card fed ("card n" in faults).

    With a contactless ``field`` (drivers/sim/field.py), a card parked at the contactless station is placed
    in it (its chip answers a PC/SC reader) and removed when it leaves the station: to the print head, the
    output hopper or the reject box.
    """

    def __init__(
        self,
        serial: str,
        *,
        cards: int = 0,
        faults: FaultScript | None = None,
        seconds_per_card: float = 20.0,
        time_scale: float = 1.0,
        seconds_per_encode: float = 0.0,
        ribbon_type: str = "ymcko",
        ribbon_cards: int = 500,
        hopper_capacity: int | None = None,
        reject_box_capacity: int | None = None,
        near_empty: int = 10,
        ribbon_low: int = 20,
        model_name: str = "Primacy",
        firmware: str = "SIM-1.0",
        sleep: Callable[[float], None] = time.sleep,
        field: ContactlessField | None = None,
    ) -> None:
        if seconds_per_card < 0 or time_scale < 0 or seconds_per_encode < 0:
            raise ValueError("mechanical times and time_scale cannot be negative")
        self.serial = serial
        self.model_name = model_name
        self.firmware = firmware
        self.faults = faults if faults is not None else FaultScript()
        self.field = field
        self.seconds_per_card = seconds_per_card
        self.time_scale = time_scale
        self.seconds_per_encode = seconds_per_encode
        self.hopper_capacity = hopper_capacity
        self.reject_box_capacity = reject_box_capacity
        self.near_empty = near_empty
        self.ribbon_low = ribbon_low
        self.lock = threading.RLock()
        self._sleep = sleep
        self._listeners: list[Callable[[PrinterModel], None]] = []

        self.blanks_loaded = 0
        self.feeder: deque[Blank] = deque()
        self.card: CardRecord | None = None
        self.position = Position.NONE
        self.hopper: list[CardRecord] = []
        self.reject_box: list[CardRecord] = []
        self.taken_from_hopper = 0
        self.taken_from_reject_box = 0
        self.cards_fed = 0
        self.cards_rejected = 0
        self.panels_printed = 0
        self.ribbon_type = ribbon_type
        self.ribbon_cards = ribbon_cards
        self.ribbon_panels_remaining = ribbon_cards * self.panels_per_card
        self.cover_open = False
        self.latched: set[Condition] = set()
        self.fired: set[str] = set()
        self.spurious: set[Condition] = set()  # reported by the next general status reply only, then forgotten
        self._add_blanks(cards)
        self.arm_faults()

    # --- observers (persistence) ---

    def subscribe(self, listener: Callable[[PrinterModel], None]) -> None:
        """Call ``listener(model)`` after every physical change."""
        self._listeners.append(listener)

    def changed(self) -> None:
        for listener in self._listeners:
            listener(self)

    # --- what the sensors say ---

    @property
    def panels_per_card(self) -> int:
        return RIBBON_PANELS.get(self.ribbon_type, 1)

    @property
    def inserted_cards(self) -> int:
        """The inserted-card counter (Evolis ``Rco;c``)."""
        return self.cards_fed

    @property
    def ribbon_cards_remaining(self) -> int:
        return self.ribbon_panels_remaining // self.panels_per_card

    def conditions(self) -> frozenset[Condition]:
        with self.lock:
            found = set(self.latched)
            if self.cover_open:
                found.add(Condition.COVER_OPEN)
            if not self.feeder:
                found.add(Condition.FEEDER_EMPTY)
            elif len(self.feeder) <= self.near_empty:
                found.add(Condition.FEEDER_NEAR_EMPTY)
            if self.ribbon_panels_remaining <= 0:
                found.add(Condition.RIBBON_ENDED)
            elif self.ribbon_cards_remaining <= self.ribbon_low:
                found.add(Condition.RIBBON_LOW)
            if self.reject_box_capacity is not None and len(self.reject_box) >= self.reject_box_capacity:
                found.add(Condition.REJECT_BOX_FULL)
            if self.hopper_capacity is not None and len(self.hopper) >= self.hopper_capacity:
                found.add(Condition.HOPPER_FULL)
            if self.card is not None and self.card.failure is not None:
                failed = _CONDITION_OF.get(FaultKind(self.card.failure))
                if failed is not None:
                    found.add(failed)
            return frozenset(found)

    def errors(self) -> frozenset[Condition]:
        return self.conditions() - WARNINGS

    def physical_truth(self) -> PhysicalTruth:
        with self.lock:
            return PhysicalTruth(
                blanks_loaded=self.blanks_loaded,
                cards_fed=self.cards_fed,
                in_feeder=len(self.feeder),
                in_printer=0 if self.card is None else 1,
                in_hopper=len(self.hopper),
                in_reject_box=len(self.reject_box),
                taken_from_hopper=self.taken_from_hopper,
                taken_from_reject_box=self.taken_from_reject_box,
            )

    # --- mechanics, driven by the protocol side ---

    def feed(self) -> CardRecord:
        """Take the next blank from the feeder to the print head. ``cards_fed`` advances here, and only here.

        Raises MechanismError (nothing fed) on cover open, feeder empty, ribbon ended, a full reject box or
        output hopper, or a scripted fault due before this card (a scripted warning latches and feeds).
        """
        with self.lock:
            if self.card is not None:
                raise SequenceError("a card is already in the printer")
            number = self.cards_fed + 1
            for clause in self.faults.before_feed(number, self.fired):
                self.fired.add(str(clause))
                self.latched.add(_CONDITION_OF[clause.kind])
            blocking = self.errors()
            if blocking:
                self.changed()
                condition = _first(blocking)
                raise MechanismError(condition, f"cannot feed a card: {condition.value}")
            blank = self.feeder.popleft()
            self.card = CardRecord.from_blank(blank)
            self.position = Position.PRINT_HEAD
            self.cards_fed += 1
            self.arm_faults()
            self.changed()
            self._spend(FEED_SHARE)
            return self.card

    def print_panel(self, side: str, panel: str) -> None:
        """Print one panel on the card at the print head; a scripted or random fault strikes here."""
        with self.lock:
            card = self._card_at(Position.PRINT_HEAD, allow=(Position.CONTACTLESS,))
            self.check_usable(card)
            if self.position is Position.CONTACTLESS:
                self._out_of_field()
            self.position = Position.PRINT_HEAD
            blocker = self.print_blocker()
            if blocker is not None:
                card.failure = _FAULT_OF[blocker].value
                self.changed()
                raise MechanismError(blocker, f"card {card.index}: no panel is printed ({blocker.value})")
            self._spend(PANELS_SHARE / self.panels_per_card)
            strikes = self.faults.card_faults(card.index, Stage.PANELS)
            for kind in _PANEL_FAULTS:
                if kind in strikes:
                    self._strike(card, kind)
            if self.ribbon_panels_remaining <= 0:
                card.failure = FaultKind.RIBBON_ENDS.value
                self.changed()
                raise MechanismError(Condition.RIBBON_ENDED, f"card {card.index}: ribbon ended")
            self.ribbon_panels_remaining -= 1
            self.panels_printed += 1
            card.panels.append(f"{side}/{panel}")
            if side not in card.sides_printed:
                card.sides_printed.append(side)
            self.changed()

    def print_blocker(self) -> Condition | None:
        """The condition under which no panel can be printed now, if any."""
        with self.lock:
            errors = self.errors()
            return next((c for c in PRINT_BLOCKERS if c in errors), None)

    def check_usable(self, card: CardRecord) -> None:
        """Raise MechanismError if ``card`` failed: such a card can only go to the reject box."""
        if card.failure is not None:
            condition = _CONDITION_OF.get(FaultKind(card.failure), Condition.JAM)
            raise MechanismError(condition, f"card {card.index} failed ({card.failure}); reject it")

    def move_to_contactless(self) -> CardRecord:
        """Park the card in the printer at the contactless station (feeding one if there is none)."""
        with self.lock:
            card = self.card if self.card is not None else self.feed()
            self.check_usable(card)
            if self.position is not Position.CONTACTLESS:
                self.position = Position.CONTACTLESS
                self.changed()
                self.place_in_field()
            return card

    def place_in_field(self) -> None:
        """Put the card parked at the contactless station in the field, if this printer has one (also after a
        restart restored a parked card). Its chip misbehaves as the fault script says at the encoder."""
        from drivers.sim.field import ChipBehaviour

        with self.lock:
            if self.field is None or self.card is None or self.position is not Position.CONTACTLESS:
                return
            behaviour = ChipBehaviour.from_faults(self.faults.card_faults(self.card.index, Stage.ENCODER))
            self.field.place(self.card, behaviour)

    def eject(self) -> CardRecord:
        """Send the card to the output hopper. A card that failed can only leave by ``reject``."""
        with self.lock:
            card = self._card_at(Position.PRINT_HEAD, allow=(Position.CONTACTLESS,))
            self.check_usable(card)
            if self.hopper_capacity is not None and len(self.hopper) >= self.hopper_capacity:
                raise MechanismError(Condition.HOPPER_FULL, "the output hopper is full")
            strikes = self.faults.card_faults(card.index, Stage.EJECT)
            for kind in (FaultKind.JAM, FaultKind.COVER_OPENS):
                if kind in strikes and self._fire_once(card.index, Stage.EJECT, kind):
                    self._strike(card, kind)
            self._spend(EJECT_SHARE)
            self.hopper.append(card)
            self._leave()
            return card

    def reject(self) -> CardRecord:
        """Send the card to the reject box, whatever state it is in."""
        with self.lock:
            card = self._card_at(Position.PRINT_HEAD, allow=(Position.CONTACTLESS,))
            self._spend(EJECT_SHARE)
            self.reject_box.append(card)
            self.cards_rejected += 1
            self._leave()
            return card

    def clear_errors(self) -> None:
        """Evolis ``Scs``. In the simulator it stands for "the operator fixed the cause and pressed the button":
        it clears every condition a fault script latched. Physical states stay as they are: an open cover
        (``open_cover``), an empty feeder, a failed card still in the printer; their own methods fix them.
        """
        with self.lock:
            if self.latched:
                self.latched.clear()
                self.changed()

    def read_uid(self) -> str:
        """What a reader at the contactless station reads: the chip UID of the parked card."""
        with self.lock:
            card = self._card_at(Position.CONTACTLESS)
            card.uid_read = True
            self.changed()
            return card.chip_uid

    def encode(self, payload: bytes | None) -> str:
        """Write ``payload`` to the chip of the parked card; raise EncodeError as the fault script says."""
        with self.lock:
            if self.card is None or self.position is not Position.CONTACTLESS:
                raise EncodeError("no card at the contactless station")
            uid = self.read_uid()
            self._spend_seconds(self.seconds_per_encode)
            strikes = self.faults.card_faults(self.card.index, Stage.ENCODER)
            if FaultKind.NO_CARD_IN_FIELD in strikes:
                raise EncodeError("no card answered in the encoder's field")
            if FaultKind.SLOW_CHIP in strikes:
                self._spend_seconds(SLOW_CHIP_SECONDS)
            if strikes & {FaultKind.ENCODE_FAILS, FaultKind.CHIP_REFUSES}:
                raise EncodeError(f"chip {uid} did not accept the data", chip_uid=uid)
            if FaultKind.CARD_LEAVES_FIELD in strikes:
                raise EncodeError(f"chip {uid} left the field while it was written", chip_uid=uid)
            if FaultKind.JAM in strikes:
                self.card.failure = FaultKind.JAM.value  # stuck at the station; the chip still answers
            for kind in strikes & _LATCHING:
                self.latched.add(_CONDITION_OF[kind])
            self.card.encoded = payload is not None
            self.changed()
            return uid

    def link_fault(self, stage: Stage) -> FaultKind | None:
        """The scripted link fault (garbled reply, no reply, link lost... or a hang) due now at ``stage``, if any:
        for the card in the printer, or before feeding for the next card. It fires once."""
        with self.lock:
            card = self.next_card if stage is Stage.FEED else (self.card.index if self.card else None)
            if card is None:
                return None
            for clause in self.faults.pending(card, stage, LINK_FAULTS, self.fired):
                self.fired.add(str(clause))
                self.changed()
                return clause.kind
            return None

    def hang(self) -> None:
        """The firmware hung: the mechanism stops with the card (if any) where it is. The card is stuck there,
        a jam the printer reports once it is powered on again (drivers/sim/faults.py, "printer hangs")."""
        with self.lock:
            if self.card is not None:
                self.card.failure = FaultKind.JAM.value
            self.changed()

    def spurious_panel_refusal(self) -> bool:
        """A scripted spurious ribbon end on this card's panel, due now (fires once): the panel is refused
        although ribbon remains, and the next general status reply reports the ribbon ended too."""
        with self.lock:
            if self.card is None:
                return False
            due = self.faults.pending(self.card.index, Stage.PANELS, [FaultKind.SPURIOUS_RIBBON_ENDED], self.fired)
            for clause in due:
                self.fired.add(str(clause))
                self.spurious.add(Condition.RIBBON_ENDED)
                self.changed()
            return bool(due)

    def take_spurious_status(self) -> frozenset[Condition]:
        """The conditions the general status reply reports now although they are not there (once each)."""
        with self.lock:
            if self.card is None:
                due = self.faults.pending(self.next_card, Stage.FEED, [FaultKind.SPURIOUS_RIBBON_ENDED], self.fired)
                for clause in due:
                    self.fired.add(str(clause))
                    self.spurious.add(Condition.RIBBON_ENDED)
                    self.changed()
            taken, self.spurious = frozenset(self.spurious), set()
            return taken

    @property
    def next_card(self) -> int:
        """The number of the next blank to be fed ("card N" in fault scripts)."""
        return self.cards_fed + 1

    # --- what an operator does with their hands ---

    def load_blanks(self, count: int) -> None:
        """Put ``count`` new blanks in the feeder (behind those already there)."""
        if count < 0:
            raise ValueError("cannot load a negative number of blanks")
        with self.lock:
            self._add_blanks(count)
            self.changed()

    def print_test_cards(self, count: int) -> None:
        """The operator prints ``count`` cards from the printer's own menu (a test or cleaning card): blanks
        leave the feeder, the counter advances, and the cards land in the output hopper, all without a host."""
        with self.lock:
            for _ in range(count):
                self.feed()
                self.eject()

    def open_cover(self) -> None:
        with self.lock:
            self.cover_open = True
            self.changed()

    def close_cover(self) -> None:
        with self.lock:
            self.cover_open = False
            self.latched.discard(Condition.COVER_OPEN)
            self.changed()

    def clear_jam(self) -> CardRecord | None:
        """Open the printer and put the card stuck in it (if any) in the reject box."""
        with self.lock:
            card = self.card
            if card is not None:
                self.reject_box.append(card)
                self.cards_rejected += 1
                self._leave()
            self.latched.discard(Condition.JAM)
            self.changed()
            return card

    def empty_reject_box(self) -> list[CardRecord]:
        with self.lock:
            taken, self.reject_box = self.reject_box, []
            self.taken_from_reject_box += len(taken)
            self.latched.discard(Condition.REJECT_BOX_FULL)
            self.changed()
            return taken

    def empty_hopper(self) -> list[CardRecord]:
        with self.lock:
            taken, self.hopper = self.hopper, []
            self.taken_from_hopper += len(taken)
            self.changed()
            return taken

    def replace_ribbon(self, ribbon_type: str | None = None, cards: int | None = None) -> None:
        with self.lock:
            if ribbon_type is not None:
                self.ribbon_type = ribbon_type
            if cards is not None:
                self.ribbon_cards = cards
            self.ribbon_panels_remaining = self.ribbon_cards * self.panels_per_card
            self.latched.discard(Condition.RIBBON_ENDED)
            self.changed()

    # --- inside ---

    def _add_blanks(self, count: int) -> None:
        for _ in range(count):
            self.blanks_loaded += 1
            index = self.blanks_loaded
            self.feeder.append(Blank(index, chip_uid(self.serial, index), card_serial(self.serial, index)))

    def arm_faults(self) -> None:
        """Latch the scripted sensor conditions (feeder empty, reject box full) whose count is reached."""
        for clause in self.faults.clauses:
            if (
                clause.trigger is Trigger.AFTER
                and clause.kind in _SENSOR_FAULTS
                and clause.number <= self.cards_fed
                and str(clause) not in self.fired
            ):
                self.fired.add(str(clause))
                self.latched.add(_CONDITION_OF[clause.kind])

    def _strike(self, card: CardRecord, kind: FaultKind) -> None:
        """Fault ``kind`` strikes ``card`` in the printer: the card fails, what lasts latches; MechanismError."""
        card.failure = kind.value
        if kind in _LATCHING:
            self.latched.add(_CONDITION_OF[kind])
        self.changed()
        raise MechanismError(_CONDITION_OF[kind], f"card {card.index}: {kind.value}")

    def _fire_once(self, card: int, stage: Stage, kind: FaultKind) -> bool:
        """Mark the clause for ``kind`` on ``card`` at ``stage`` fired; False if it already was."""
        due = self.faults.pending(card, stage, [kind], self.fired)
        for clause in due:
            self.fired.add(str(clause))
        return bool(due)

    def _card_at(self, position: Position, allow: tuple[Position, ...] = ()) -> CardRecord:
        if self.card is None:
            raise SequenceError("there is no card in the printer")
        if self.position is not position and self.position not in allow:
            raise SequenceError(f"the card is at {self.position.value}, not {position.value}")
        return self.card

    def _leave(self) -> None:
        if self.position is Position.CONTACTLESS:
            self._out_of_field()
        self.card = None
        self.position = Position.NONE
        self.changed()

    def _out_of_field(self) -> None:
        if self.field is not None:
            self.field.remove()

    def _spend(self, share: float) -> None:
        self._spend_seconds(self.seconds_per_card * share)

    def _spend_seconds(self, seconds: float) -> None:
        delay = seconds * self.time_scale
        if delay > 0:
            self._sleep(delay)


def _first(conditions: frozenset[Condition]) -> Condition:
    """The condition to report when several hold, in the order an operator should fix them."""
    for condition in Condition:
        if condition in conditions:
            return condition
    raise ValueError("no condition")
