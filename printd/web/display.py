"""What the station page shows, built from printd's replies: pure functions and frozen records, no I/O.

``sections(snapshot)`` turns one poll of the daemon into the page's live sections (notice, printers, queue, stock,
alerts, cards in doubt, stations). Each section is a comparable value: the poller sends a section to open pages
only when it differs from the last one sent. Only the fields named here leave a reply: job references and ids,
never a card holder's data. Words are marked with ``N_`` and translated in the templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from printd.i18n import N_
from printd.web import replies

STATE_LABELS: Mapping[str, str] = {
    "ready": N_("Ready"),
    "busy": N_("Printing"),
    "warning": N_("Warning"),
    "error": N_("Needs attention"),
    "offline": N_("Offline"),
    "paused": N_("Paused"),
}

# The drivers' reasons (drivers/base.py), IPP keywords without their -error / -warning suffix.
REASON_TEXTS: Mapping[str, str] = {
    "media-empty": N_("Card feeder empty"),
    "media-low": N_("Few blank cards left in the feeder"),
    "media-jam": N_("Card jammed"),
    "cover-open": N_("Cover open"),
    "marker-supply-empty": N_("Ribbon used up"),
    "marker-supply-low": N_("Ribbon running low"),
    "marker-supply-missing": N_("No ribbon in the printer"),
    "marker-supply-jam": N_("Ribbon jammed"),
    "reject-box-full": N_("Reject box full"),
    "output-area-full": N_("Output hopper full"),
    "print-head-temperature": N_("Print head too hot"),
    "cleaning-required": N_("Cleaning due"),
    "offline": N_("Not connected"),
    "encoder-unavailable": N_("Chip encoder not answering"),
}

JOB_STATES: Sequence[tuple[str, str]] = (
    ("queued", N_("Queued")),
    ("printing", N_("Printing")),
    ("held", N_("Held")),
    ("in_doubt", N_("In doubt")),
    ("done", N_("Done")),
    ("failed", N_("Failed")),
    ("canceled", N_("Canceled")),
)

PRIORITIES: Sequence[tuple[str, str]] = (
    ("walk_in", N_("Walk-in")),
    ("normal", N_("Normal")),
    ("backlog", N_("Backlog")),
)

SILENT_SECONDS = 60.0  # a station not heard from for this long is flagged, as printctl does


@dataclass(frozen=True)
class Snapshot:
    """One poll of printd: its replies as they came, or why it did not answer."""

    status: Mapping[str, Any] | None = None  # None: printd did not answer
    down_reason: str | None = None  # a DOWN_DETAILS key, or "not asked yet"
    down_since: float | None = None  # epoch seconds
    in_doubt: Sequence[Mapping[str, Any]] = ()  # jobs.list state=in_doubt
    forecast: Mapping[str, Any] | None = None  # stock.forecast, read less often
    forecast_at: float | None = None  # epoch seconds it was read

    @property
    def up(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class Notice:
    up: bool
    reason: str | None = None
    since: float | None = None
    storage_failing: bool = False
    storage_code: str | None = None
    storage_message: str | None = None
    storage_since: str | None = None


@dataclass(frozen=True)
class Reason:
    text: str  # marked for translation when known, else printd's own word
    severity: str  # error, warning or report


@dataclass(frozen=True)
class Printer:
    name: str
    state: str  # ready, busy, warning, error, offline, paused: the badge's colour
    label: str
    reasons: tuple[Reason, ...]
    paused: bool
    pause_reason: str | None  # printd's words; the templates' pause_reason filter says them in the reader's language
    job_id: int | None
    job_ref: str | None
    cards_fed: int | None
    ribbon_remaining: int | None
    model: str | None
    detail: str
    cards_today: int | None = None  # good cards issued today (the office's day)
    spoiled_today: int | None = None
    card_started: float | None = None  # epoch seconds the card in the printer was begun


@dataclass(frozen=True)
class Printers:
    available: bool
    printers: tuple[Printer, ...] = ()


@dataclass(frozen=True)
class Queue:
    available: bool
    states: tuple[tuple[str, str, int], ...] = ()  # (state, label, count)
    waiting: tuple[tuple[str, str, int], ...] = ()  # (priority, label, count) of queued and held jobs; () unknown
    waiting_as_of: float | None = None  # when the counts by priority were read, if not with the status


@dataclass(frozen=True)
class Stock:
    available: bool
    on_hand: int = 0
    received: int = 0
    issued: int = 0
    spoiled: int = 0
    in_doubt: int = 0
    threshold: int = 0
    low: bool = False
    exhausted: bool = False
    reorder: bool = False
    days_left: float | None = None
    reorder_point: int | None = None
    request: int | None = None
    forecast_as_of: str | None = None


@dataclass(frozen=True)
class Alert:
    event: str
    severity: str  # error or warning
    facts: tuple[tuple[str, object], ...]  # the alert as printd sent it (event, message, printer, blanks...)


@dataclass(frozen=True)
class Doubt:
    id: int
    ref: str
    printer: str | None
    attempts: int
    since: str | None


@dataclass(frozen=True)
class Station:
    name: str
    this_station: bool
    on_hand: int | None
    in_doubt: int | None
    last_heard: str | None  # ISO time (not the seconds since: those change at every poll)
    silent: bool
    printers: tuple[tuple[str, str, str], ...]  # (name, state, label)


@dataclass(frozen=True)
class Doubts:
    available: bool
    count: int = 0
    jobs: tuple[Doubt, ...] = ()


@dataclass(frozen=True)
class Stations:
    available: bool
    stations: tuple[Station, ...] = ()


STOCK_ALERTS = frozenset({"stock.low", "stock.reorder", "stock.exhausted"})  # shown in the stock section's banner


def sections(snapshot: Snapshot) -> dict[str, object]:
    """The live sections of the station page, by the name their fragment is sent under."""
    status = snapshot.status or {}
    alerts = [a for a in replies.rows(status.get("alerts")) if isinstance(a.get("event"), str)]
    return {
        "notice": notice(snapshot),
        "printers": Printers(snapshot.up, tuple(printer(p) for p in replies.rows(status.get("printers")))),
        "queue": queue(status.get("queue"), snapshot.forecast, snapshot.forecast_at, status.get("queue_by_priority")),
        "stock": stock(status.get("stock"), {a["event"] for a in alerts}, snapshot.forecast),
        "alerts": tuple(alert(a) for a in alerts if a["event"] not in STOCK_ALERTS),
        "doubt": doubts(status.get("queue"), snapshot.in_doubt),
        "stations": stations(status.get("stations")),
    }


DOWN_DETAILS = {
    "no_socket": N_("printd is not running: its socket is not there (systemctl status printd)."),
    "refused": N_("printd is not running: nothing listens on its socket (systemctl status printd)."),
    "permission": N_(
        "printd-web may not use printd's socket: its user must be in the socket's group (usually printd)."
    ),
    "timeout": N_("printd did not answer in time: it may be overloaded or stuck (journalctl -u printd)."),
    "lost": N_("The connection to printd was lost: it may be restarting."),
    "protocol": N_("printd's answer could not be read: are printd and printd-web the same version?"),
    "refused_status": N_("printd refused to show its status to the dashboard (journalctl -u printd-web)."),
}
"""Why printd is not answering, by ``DaemonUnavailableError.kind``: what the page says under its notice."""


def notice(snapshot: Snapshot) -> Notice:
    if snapshot.status is None:
        kind = snapshot.down_reason or "lost"
        return Notice(False, DOWN_DETAILS.get(kind), snapshot.down_since)
    storage = snapshot.status.get("storage") or {}
    if isinstance(storage, Mapping) and storage.get("available") is False:
        return Notice(
            True,
            storage_failing=True,
            storage_code=replies.text(storage.get("code")),
            storage_message=replies.text(storage.get("message")),
            storage_since=replies.text(storage.get("since")),
        )
    return Notice(True)


def reason(word: str) -> Reason:
    """``media-empty-error`` → (Card feeder empty, error); a word the dashboard does not know is kept as it is."""
    for severity in ("error", "warning"):
        if word.endswith(f"-{severity}"):
            keyword = word.removesuffix(f"-{severity}")
            return Reason(REASON_TEXTS.get(keyword, word), severity)
    return Reason(REASON_TEXTS.get(word, word), "report")


def printer(p: Mapping[str, Any]) -> Printer:
    state = str(p.get("state") or "offline")
    counters = p.get("counters") or {}
    job = p.get("current_job")
    job_id = job if isinstance(job, int) and not isinstance(job, bool) else None
    pause_reason = replies.text(p.get("pause_reason"))
    found_today = p.get("cards_today")
    today: Mapping[str, Any] = found_today if isinstance(found_today, Mapping) else {}
    return Printer(
        name=str(p.get("name")),
        state=state if state in STATE_LABELS else "offline",
        label=STATE_LABELS.get(state, state),
        reasons=tuple(reason(str(r)) for r in p.get("reasons") or () if str(r).strip()),
        paused=bool(p.get("paused")),
        pause_reason=pause_reason,
        job_id=job_id,
        job_ref=replies.text(p.get("current_ref")),
        cards_fed=replies.integer(counters.get("cards_fed")),
        ribbon_remaining=replies.integer(counters.get("ribbon_remaining")),
        model=replies.text(p.get("model")),
        detail=str(p.get("detail") or ""),
        cards_today=replies.integer(today.get("issued")),
        spoiled_today=replies.integer(today.get("spoiled")),
        card_started=replies.number(p.get("card_started_at")),
    )


def queue(
    counts: object, forecast: Mapping[str, Any] | None, forecast_at: float | None = None, by_priority: object = None
) -> Queue:
    """The jobs by state, and those waiting (queued or held) by priority: from the status when it has them
    (``queue_by_priority``), else the forecast's backlog, read less often (so shown with its time)."""
    if not isinstance(counts, Mapping):
        return Queue(False)
    states = tuple((key, label, replies.integer(counts.get(key)) or 0) for key, label in JOB_STATES)
    live = isinstance(by_priority, Mapping)
    waiting_counts = by_priority if live else (forecast or {}).get("backlog")
    waiting: tuple[tuple[str, str, int], ...] = ()
    if isinstance(waiting_counts, Mapping):
        waiting = tuple((key, label, replies.integer(waiting_counts.get(key)) or 0) for key, label in PRIORITIES)
    return Queue(True, states, waiting, None if live or not waiting else forecast_at)


def stock(summary: object, alerts: set[str], forecast: Mapping[str, Any] | None) -> Stock:
    if not isinstance(summary, Mapping):
        return Stock(False)
    forecast = forecast or {}
    days_left = forecast.get("days_left")
    return Stock(
        True,
        on_hand=replies.integer(summary.get("on_hand")) or 0,
        received=replies.integer(summary.get("received")) or 0,
        issued=replies.integer(summary.get("issued")) or 0,
        spoiled=replies.integer(summary.get("spoiled")) or 0,
        in_doubt=replies.integer(summary.get("in_doubt")) or 0,
        threshold=replies.integer(summary.get("low_threshold")) or 0,
        low=bool(summary.get("low")) or "stock.low" in alerts,
        exhausted="stock.exhausted" in alerts,
        reorder="stock.reorder" in alerts,
        days_left=float(days_left) if isinstance(days_left, int | float) else None,
        reorder_point=replies.integer(forecast.get("reorder_point")),
        request=replies.integer(forecast.get("request")),
        forecast_as_of=replies.text(forecast.get("as_of")),
    )


def alert(a: Mapping[str, Any]) -> Alert:
    event = str(a["event"])
    facts = tuple((str(k), v) for k, v in sorted(a.items()) if isinstance(v, str | int | float | bool) or v is None)
    return Alert(event=event, severity="warning" if event == "stock.unreconciled" else "error", facts=facts)


def doubts(counts: object, jobs: Sequence[Mapping[str, Any]]) -> Doubts:
    if not isinstance(counts, Mapping):
        return Doubts(False)
    rows = tuple(
        Doubt(
            id=int(job["id"]),
            ref=str(job.get("ref")),
            printer=replies.text(job.get("printer")),
            attempts=replies.integer(job.get("attempts")) or 0,
            since=replies.text(job.get("updated_at")),
        )
        for job in jobs
        if replies.integer(job.get("id")) is not None
    )
    return Doubts(True, replies.integer(counts.get("in_doubt")) or 0, rows)


def stations(rows: object) -> Stations:
    if not isinstance(rows, list):
        return Stations(False)
    found = []
    for s in replies.rows(rows):
        heard = s.get("seconds_since_heard")
        heard_seconds = float(heard) if isinstance(heard, int | float) else None
        found.append(
            Station(
                name=str(s.get("name")),
                this_station=bool(s.get("this_station")),
                on_hand=replies.integer(s.get("on_hand")),
                in_doubt=replies.integer(s.get("in_doubt")),
                last_heard=replies.text(s.get("last_heard")),
                silent=heard_seconds is not None and heard_seconds > SILENT_SECONDS,
                printers=tuple(
                    (
                        str(p.get("name")),
                        str(p.get("state")),
                        STATE_LABELS.get(str(p.get("state")), str(p.get("state"))),
                    )
                    for p in replies.rows(s.get("printers"))
                ),
            )
        )
    return Stations(True, tuple(found))
