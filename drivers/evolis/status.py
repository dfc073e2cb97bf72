"""Evolis status replies to the driver contract's printer-state reasons and major state."""

from __future__ import annotations

from collections.abc import Iterable

from drivers import base
from drivers.base import MajorState, Reason, Severity
from drivers.evolis import protocol
from drivers.evolis.protocol import Reply

OTHER_ERROR = Reason("other", Severity.ERROR)
"""An error the printer names but this driver does not know."""

FLAG_REASONS: dict[str, Reason] = {
    protocol.DEF_FEEDER_EMPTY: base.MEDIA_EMPTY,
    protocol.INF_FEEDER_NEAR_EMPTY: base.MEDIA_LOW,
    protocol.DEF_NO_RIBBON: base.RIBBON_MISSING,
    protocol.DEF_RIBBON_ENDED: base.RIBBON_EMPTY,
    protocol.INF_RIBBON_LOW: base.RIBBON_LOW,
    protocol.ERR_RIBBON_ERROR: base.RIBBON_JAM,
    protocol.DEF_COVER_OPEN: base.COVER_OPEN,
    protocol.ERR_MECHANICAL: base.MEDIA_JAM,
    protocol.DEF_REJECT_BOX_FULL: base.REJECT_BOX_FULL,
    protocol.DEF_HOPPER_FULL: base.OUTPUT_FULL,
    protocol.INF_CLEANING_REQUIRED: base.CLEANING_REQUIRED,
    protocol.ERR_HEAD_TEMP: base.HEAD_TEMPERATURE,
    protocol.PRINTER_OFFLINE: base.OFFLINE,
}
BUSY_FLAGS = frozenset({protocol.INF_ENCODING_RUNNING, protocol.INF_PRINTING_RUNNING})

# The reason to name when several hold: what stopped the card first, then what an operator fixes first.
REASON_PRIORITY: tuple[Reason, ...] = (
    base.OFFLINE,
    base.MEDIA_JAM,
    base.RIBBON_JAM,
    base.RIBBON_EMPTY,
    base.RIBBON_MISSING,
    base.HEAD_TEMPERATURE,
    base.COVER_OPEN,
    base.MEDIA_EMPTY,
    base.REJECT_BOX_FULL,
    base.OUTPUT_FULL,
    OTHER_ERROR,
)


def flag_reasons(report: protocol.StatusReport) -> set[Reason]:
    """The reasons an `Rst` reply names. Unknown DEF_/ERR_ flags are `OTHER_ERROR`; unknown INF_ are dropped."""
    reasons: set[Reason] = set()
    for flag in report.flags:
        if flag in FLAG_REASONS:
            reasons.add(FLAG_REASONS[flag])
        elif flag.startswith(("DEF_", "ERR_")):
            reasons.add(OTHER_ERROR)
    if report.major == "ERROR" and not any(r.severity is Severity.ERROR for r in reasons):
        reasons.add(OTHER_ERROR)
    if report.major == "OFF":
        reasons.add(base.OFFLINE)
    return reasons


def is_busy(report: protocol.StatusReport) -> bool:
    return bool(report.flags & BUSY_FLAGS)


def parse_count(reply: Reply) -> int | None:
    """A counter reply ("1234"), or None when it is not a number."""
    text = reply.text.strip()
    return int(text) if text.isdigit() else None


def feeder_reasons(empty: Reply, warning: Reply) -> set[Reason]:
    """``Sk;f`` (0 not empty, 1/2 one feeder of two empty, 3 empty) and ``Sk;w`` (0 no warning)."""
    reasons: set[Reason] = set()
    finish = parse_count(empty)
    if finish == 3:
        reasons.add(base.MEDIA_EMPTY)
    elif finish in (1, 2):
        reasons.add(base.MEDIA_LOW)
    near = parse_count(warning)
    if near is not None and near > 0:
        reasons.add(base.MEDIA_LOW)
    return reasons


def cover_reasons(reply: Reply) -> set[Reason]:
    """``Rse;o``: "OPEN" or "CLOSED" (the simulator). A real printer's sensor voltage is not interpreted."""
    return {base.COVER_OPEN} if reply.text.strip().upper() == "OPEN" else set()


def ribbon_mark_reasons(reply: Reply) -> set[Reason]:
    """``Rcr``: "OK" off the black mark; an unknown-command error says nothing; any other answer: at the end."""
    if reply.ok or reply.text.startswith("ERROR CDE") or reply.nack_code in ("1", "2"):
        return set()
    return {base.RIBBON_EMPTY}


def last_card_reasons(reply: Reply, *, feeder_known: bool) -> set[Reason]:
    """``Rlr;p``: "ERR CARD" (a card is stuck inside) or "NO CARD" (the last feed found no card).

    "NO CARD" is history, not a sensor: it counts only when the feeder sensor (``Sk;f``) gave no answer,
    or a refilled feeder would read as empty until the next card.
    """
    text = reply.text.strip().upper()
    if text == "NO CARD":
        return set() if feeder_known else {base.MEDIA_EMPTY}
    if text == "ERR CARD":
        return {base.MEDIA_JAM}
    return set()


def cleaning_reasons(reply: Reply) -> set[Reason]:
    """``Rlr;r``: "ERR NEED CLEANING"."""
    return {base.CLEANING_REQUIRED} if "NEED CLEANING" in reply.text.upper() else set()


def major_state(reasons: Iterable[Reason], *, busy: bool = False) -> MajorState:
    found = set(reasons)
    if base.OFFLINE in found:
        return MajorState.OFFLINE
    if any(r.severity is Severity.ERROR for r in found):
        return MajorState.ERROR
    if busy:
        return MajorState.BUSY
    if any(r.severity is Severity.WARNING for r in found):
        return MajorState.WARNING
    return MajorState.READY


def main_reason(reasons: Iterable[Reason]) -> Reason | None:
    """The one error to report for a card, or None when there is no error."""
    errors = {r for r in reasons if r.severity is Severity.ERROR}
    for reason in REASON_PRIORITY:
        if reason in errors:
            return reason
    return min(errors) if errors else None
