"""The control methods: each JSON-RPC method's role, parameters and handler over the store and station."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from drivers.base import SpoilCategory
from printd import reconcile
from printd.control.auth import Caller, Role
from printd.control.report_methods import ReportMethods
from printd.control.user_methods import UserMethods
from printd.errors import PrintdError, invalid_params
from printd.intake import parse_batch, parse_job
from printd.jobs import JobEvent, JobState, Priority
from printd.ledger import Balance, Resolution
from printd.reports.settings import ReportSettings
from printd.station import PrinterView, Station
from printd.store import JobRecord, NewJob, Store
from printd.store.health import StorageUnavailableError
from printd.store.overview import Overview
from printd.store.stations import StationView
from printd.store.stock_history import KINDS as STOCK_HISTORY_KINDS
from printd.validation import explain

MAX_BATCH = 5000

MAX_RECEIPT = 1_000_000  # blanks in one delivery; far above any real one, far below what SQLite can count

JobKey = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
JobId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Text = Annotated[str, msgspec.Meta(max_length=500)]


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    pass


class JobParams(msgspec.Struct, forbid_unknown_fields=True):
    job: JobKey | JobId  # a string is always a client reference, a number always a job id


StationName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ListParams(msgspec.Struct, forbid_unknown_fields=True):
    state: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    station: StationName | None = None  # only jobs bound to this station
    priority: str | None = None  # only jobs of this priority (walk_in, normal, backlog)


class SubmitParams(msgspec.Struct, forbid_unknown_fields=True):
    job: dict[str, Any]


class BatchParams(msgspec.Struct, forbid_unknown_fields=True):
    jobs: Annotated[list[Any], msgspec.Meta(max_length=MAX_BATCH)]


class ReceiveParams(msgspec.Struct, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(le=MAX_RECEIPT)]
    ref: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    serials: Text | None = None


class AdjustParams(msgspec.Struct, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=-MAX_RECEIPT, le=MAX_RECEIPT)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    printer: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class TransferParams(msgspec.Struct, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_RECEIPT)]
    to: StationName
    ref: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    source: StationName | None = msgspec.field(default=None, name="from")  # None: the station asked


class LimitParams(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


class PrinterParams(msgspec.Struct, forbid_unknown_fields=True):
    printer: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class PauseParams(msgspec.Struct, forbid_unknown_fields=True):
    printer: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    # why, in the operator's words (one line): the pause reason becomes "paused by ACTOR: REASON"
    reason: Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] | None = None


class HistoryParams(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    kind: str | None = None  # received, adjusted, transferred, destroyed or returned


class ReconcileParams(msgspec.Struct, forbid_unknown_fields=True):
    printer: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # None: every printer


class SpoiledParams(msgspec.Struct, forbid_unknown_fields=True):
    since: str | None = None
    category: str | None = None


class SpoilParams(msgspec.Struct, forbid_unknown_fields=True):
    """The card rejected is named, by its attempt id or its chip UID, so a repeated request books it once."""

    job: JobKey | JobId
    category: str
    detail: Text = ""
    attempt: JobId | None = None
    chip_uid: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class ResolveParams(msgspec.Struct, forbid_unknown_fields=True):
    job: JobKey | JobId
    resolution: str
    category: str | None = None
    note: Text = ""


@dataclass(frozen=True)
class Method:
    role: Role
    params: type[msgspec.Struct]
    handler: Callable[[Any, Caller], object]


class Dispatcher:
    """Maps method names to handlers; handlers run in a worker thread so the socket loop stays responsive."""

    def __init__(
        self, store: Store, station: Station, station_name: str, reports: ReportSettings | None = None
    ) -> None:
        self.store = store
        self.station = station
        self.station_name = station_name
        self.reports = reports or ReportSettings()  # replaced whole when the configuration is reloaded
        op, view, sup = Role.OPERATOR, Role.VIEWER, Role.SUPERVISOR
        self.methods: dict[str, Method] = {
            "status": Method(view, NoParams, self.status),
            "stock.summary": Method(view, NoParams, self.stock_summary),
            "stock.receive": Method(sup, ReceiveParams, self.stock_receive),
            "stock.adjust": Method(sup, AdjustParams, self.stock_adjust),
            "stock.transfer": Method(sup, TransferParams, self.stock_transfer),
            "stock.transfers": Method(view, LimitParams, self.stock_transfers),
            "stock.history": Method(view, HistoryParams, self.stock_history),
            "jobs.list": Method(view, ListParams, self.jobs_list),
            "jobs.get": Method(view, JobParams, self.jobs_get),
            "jobs.submit": Method(op, SubmitParams, self.jobs_submit),
            "jobs.submit_batch": Method(op, BatchParams, self.jobs_submit_batch),
            "jobs.cancel": Method(op, JobParams, self._transition(JobEvent.CANCEL)),
            "jobs.hold": Method(op, JobParams, self._transition(JobEvent.HOLD)),
            "jobs.release": Method(op, JobParams, self._transition(JobEvent.RELEASE)),
            "jobs.reprint": Method(op, JobParams, self._transition(JobEvent.REPRINT)),
            "jobs.spoil": Method(op, SpoilParams, self.jobs_spoil),
            "jobs.resolve": Method(op, ResolveParams, self.jobs_resolve),
            "printers.pause": Method(op, PauseParams, self.printers_pause),
            "printers.resume": Method(op, PrinterParams, self.printers_resume),
            # Operator: a reconciliation books no blank, it records what the printer's counter says; booking a
            # difference (an adjustment) stays with supervisors.
            "printers.reconcile": Method(op, ReconcileParams, self.printers_reconcile),
            "spoiled.list": Method(view, SpoiledParams, self.spoiled_list),
            "station.metrics": Method(view, NoParams, self.station_metrics),
        }
        self.report_methods = ReportMethods(store, station_name, lambda: self.reports)
        self.user_methods = UserMethods(store)
        for name, (role, params, handler) in (self.report_methods.table() | self.user_methods.table()).items():
            self.methods[name] = Method(role, params, handler)

    def acting_role(self, account: str) -> Role:
        """The role of a dashboard account a request is made for (see printd/control/user_methods.py)."""
        return self.user_methods.acting_role(account)

    def required_role(self, method: str) -> Role | None:
        entry = self.methods.get(method)
        return entry.role if entry else None

    async def dispatch(self, method: str, params: dict[str, object], caller: Caller) -> object:
        entry = self.methods.get(method)
        if entry is None:
            raise PrintdError("method.not_found", f"no method {method!r}; see 'printctl --help' for what printd offers")
        try:
            parsed = msgspec.convert(params, entry.params)
        except msgspec.ValidationError as exc:
            raise invalid_params(f"{method}: {explain(exc, whole='params')}") from exc
        return await asyncio.to_thread(entry.handler, parsed, caller)

    # ---- views --------------------------------------------------------------------------------------

    def status(self, _: NoParams, caller: Caller) -> dict[str, object]:
        """The station now. When the database cannot even be read (a PostgreSQL server that is down or cut off),
        status still answers with what the daemon knows by itself: its printers and the storage condition, the
        parts read from the database (queue, stock, stations) None and no alerts."""
        try:
            overview = self.store.overview()  # one snapshot for the queue, the stock and the stations
            stored: dict[str, object] = {
                "queue": overview.queue,
                "stock": self._stock(overview),
                "alerts": self.station.alerts(overview) + reconcile.alerts(self.store, self.station.views()),
                "stations": self._stations(overview.stations),
                "queue_by_priority": overview.waiting,
            }
        except StorageUnavailableError:
            stored = {"queue": None, "stock": None, "alerts": [], "stations": None, "queue_by_priority": None}
        return {
            "station": self.station_name,
            "printers": [self._printer(view) for view in self.station.views()],
            "queue": stored["queue"],
            "queue_by_priority": stored["queue_by_priority"],  # waiting (queued or held) by priority
            "stock": stored["stock"],
            "alerts": stored["alerts"],
            "storage": self.store.health.as_dict(),  # after the reads: a fault they met is in it
            "stations": stored["stations"],
        }

    def _printer(self, view: PrinterView) -> dict[str, object]:
        printer = view.as_dict()
        printer["cards_today"] = self.station.metrics.today(view.name)
        return printer

    def station_metrics(self, _: NoParams, caller: Caller) -> dict[str, object]:
        """Running figures of the cards since the daemon started (for the dashboard and Prometheus)."""
        return self.station.metrics.snapshot()

    def _stations(self, views: list[StationView]) -> list[dict[str, object]]:
        """Every station on the store: this one as it is now, the others as they last said."""
        now = time.time()
        found = []
        for view in views:
            entry = view.as_dict(now)
            if view.name == self.station_name:
                entry.update(
                    seconds_since_heard=0.0,
                    printers=[
                        {key: printer[key] for key in ("name", "state", "paused", "pause_reason", "current_job")}
                        for printer in (v.as_dict() for v in self.station.views())
                    ],
                )
            entry["this_station"] = view.name == self.station_name
            found.append(entry)
        return found

    def stock_summary(self, _: NoParams, caller: Caller) -> dict[str, object]:
        return self._stock(self.store.overview())

    def _stock(self, overview: Overview) -> dict[str, object]:
        """The whole queue's blanks, and each station's custody (every station that ran on the store, with or
        without blanks). ``low``: this station's own custody is under its threshold."""
        summary: dict[str, object] = dict(overview.balance.as_dict())
        summary["low_threshold"] = self.station.low_stock_threshold
        own = overview.custody.get(self.station_name, Balance())
        summary["low"] = own.on_hand < self.station.low_stock_threshold
        summary["printers"] = overview.printers
        summary["stations"] = {name: custody.as_dict() for name, custody in overview.custody.items()}
        return summary

    def jobs_list(self, params: ListParams, _: Caller) -> list[dict[str, object]]:
        state = None
        if params.state is not None:
            try:
                state = JobState(params.state)
            except ValueError:
                raise invalid_params(
                    f"jobs.list: state must be one of {', '.join(s.value for s in JobState)}, not {params.state!r}"
                ) from None
        priority = None
        if params.priority is not None:
            try:
                priority = Priority.from_label(params.priority)
            except KeyError:
                raise invalid_params(
                    f"jobs.list: priority must be one of {', '.join(p.label for p in Priority)},"
                    f" not {params.priority[:32]!r}"
                ) from None
        return [job.as_dict() for job in self.store.list_jobs(state, params.limit, params.station, priority)]

    def jobs_get(self, params: JobParams, _: Caller) -> dict[str, object]:
        job = self.store.get_job(params.job)
        detail = job.as_dict()
        detail["cards"] = [card.as_dict() for card in self.store.job_cards(job.id)]
        detail["history"] = self.store.job_history(job.id)
        return detail

    def spoiled_list(self, params: SpoiledParams, _: Caller) -> list[dict[str, object]]:
        since = None
        if params.since is not None:
            try:
                day = dt.date.fromisoformat(params.since)
                since = dt.datetime.combine(day, dt.time(), self.reports.zone).timestamp()  # a local date
            except (ValueError, OverflowError):
                raise invalid_params(
                    f"spoiled.list: since must be a date like 2026-11-30, not {params.since[:40]!r}"
                ) from None
        category = _category(params.category, "spoiled.list") if params.category else None
        rows = self.store.spoiled_list(since, category.value if category else None)
        for row in rows:
            row["at"] = _iso(row["at"])
        return rows

    # ---- changes ------------------------------------------------------------------------------------

    @contextmanager
    def _accepting(self, refused: str) -> Iterator[None]:
        """New jobs are refused while storage is failing, with an error saying so and why (data.code store.*)."""
        self.store.health.check(refused)
        try:
            yield
        except StorageUnavailableError as exc:
            raise StorageUnavailableError(exc.fault, refused) from None

    def jobs_submit(self, params: SubmitParams, caller: Caller) -> dict[str, object]:
        with self._accepting("the job was not accepted"):
            result = self.store.submit(parse_job(params.job, reader=caller.reader()), caller.user)
        self.station.notify_work()
        return {
            "id": result.job.id,
            "ref": result.job.ref,
            "state": result.job.state.value,
            "duplicate": result.duplicate,
        }

    def jobs_submit_batch(self, params: BatchParams, caller: Caller) -> dict[str, object]:
        accepted: list[dict[str, object]] = []
        rejected: list[dict[str, object]] = []
        parsed: list[tuple[int, NewJob]] = []
        refused = "no job of the batch was accepted"
        self.store.health.check(refused)  # before reading any image
        validated = parse_batch(params.jobs, reader=caller.reader())
        for index, (obj, job) in enumerate(zip(params.jobs, validated, strict=True)):
            if isinstance(job, PrintdError):
                ref = obj.get("ref") if isinstance(obj, dict) else None
                rejected.append({"index": index, "ref": ref if isinstance(ref, str) else None, "error": job.as_dict()})
            else:
                parsed.append((index, job))
        with self._accepting(refused):
            results = self.store.submit_many([job for _, job in parsed], caller.user)
        for (index, job), result in zip(parsed, results, strict=True):
            if isinstance(result, PrintdError):
                rejected.append({"index": index, "ref": job.ref, "error": result.as_dict()})
            else:
                accepted.append({"id": result.job.id, "ref": result.job.ref, "duplicate": result.duplicate})
        rejected.sort(key=lambda r: int(str(r["index"])))
        self.station.notify_work()
        return {"accepted": accepted, "rejected": rejected}

    def _transition(self, event: JobEvent) -> Callable[[JobParams, Caller], dict[str, object]]:
        def handler(params: JobParams, caller: Caller) -> dict[str, object]:
            job = self.store.transition(params.job, event, caller.user)
            if job.state is JobState.QUEUED:
                self.station.notify_work()
            return job.as_dict()

        return handler

    def jobs_spoil(self, params: SpoilParams, caller: Caller) -> dict[str, object]:
        category = _category(params.category, "jobs.spoil")
        if (params.attempt is None) == (params.chip_uid is None):
            raise invalid_params(
                "jobs.spoil: name the card rejected by exactly one of attempt or chip_uid, as 'printctl job' lists"
                " the job's cards"
            )
        card = params.attempt if params.attempt is not None else params.chip_uid
        assert card is not None
        spoil = self.store.qc_spoil(params.job, card, category, params.detail, caller.user)
        if spoil.reprint:
            self.station.notify_work()
        reply = spoil.job.as_dict()
        reply["spoil"] = {"booked": spoil.booked, "reprint": spoil.reprint, "card": spoil.card.as_dict()}
        return reply

    def jobs_resolve(self, params: ResolveParams, caller: Caller) -> dict[str, object]:
        resolutions = {"printed": Resolution.ISSUED, "spoiled": Resolution.SPOILED, "not_fed": Resolution.NOT_CONSUMED}
        if params.resolution not in resolutions:
            raise invalid_params("jobs.resolve: resolution must be printed, spoiled or not_fed")
        category = _category(params.category, "jobs.resolve") if params.category else None
        job: JobRecord = self.store.resolve(
            params.job, resolutions[params.resolution], caller.user, params.note, category
        )
        self.station.notify_work()
        return job.as_dict()

    def stock_receive(self, params: ReceiveParams, caller: Caller) -> dict[str, object]:
        receipt = self.store.receive_stock(params.count, params.ref, caller.user, params.serials)
        if not receipt.duplicate:
            self.station.notify_work()
            self.station.check_stock()
        return receipt.as_dict() | {"on_hand": self.store.balance().on_hand}

    def stock_adjust(self, params: AdjustParams, caller: Caller) -> dict[str, object]:
        if params.printer is not None:
            self.station.worker(params.printer)  # printer.not_found for a name the station does not have
        event_id = self.store.adjust_stock(params.count, params.reason, caller.user, params.printer)
        self.station.check_stock()
        return {"event_id": event_id, "on_hand": self.store.balance().on_hand}

    def stock_transfer(self, params: TransferParams, caller: Caller) -> dict[str, object]:
        transfer = self.store.transfer_stock(params.count, params.to, params.ref, caller.user, params.source)
        self.station.check_stock()
        custody = self.store.balance_by_station()
        reply = transfer.as_dict()
        reply["on_hand"] = {name: custody[name].on_hand for name in (transfer.source, transfer.to) if name in custody}
        return reply

    def stock_transfers(self, params: LimitParams, _: Caller) -> list[dict[str, object]]:
        return [transfer.as_dict() for transfer in self.store.transfers(params.limit)]

    def stock_history(self, params: HistoryParams, _: Caller) -> list[dict[str, object]]:
        """Receipts, adjustments, transfers and berita acara of the whole queue, newest first."""
        if params.kind is not None and params.kind not in STOCK_HISTORY_KINDS:
            raise invalid_params(
                f"stock.history: kind must be one of {', '.join(STOCK_HISTORY_KINDS)}, not {params.kind[:32]!r}"
            )
        return [event.as_dict() for event in self.store.stock_history(params.limit, params.kind)]

    def printers_pause(self, params: PauseParams, caller: Caller) -> dict[str, object]:
        reason = (params.reason or "").strip()
        said = f"paused by {caller.user}: {reason}" if reason else f"paused by {caller.user}"
        return self.station.pause(params.printer, said, caller.user).as_dict()

    def printers_resume(self, params: PrinterParams, caller: Caller) -> dict[str, object]:
        return self.station.resume(params.printer, caller.user).as_dict()

    def printers_reconcile(self, params: ReconcileParams, caller: Caller) -> dict[str, object]:
        """Each printer's card counter against the ledger; one printer named: its error is the reply's."""
        names = [params.printer] if params.printer is not None else [view.name for view in self.station.views()]
        found, errors = [], []
        for name, result in zip(names, reconcile.reconcile(self.station, names, caller.user), strict=True):
            if isinstance(result, PrintdError):
                if params.printer is not None:
                    raise result
                errors.append({"printer": name, "error": result.as_dict()})
            else:
                found.append(reconcile.as_dict(result))
        return {"reconciliations": found, "errors": errors}


def _category(value: str, method: str) -> SpoilCategory:
    try:
        return SpoilCategory(value)
    except ValueError:
        raise invalid_params(
            f"{method}: category must be one of {', '.join(c.value for c in SpoilCategory)}, not {value!r}"
        ) from None


def _iso(epoch: object) -> str:
    from printd.store.records import iso

    return iso(float(epoch))  # type: ignore[arg-type]
