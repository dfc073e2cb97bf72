"""A CUPS queue's printer attributes to the driver contract: state, reasons, counters, identity."""

# printer-state: 3 idle, 4 processing, 5 stopped. printer-state-reasons are IPP keywords whose suffix
# (-error, -warning, -report, none) is the severity; "none" means no reason. "paused" is CUPS's mark of a
# stopped queue: nothing prints until the queue is enabled, so it counts as an error here. The counters and
# the printer's identity come from the backend's record in marker-message (drivers/cups/record.py); CUPS
# itself counts no cards: job-impressions-completed counts good cards only, and a spoiled card is a blank
# used all the same, so no counter is made up from CUPS's jobs (see CupsDriver.status).

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from drivers import base
from drivers.base import MajorState, PrinterInfo, Reason, Severity
from drivers.cups.record import BackendRecord
from drivers.evolis import status as evolis_status

IDLE, PROCESSING, STOPPED = 3, 4, 5

QUEUE_PAUSED = Reason("paused", Severity.ERROR)
"""The queue is stopped (disabled): CUPS prints nothing on it until it is enabled."""
QUEUE_REJECTING = Reason("cups-rejecting-jobs", Severity.ERROR)
"""The queue does not accept jobs (printer-is-accepting-jobs false)."""
QUEUE_FORBIDDEN = Reason("cups-not-authorized", Severity.ERROR)
"""CUPS refuses this user the queue."""
QUEUE_MISSING = Reason("cups-queue-missing", Severity.ERROR)
"""The scheduler has no queue of that name."""
HELD_JOB = Reason("job-held", Severity.ERROR)
"""CUPS held the job before it was printed."""

PRINTER_ATTRIBUTES = [
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-is-accepting-jobs",
    "printer-make-and-model",
    "printer-info",
    "device-uri",
    "marker-levels",
    "marker-message",
]
RAW_MODEL = "Local Raw Printer"
"""CUPS's make-and-model of a queue without a driver: it says nothing about the printer."""


@dataclass(frozen=True)
class QueueView:
    """What one Get-Printer-Attributes said about the queue."""

    name: str
    state: int
    reasons: frozenset[Reason]
    message: str
    accepting: bool
    make_and_model: str
    info: str
    device_uri: str
    ribbon_level: int | None
    record: BackendRecord | None

    @classmethod
    def of(cls, name: str, attrs: Mapping[str, Any]) -> QueueView:
        levels = attrs.get("marker-levels")
        level = levels[0] if isinstance(levels, list) and levels else levels
        state = int(attrs.get("printer-state", STOPPED))
        return cls(
            name=name,
            state=state,
            reasons=parse_reasons(_strings(attrs.get("printer-state-reasons")), stopped=state == STOPPED),
            message=str(attrs.get("printer-state-message") or ""),
            accepting=bool(attrs.get("printer-is-accepting-jobs", True)),
            make_and_model=str(attrs.get("printer-make-and-model") or ""),
            info=str(attrs.get("printer-info") or ""),
            device_uri=str(attrs.get("device-uri") or ""),
            ribbon_level=level if isinstance(level, int) and level >= 0 else None,
            record=BackendRecord.parse(_first(attrs.get("marker-message"))),
        )

    @property
    def stopped(self) -> bool:
        return self.state == STOPPED

    @property
    def processing(self) -> bool:
        return self.state == PROCESSING

    @property
    def conditions(self) -> frozenset[Reason]:
        """The printer's own errors (the backend's reasons), without the queue's paused mark."""
        return frozenset(r for r in self.reasons if r.severity is Severity.ERROR and r != QUEUE_PAUSED)

    @property
    def major_state(self) -> MajorState:
        return evolis_status.major_state(self.reasons, busy=self.state == PROCESSING)

    def main_reason(self) -> Reason | None:
        return evolis_status.main_reason(self.conditions) or (QUEUE_PAUSED if self.stopped else None)

    def counters(self) -> base.Counters | None:
        counters = self.record.counters() if self.record is not None else None
        if counters is not None and counters.ribbon_remaining is None and self.ribbon_level is not None:
            return base.Counters(
                counters.cards_fed, counters.cards_rejected, counters.panels_printed, self.ribbon_level
            )
        return counters

    def printer_info(self) -> PrinterInfo:
        """Model, serial number and firmware: the backend's record first, then the queue's description."""
        record = self.record
        model = record.model if record is not None and record.model else None
        if model is None:
            described = self.make_and_model if self.make_and_model not in ("", RAW_MODEL) else self.info
            model = described or self.name
        serial = record.serial if record is not None and record.serial else None
        firmware = record.firmware if record is not None and record.firmware else ""
        return PrinterInfo(
            model=model, serial_number=serial or _uri_serial(self.device_uri) or self.name, firmware=firmware
        )


def parse_reasons(keywords: Iterable[str], *, stopped: bool = False) -> frozenset[Reason]:
    reasons = set()
    for keyword in keywords:
        if keyword in ("", "none"):
            continue
        reasons.add(QUEUE_PAUSED if keyword == "paused" else Reason.parse(keyword))
    if stopped:
        reasons.add(QUEUE_PAUSED)
    return frozenset(reasons)


def _uri_serial(uri: str) -> str | None:
    """A serial number in a device URI: usb://Evolis/Primacy?serial=123 names it; else the host part."""
    parts = urlsplit(uri)
    serial = parse_qs(parts.query).get("serial")
    return serial[-1] if serial else (parts.hostname or None)


def _strings(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def _first(value: object) -> str | None:
    strings = _strings(value)
    return strings[0] if strings else None
