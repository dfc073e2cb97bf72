"""The driver contract: what every card-printer driver promises the station (see DESIGN.md)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class MajorState(enum.StrEnum):
    READY = "ready"
    BUSY = "busy"
    WARNING = "warning"
    ERROR = "error"
    OFFLINE = "offline"


class Severity(enum.StrEnum):
    """IPP printer-state-reasons severity: the keyword suffix, or none for a plain report."""

    REPORT = "report"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, order=True)
class Reason:
    """One IPP-style printer-state reason, e.g. ``media-empty`` with severity ``error``."""

    keyword: str
    severity: Severity

    @classmethod
    def parse(cls, text: str) -> Reason:
        for severity in (Severity.ERROR, Severity.WARNING, Severity.REPORT):
            suffix = f"-{severity.value}"
            if text.endswith(suffix):
                return cls(text[: -len(suffix)], severity)
        return cls(text, Severity.REPORT)

    def __str__(self) -> str:
        if self.severity is Severity.REPORT:
            return self.keyword
        return f"{self.keyword}-{self.severity.value}"


# The reasons the drivers report, named as IPP names them where IPP has a name.
MEDIA_EMPTY = Reason("media-empty", Severity.ERROR)
MEDIA_LOW = Reason("media-low", Severity.WARNING)
MEDIA_JAM = Reason("media-jam", Severity.ERROR)
COVER_OPEN = Reason("cover-open", Severity.ERROR)
RIBBON_EMPTY = Reason("marker-supply-empty", Severity.ERROR)
RIBBON_LOW = Reason("marker-supply-low", Severity.WARNING)
RIBBON_MISSING = Reason("marker-supply-missing", Severity.ERROR)
RIBBON_JAM = Reason("marker-supply-jam", Severity.ERROR)
REJECT_BOX_FULL = Reason("reject-box-full", Severity.ERROR)
OUTPUT_FULL = Reason("output-area-full", Severity.ERROR)
HEAD_TEMPERATURE = Reason("print-head-temperature", Severity.ERROR)
CLEANING_REQUIRED = Reason("cleaning-required", Severity.REPORT)
OFFLINE = Reason("offline", Severity.ERROR)
ENCODER_UNAVAILABLE = Reason("encoder-unavailable", Severity.ERROR)


@dataclass(frozen=True)
class Counters:
    """The printer's own counters. ``cards_fed`` is the hardware truth for "a blank left the feeder"."""

    cards_fed: int
    cards_rejected: int | None = None
    panels_printed: int | None = None
    ribbon_remaining: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return {
            "cards_fed": self.cards_fed,
            "cards_rejected": self.cards_rejected,
            "panels_printed": self.panels_printed,
            "ribbon_remaining": self.ribbon_remaining,
        }


@dataclass(frozen=True)
class PrinterInfo:
    model: str
    serial_number: str
    firmware: str


@dataclass(frozen=True)
class PrinterStatus:
    state: MajorState
    reasons: frozenset[Reason]
    counters: Counters

    @property
    def errors(self) -> frozenset[Reason]:
        return frozenset(r for r in self.reasons if r.severity is Severity.ERROR)

    @property
    def can_print(self) -> bool:
        return self.state in (MajorState.READY, MajorState.WARNING) and not self.errors


class Outcome(enum.StrEnum):
    PRINTED = "printed"
    SPOILED = "spoiled"
    NOT_FED = "not_fed"
    UNKNOWN = "unknown"


class SpoilCategory(enum.StrEnum):
    """Invalid e-KTP blank categories (gagal cetak, gagal encode, rusak fisik, perubahan data) + test."""

    PRINT_FAILED = "print_failed"
    ENCODE_FAILED = "encode_failed"
    DAMAGED = "damaged"
    DATA_CHANGED = "data_changed"
    TEST_PRINT = "test_print"


@dataclass(frozen=True)
class Card:
    """What a driver prints: card faces as PNG bytes (portrait or landscape) and an optional chip payload."""

    front: bytes
    back: bytes | None = None
    chip_payload: bytes | None = None


@dataclass(frozen=True)
class CardResult:
    """The outcome of one card. Its one rule: the outcome says whether a blank left the feeder.

    ``reason`` names the printer condition behind a NOT_FED or a SPOILED card (e.g. media-empty), so the
    station can pause the printer; ``detail`` is a sentence for people, never personal data.
    """

    outcome: Outcome
    category: SpoilCategory | None = None
    detail: str = ""
    reason: Reason | None = None
    chip_uid: str | None = None
    counters_before: Counters | None = None
    counters_after: Counters | None = None
    reasons_after: frozenset[Reason] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if (self.outcome is Outcome.SPOILED) != (self.category is not None):
            raise ValueError("a spoil category is given with SPOILED and only then")

    @property
    def blank_consumed(self) -> bool | None:
        """True if a blank left the feeder, False if not, None if the driver cannot tell."""
        if self.outcome is Outcome.UNKNOWN:
            return None
        return self.outcome is not Outcome.NOT_FED


class DriverError(Exception):
    """A driver could not do what was asked; ``reason`` is the printer condition if there is one."""

    def __init__(self, message: str, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class PrinterOfflineError(DriverError):
    """The printer cannot be reached (link down, not found, powered off)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, OFFLINE)


@runtime_checkable
class Driver(Protocol):
    """A card printer. Calls block; the station runs each printer's driver in its own thread."""

    def open(self) -> PrinterInfo: ...

    def close(self) -> None: ...

    def status(self) -> PrinterStatus: ...

    def print_card(self, card: Card) -> CardResult: ...

    def clear_errors(self) -> None:
        """Ask the printer to clear its error state after an operator fixed the cause (Evolis ``Scs``)."""
        ...


@runtime_checkable
class CardInsideSensing(Protocol):
    """A driver that tells whether a card is inside the printer and can send it to the reject box (start-up
    settlement proves an interrupted card's fate with it; `drivers.evolis.driver.EvolisDriver` has it)."""

    def card_inside(self) -> bool | None: ...

    def reject_card(self) -> bool: ...


class EncodeError(Exception):
    """The chip could not be written or read; the card must go to the reject box."""

    def __init__(self, message: str, chip_uid: str | None = None) -> None:
        super().__init__(message)
        self.chip_uid = chip_uid


class EncoderUnavailableError(EncodeError):
    """The encoder cannot reach a chip at all: its reader or service is gone, or no card came into its field.

    Before a blank is fed this makes the card NOT_FED (``encoder-unavailable``); after, the blank is spoiled and
    the printer pauses, since the next card would meet the same encoder."""


class Encoder(Protocol):
    """A chip encoder beside the printer's contactless station (PC/SC in the field, simulated in tests).

    Called while the card is parked at the station: writes ``payload`` when given, and returns the chip UID
    it read (hex, upper case). Raises EncodeError when the chip cannot be encoded, EncoderUnavailableError
    when no chip can be reached.
    """

    def encode(self, payload: bytes | None) -> str: ...

    def check(self) -> None:
        """Raise EncoderUnavailableError if the encoder cannot be reached now: asked before a blank is fed."""

    def check_payload(self, payload: bytes | None) -> None:
        """Raise ValueError (naming what is wrong, never the payload's content) if this encoder cannot carry
        out ``payload``: asked before anything is sent to the printer, so such a job spoils no blank."""
