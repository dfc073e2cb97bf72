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
from printd.web import display, replies

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
        id=replies.integer(j.get("id")) or 0,
        ref=str(j.get("ref")),
        state=state,
        state_label=STATE_LABELS.get(state, state),
        priority=priority,
        priority_label=PRIORITY_LABELS.get(priority, priority),
        printer=replies.text(j.get("printer")),
        station=replies.text(j.get("station")),
        attempts=replies.integer(j.get("attempts")) or 0,
        created_at=replies.text(j.get("created_at")),
        updated_at=replies.text(j.get("updated_at")),
    )


def job_rows(found: object) -> tuple[JobRow, ...]:
    return tuple(job_row(j) for j in replies.rows(found))


def job_detail(found: Mapping[str, Any]) -> JobDetail:
    """``jobs.get``: the job, its cards and its history with who did what; no card content, no free-text notes."""
    job = job_row(found)
    cards = tuple(
        CardRow(
            attempt=replies.integer(c.get("attempt")),
            printer=replies.text(c.get("printer")),
            at=replies.text(c.get("at")),
            fate=str(c.get("fate")),
            fate_label=CARD_FATES.get(str(c.get("fate")), str(c.get("fate"))),
            category=replies.text(c.get("category")),
            category_label=_category(c.get("category")),
        )
        for c in replies.rows(found.get("cards"))
    )
    history = tuple(
        HistoryRow(
            at=replies.text(h.get("at")),
            event=str(h.get("event")),
            event_label=JOB_EVENTS.get(str(h.get("event")), str(h.get("event"))),
            actor=replies.text(h.get("actor")),
            printer=replies.text(h.get("printer")),
            state=replies.text(h.get("to")),
        )
        for h in replies.rows(found.get("history"))
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
    listed = replies.rows(found)
    counts: dict[str, int] = {}
    for s in listed:
        key = _category(s.get("category")) or "\u2013"
        counts[key] = counts.get(key, 0) + 1
    rows = tuple(
        SpoiledRow(
            at=replies.text(s.get("at")),
            printer=replies.text(s.get("printer")),
            ref=replies.text(s.get("ref")),
            category=replies.text(s.get("category")),
            category_label=_category(s.get("category")),
            chip_uid=replies.text(s.get("chip_uid")),
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
            ledger_id=replies.integer(i.get("ledger_id")) or 0,
            spoiled_at=replies.number(i.get("spoiled_at")),
            category_label=_category(i.get("category")),
            chip_uid=replies.text(i.get("chip_uid")),
            printer=replies.text(i.get("printer")),
            station=replies.text(i.get("station")),
            ref=replies.text(i.get("job_ref")),
            officer=replies.text(i.get("officer")),
        )
        for i in reversed(replies.rows(found.get("items"))[-limit:] if limit else [])
    )
    return Pending(
        count=replies.integer(found.get("count")) or 0,
        per_category=tuple(
            (_category(k) or str(k), int(v))
            for k, v in (categories.items() if isinstance(categories, Mapping) else ())
            if isinstance(v, int)
        ),
        items=items,
    )


def handovers(found: object) -> tuple[tuple[str, int], ...]:
    """``spoiled.handovers``: (number, blanks) of each berita acara, newest first."""
    return tuple((str(h.get("number")), replies.integer(h.get("count")) or 0) for h in replies.rows(found))


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
            at=replies.text(e.get("at")),
            kind=str(e.get("kind")),
            kind_label=STOCK_KINDS.get(str(e.get("kind")), str(e.get("kind"))),
            count=replies.integer(e.get("count")) or 0,
            reference=replies.text(e.get("reference")),
            detail=replies.text(e.get("detail")),
            actor=replies.text(e.get("actor")),
            station=replies.text(e.get("station")),
            to=replies.text(e.get("to")),
            printer=replies.text(e.get("printer")),
        )
        for e in replies.rows(found)
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
            **{key: replies.integer(balance.get(key)) or 0 for key in _BALANCE_KEYS},
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
            replies.integer(totals.get("issued")) or 0,
            replies.integer(totals.get("spoiled")) or 0,
            replies.integer(totals.get("in_doubt")) or 0,
        )
        for name, totals in sorted(printers.items())
        if isinstance(totals, Mapping)
    )


def forecast(found: Mapping[str, Any] | None) -> Forecast | None:
    if found is None:
        return None
    backlog = found.get("backlog")
    return Forecast(
        as_of=replies.text(found.get("as_of")),
        on_hand=replies.integer(found.get("on_hand")),
        daily_use=replies.number(found.get("daily_use")),
        spoil_rate=replies.number(found.get("spoil_rate")),
        days_left=replies.number(found.get("days_left")),
        days_left_with_backlog=replies.number(found.get("days_left_with_backlog")),
        backlog=tuple(
            (label, replies.integer(backlog.get(key)) or 0)
            for key, label in display.PRIORITIES
            if isinstance(backlog, Mapping)
        ),
        backlog_blanks=replies.integer(found.get("backlog_blanks")),
        reorder_point=replies.integer(found.get("reorder_point")),
        request=replies.integer(found.get("request")),
    )


def _category(value: object) -> str | None:
    return CATEGORY_LABELS.get(value, value) if isinstance(value, str) and value else None
