"""The report methods of the control socket: stock by day and month, the forecast, the request for blanks and the
berita acara of spoiled blanks. Dates in parameters are the station's local dates; replies are codec JSON."""

from __future__ import annotations

import calendar
import datetime as dt
import time
from collections.abc import Callable
from typing import Annotated, Any

import msgspec

from printd.control.auth import Caller, Role
from printd.errors import invalid_params
from printd.reports import codec, reading
from printd.reports.forecast import forecast
from printd.reports.model import BlankRequest, Forecast, MonthUsage
from printd.reports.settings import ReportSettings
from printd.reports.stock import local_span
from printd.store import Store
from printd.store.records import Handover, Person

Date = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Month = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}$")]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    pass


class DayParams(msgspec.Struct, forbid_unknown_fields=True):
    date: Date | None = None  # None: today


class MonthParams(msgspec.Struct, forbid_unknown_fields=True):
    month: Month | None = None  # None: this month


class RequestParams(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None  # None: the forecast's request
    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class PendingParams(msgspec.Struct, forbid_unknown_fields=True):
    through: Date | None = None


class PersonParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Short
    nip: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9 ]*$")] = ""
    rank: Annotated[str, msgspec.Meta(max_length=120)] = ""
    position: Annotated[str, msgspec.Meta(max_length=200)] = ""


class HandoverParams(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
    officers: Annotated[list[PersonParams], msgspec.Meta(min_length=1, max_length=20)]
    witnesses: Annotated[list[PersonParams], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    through: Date | None = None
    place: Annotated[str, msgspec.Meta(max_length=120)] | None = None


class NumberParams(msgspec.Struct, forbid_unknown_fields=True):
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ListParams(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


Handler = Callable[[Any, Caller], object]


class ReportMethods:
    """Handlers over the store's interface and the report settings (re-read on SIGHUP through ``settings``)."""

    REORDER_TTL_SECONDS = 60.0

    def __init__(self, store: Store, station_name: str, settings: Callable[[], ReportSettings]) -> None:
        self.store = store
        self.station_name = station_name
        self.settings = settings
        self._reorder: tuple[float, ReportSettings, tuple[int, int]] | None = None

    def reorder_point(self) -> tuple[int, int]:
        """(reorder point, recommended request), from a forecast at most a minute old: the reorder point moves with
        the use of whole days, and the station asks after every card."""
        now, settings = time.monotonic(), self.settings()
        if (
            self._reorder is None
            or self._reorder[1] is not settings
            or now - self._reorder[0] > self.REORDER_TTL_SECONDS
        ):
            found = self.current_forecast()
            self._reorder = (now, settings, (found.reorder_point, found.request))
        return self._reorder[2]

    def table(self) -> dict[str, tuple[Role, type[msgspec.Struct], Handler]]:
        view, sup = Role.VIEWER, Role.SUPERVISOR
        return {
            "station.info": (view, NoParams, self.station_info),
            "reports.daily": (view, DayParams, self.daily),
            "reports.monthly": (view, MonthParams, self.monthly),
            "stock.forecast": (view, NoParams, self.forecast),
            "stock.request": (view, RequestParams, self.request),
            "spoiled.pending": (view, PendingParams, self.pending),
            "spoiled.handover": (sup, HandoverParams, self.handover),
            "spoiled.handovers": (view, ListParams, self.handovers),
            "spoiled.handover_get": (view, NumberParams, self.handover_get),
        }

    def station_info(self, _: NoParams, __: Caller) -> dict[str, object]:
        settings = self.settings()
        return {"station": self.station_name, "timezone": settings.zone.key, "today": settings.today().isoformat()}

    def daily(self, params: DayParams, _: Caller) -> dict[str, object]:
        settings = self.settings()
        day = _date(params.date, "reports.daily", "date") if params.date else settings.today()
        return codec.period_json(reading.stock_between(self.store, day, day, settings.zone)) | self._about()

    def monthly(self, params: MonthParams, _: Caller) -> dict[str, object]:
        settings = self.settings()
        if params.month:
            year, month = _month(params.month)
        else:
            today = settings.today()
            year, month = today.year, today.month
        return codec.monthly_json(reading.monthly(self.store, year, month, settings.zone)) | self._about()

    def forecast(self, _: NoParams, __: Caller) -> dict[str, object]:
        return codec.record_json(self.current_forecast()) | self._about()

    def current_forecast(self) -> Forecast:
        settings = self.settings()
        today = settings.today()
        # whole days only: today's use so far would pull the average down
        days = settings.calendar.working_days_back(today - dt.timedelta(days=1), settings.forecast.window_days)
        history = reading.day_uses(self.store, days, settings.zone)
        on_hand = self.store.balance().on_hand
        return forecast(history, on_hand, self.store.backlog_by_priority(), settings.forecast, as_of=today)

    def request(self, params: RequestParams, _: Caller) -> dict[str, object]:
        settings = self.settings()
        today = settings.today()
        predicted = self.current_forecast()
        months = []
        for back in (3, 2, 1, 0):
            year, month = _month_before(today, back)
            start = dt.date(year, month, 1)
            end = today if back == 0 else dt.date(year, month, calendar.monthrange(year, month)[1])
            moved = reading.stock_between(self.store, start, end, settings.zone, breakdown=False).movements
            months.append(MonthUsage(year, month, moved.received, moved.issued, moved.spoiled_total))
        quantity = params.quantity if params.quantity is not None else predicted.request
        letter = BlankRequest(self.station_name, today, predicted.on_hand, months, predicted, quantity, params.reason)
        return codec.record_json(letter) | self._about()

    def pending(self, params: PendingParams, _: Caller) -> dict[str, object]:
        items = self.store.pending_spoils(self._before(params.through, "spoiled.pending"))
        counts: dict[str, int] = {}
        for item in items:
            counts[item.category] = counts.get(item.category, 0) + 1
        return {"count": len(items), "per_category": counts, "items": [msgspec.to_builtins(i) for i in items]}

    def handover(self, params: HandoverParams, caller: Caller) -> dict[str, object]:
        if params.kind not in ("destroyed", "returned"):
            raise invalid_params("spoiled.handover: kind must be destroyed (pemusnahan) or returned (penyerahan)")
        settings = self.settings()
        through = _date(params.through, "spoiled.handover", "through") if params.through else None
        draft = Handover(
            number=params.number,
            kind=params.kind,
            at=0.0,
            station=self.station_name,
            place=params.place if params.place is not None else settings.office.city,
            through=through,
            officers=[_person(p) for p in params.officers],
            witnesses=[_person(p) for p in params.witnesses],
            items=[],
            actor=caller.user,
        )
        booked = self.store.book_handover(draft, self._before(params.through, "spoiled.handover"))
        return codec.record_json(booked) | self._about()

    def handovers(self, params: ListParams, _: Caller) -> list[dict[str, object]]:
        return [{"number": number, "count": count} for number, count in self.store.handover_numbers(params.limit)]

    def handover_get(self, params: NumberParams, _: Caller) -> dict[str, object]:
        return codec.record_json(self.store.handover(params.number)) | self._about()

    def _before(self, through: str | None, method: str) -> float | None:
        """The UTC end of local date ``through`` (None: no end)."""
        if through is None:
            return None
        day = _date(through, method, "through")
        return local_span(day, day, self.settings().zone)[1]

    def _about(self) -> dict[str, object]:
        """Where the report comes from, for the documents' header, footer and signatures."""
        settings = self.settings()
        return {
            "station": self.station_name,
            "timezone": settings.zone.key,
            "office": msgspec.to_builtins(settings.office),
        }


def _person(p: PersonParams) -> Person:
    return Person(p.name, p.nip, p.rank, p.position)


def _date(text: str, method: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise invalid_params(f"{method}: {key} must be a real date like 2026-12-07, not {text[:20]!r}") from None


def _month(text: str) -> tuple[int, int]:
    year, month = (int(part) for part in text.split("-"))
    if not 1 <= month <= 12 or year < 2000:
        raise invalid_params(f"reports.monthly: month must be YYYY-MM with a real month, not {text!r}")
    return year, month


def _month_before(day: dt.date, back: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 - back
    return index // 12, index % 12 + 1
