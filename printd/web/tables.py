"""printd's replies as the rows of the pages' tables (jobs, a job, spoiled blanks, stock): pure functions, no I/O.

As in display.py, only the fields named here leave a reply: job references, states, printers, stations, counts,
times and who booked what — never a card's content, a holder's name or NIK, nor free text typed about a card (a QC
note, a settling note), which may repeat them. Words are marked with ``N_`` and translated in the templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from printd.i18n import N_
from printd.jobs import TRANSITIONS, JobEvent, JobState
from printd.web import display

STATE_LABELS: Mapping[str, str] = dict(display.JOB_STATES)
PRIORITY_LABELS: Mapping[str, str] = dict(display.PRIORITIES)

CATEGORY_LABELS: Mapping[str, str] = {
    "print_failed": N_("Print failed"),
    "encode_failed": N_("Chip encoding failed"),
    "damaged": N_("Physically damaged"),
    "data_changed": N_("Data changed"),
    "test_print": N_("Test print"),
}

CARD_FATES: Mapping[str, str] = {
    "printing": N_("Printing"),
    "issued": N_("Issued"),
    "spoiled": N_("Spoiled"),
    "in_doubt": N_("In doubt"),
    "not_fed": N_("Not fed"),
}

JOB_EVENTS: Mapping[str, str] = {
    "submit": N_("Submitted"),
    "claim": N_("Taken by a printer"),
    "printed": N_("Printed"),
    "spoiled": N_("Spoiled; printed again on a new blank"),
    "spoiled_last": N_("Spoiled; no attempt left"),
    "not_fed": N_("Not fed; back in the queue"),
    "unknown": N_("Outcome unknown: in doubt"),
    "unprintable": N_("Refused before feeding: cannot be printed"),
    "hold": N_("Held"),
    "release": N_("Released"),
    "cancel": N_("Canceled"),
    "resolve_printed": N_("Settled: printed"),
    "resolve_spoiled": N_("Settled: spoiled; printed again"),
    "resolve_spoiled_last": N_("Settled: spoiled; no attempt left"),
    "resolve_not_fed": N_("Settled: not fed"),
    "reprint": N_("Queued to print again"),
    "qc_spoil": N_("Failed quality control"),
    "qc_spoil_content_purged": N_("Failed quality control; its content was already purged"),
}

STOCK_KINDS: Mapping[str, str] = {
    "received": N_("Received"),
    "adjusted": N_("Adjusted"),
    "transferred": N_("Transferred"),
    "destroyed": N_("Destroyed (berita acara)"),
    "returned": N_("Returned (berita acara)"),
}

OPERATOR_EVENTS = (JobEvent.HOLD, JobEvent.RELEASE, JobEvent.CANCEL, JobEvent.REPRINT)
"""The job actions of the jobs page's buttons, offered where the state machine allows them (printd/jobs.py)."""


def job_url(ref: str) -> str:
    """The job's page. A reference is any text: quoted whole; the one reference that is a page's own name goes
    through the older address."""
    if ref == "resolve":
        return "/jobs/resolve?job=resolve"
    return "/jobs/" + quote(ref, safe="")


@dataclass(frozen=True)
class JobRow:
    id: int
    ref: str
    state: str
    state_label: str
    priority: str
    priority_label: str
    printer: str | None
    station: str | None
    attempts: int
    created_at: str | None
    updated_at: str | None

    @property
    def url(self) -> str:
        return job_url(self.ref)


@dataclass(frozen=True)
class CardRow:
    attempt: int | None
    printer: str | None
    at: str | None
    fate: str
    fate_label: str
    category: str | None
    category_label: str | None


@dataclass(frozen=True)
class HistoryRow:
    at: str | None
    event: str
    event_label: str
    actor: str | None
    printer: str | None
    state: str | None  # the state it led to


@dataclass(frozen=True)
class JobDetail:
    job: JobRow
    cards: tuple[CardRow, ...]
    history: tuple[HistoryRow, ...]
    actions: tuple[str, ...]  # hold, release, cancel, reprint: those its state allows

    @property
    def issued_cards(self) -> tuple[CardRow, ...]:
        """The good cards a QC rejection may name."""
        return tuple(c for c in self.cards if c.fate == "issued")


def job_row(j: Mapping[str, Any]) -> JobRow:
    state, priority = str(j.get("state")), str(j.get("priority"))
    return JobRow(
        id=_int(j.get("id")) or 0,
        ref=str(j.get("ref")),
        state=state,
        state_label=STATE_LABELS.get(state, state),
        priority=priority,
        priority_label=PRIORITY_LABELS.get(priority, priority),
        printer=_str(j.get("printer")),
        station=_str(j.get("station")),
        attempts=_int(j.get("attempts")) or 0,
        created_at=_str(j.get("created_at")),
        updated_at=_str(j.get("updated_at")),
    )


def job_rows(found: object) -> tuple[JobRow, ...]:
    return tuple(job_row(j) for j in _rows(found))


def job_detail(found: Mapping[str, Any]) -> JobDetail:
    """``jobs.get``: the job, its cards and its history with who did what; no card content, no free-text notes."""
    job = job_row(found)
    cards = tuple(
        CardRow(
            attempt=_int(c.get("attempt")),
            printer=_str(c.get("printer")),
            at=_str(c.get("at")),
            fate=str(c.get("fate")),
            fate_label=CARD_FATES.get(str(c.get("fate")), str(c.get("fate"))),
            category=_str(c.get("category")),
            category_label=_category(c.get("category")),
        )
        for c in _rows(found.get("cards"))
    )
    history = tuple(
        HistoryRow(
            at=_str(h.get("at")),
            event=str(h.get("event")),
            event_label=JOB_EVENTS.get(str(h.get("event")), str(h.get("event"))),
            actor=_str(h.get("actor")),
            printer=_str(h.get("printer")),
            state=_str(h.get("to")),
        )
        for h in _rows(found.get("history"))
    )
    return JobDetail(job, cards, history, actions_for(job.state))


def actions_for(state: str) -> tuple[str, ...]:
    try:
        current = JobState(state)
    except ValueError:
        return ()
    return tuple(event.value for event in OPERATOR_EVENTS if (current, event) in TRANSITIONS)


# ---- spoiled blanks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpoiledRow:
    at: str | None
    printer: str | None
    ref: str | None
    category: str | None
    category_label: str | None
    chip_uid: str | None

    @property
    def url(self) -> str | None:
        return job_url(self.ref) if self.ref else None


@dataclass(frozen=True)
class PendingItem:
    ledger_id: int
    spoiled_at: float | None
    category_label: str | None
    chip_uid: str | None
    printer: str | None
    station: str | None
    ref: str | None
    officer: str | None  # who booked the spoil (staff)

    @property
    def url(self) -> str | None:
        return job_url(self.ref) if self.ref else None


@dataclass(frozen=True)
class Pending:
    count: int
    per_category: tuple[tuple[str, int], ...]  # (label, count)
    items: tuple[PendingItem, ...]  # the newest ones first


@dataclass(frozen=True)
class Spoiled:
    total: int
    per_category: tuple[tuple[str, int], ...]  # (label, count) of every one listed
    rows: tuple[SpoiledRow, ...]  # the newest ``limit``, newest first


def spoiled(found: object, limit: int) -> Spoiled:
    """``spoiled.list`` (oldest first): how many by category, and the newest as rows; its ``detail`` (free text) is
    left out. Only the rows shown are made (a month of a busy office is thousands)."""
    listed = _rows(found)
    counts: dict[str, int] = {}
    for s in listed:
        key = _category(s.get("category")) or "\u2013"
        counts[key] = counts.get(key, 0) + 1
    rows = tuple(
        SpoiledRow(
            at=_str(s.get("at")),
            printer=_str(s.get("printer")),
            ref=_str(s.get("ref")),
            category=_str(s.get("category")),
            category_label=_category(s.get("category")),
            chip_uid=_str(s.get("chip_uid")),
        )
        for s in reversed(listed[-limit:] if limit else [])
    )
    return Spoiled(len(listed), tuple(counts.items()), rows)


def pending(found: object, limit: int) -> Pending | None:
    if not isinstance(found, Mapping):
        return None
    categories = found.get("per_category")
    items = tuple(
        PendingItem(
            ledger_id=_int(i.get("ledger_id")) or 0,
            spoiled_at=_number(i.get("spoiled_at")),
            category_label=_category(i.get("category")),
            chip_uid=_str(i.get("chip_uid")),
            printer=_str(i.get("printer")),
            station=_str(i.get("station")),
            ref=_str(i.get("job_ref")),
            officer=_str(i.get("officer")),
        )
        for i in reversed(_rows(found.get("items"))[-limit:] if limit else [])
    )
    return Pending(
        count=_int(found.get("count")) or 0,
        per_category=tuple(
            (_category(k) or str(k), int(v))
            for k, v in (categories.items() if isinstance(categories, Mapping) else ())
            if isinstance(v, int)
        ),
        items=items,
    )


def handovers(found: object) -> tuple[tuple[str, int], ...]:
    """``spoiled.handovers``: (number, blanks) of each berita acara, newest first."""
    return tuple((str(h.get("number")), _int(h.get("count")) or 0) for h in _rows(found))


# ---- stock ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockRow:
    at: str | None
    kind: str
    kind_label: str
    count: int
    reference: str | None
    detail: str | None  # an adjustment's reason, a delivery's serial range
    actor: str | None
    station: str | None
    to: str | None
    printer: str | None


@dataclass(frozen=True)
class Custody:
    station: str
    this_station: bool
    on_hand: int
    received: int
    transferred_in: int
    transferred_out: int
    adjusted: int
    issued: int
    spoiled: int
    in_doubt: int


@dataclass(frozen=True)
class PrinterBlanks:
    printer: str
    issued: int
    spoiled: int
    in_doubt: int


@dataclass(frozen=True)
class Forecast:
    as_of: str | None
    on_hand: int | None
    daily_use: float | None
    spoil_rate: float | None
    days_left: float | None
    days_left_with_backlog: float | None
    backlog: tuple[tuple[str, int], ...]  # (priority label, jobs)
    backlog_blanks: int | None
    reorder_point: int | None
    request: int | None

    @property
    def reorder(self) -> bool:
        return self.on_hand is not None and self.reorder_point is not None and self.on_hand < self.reorder_point


def stock_rows(found: object) -> tuple[StockRow, ...]:
    """``stock.history``, newest first."""
    return tuple(
        StockRow(
            at=_str(e.get("at")),
            kind=str(e.get("kind")),
            kind_label=STOCK_KINDS.get(str(e.get("kind")), str(e.get("kind"))),
            count=_int(e.get("count")) or 0,
            reference=_str(e.get("reference")),
            detail=_str(e.get("detail")),
            actor=_str(e.get("actor")),
            station=_str(e.get("station")),
            to=_str(e.get("to")),
            printer=_str(e.get("printer")),
        )
        for e in _rows(found)
    )


def custody(stock: object, this_station: str) -> tuple[Custody, ...]:
    """``status.stock.stations``: each station's blanks (one row when a single station runs on the database)."""
    stations = stock.get("stations") if isinstance(stock, Mapping) else None
    if not isinstance(stations, Mapping):
        return ()
    return tuple(
        Custody(
            str(name),
            name == this_station,
            **{key: _int(balance.get(key)) or 0 for key in _BALANCE_KEYS},
        )
        for name, balance in sorted(stations.items())
        if isinstance(balance, Mapping)
    )


_BALANCE_KEYS = (
    "on_hand",
    "received",
    "transferred_in",
    "transferred_out",
    "adjusted",
    "issued",
    "spoiled",
    "in_doubt",
)


def printer_blanks(stock: object) -> tuple[PrinterBlanks, ...]:
    """``status.stock.printers``: the blanks each printer used (printers hold none: their station does)."""
    printers = stock.get("printers") if isinstance(stock, Mapping) else None
    if not isinstance(printers, Mapping):
        return ()
    return tuple(
        PrinterBlanks(
            str(name),
            _int(totals.get("issued")) or 0,
            _int(totals.get("spoiled")) or 0,
            _int(totals.get("in_doubt")) or 0,
        )
        for name, totals in sorted(printers.items())
        if isinstance(totals, Mapping)
    )


def forecast(found: Mapping[str, Any] | None) -> Forecast | None:
    if found is None:
        return None
    backlog = found.get("backlog")
    return Forecast(
        as_of=_str(found.get("as_of")),
        on_hand=_int(found.get("on_hand")),
        daily_use=_number(found.get("daily_use")),
        spoil_rate=_number(found.get("spoil_rate")),
        days_left=_number(found.get("days_left")),
        days_left_with_backlog=_number(found.get("days_left_with_backlog")),
        backlog=tuple(
            (label, _int(backlog.get(key)) or 0) for key, label in display.PRIORITIES if isinstance(backlog, Mapping)
        ),
        backlog_blanks=_int(found.get("backlog_blanks")),
        reorder_point=_int(found.get("reorder_point")),
        request=_int(found.get("request")),
    )


def _category(value: object) -> str | None:
    return CATEGORY_LABELS.get(value, value) if isinstance(value, str) and value else None


def _rows(value: object) -> list[Mapping[str, Any]]:
    return [row for row in value if isinstance(row, Mapping)] if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
