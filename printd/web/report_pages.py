"""The reports page, the documents downloaded from it, and the charts.

``/reports`` offers the day's report and its public notice, the month's report, the request letter for blanks and
(supervisors) the berita acara. Each document is one entry of ``DOWNLOADS`` (the printd method that reads it, what
the query may say, the files it comes as) and is served by ``download`` at ``/reports/NAME.csv`` or ``.pdf`` as an
attachment named after the station and the day. The files are made by printd.reports.exports, as printctl makes
them: official documents, so in Indonesian whatever the reader's language.

``/charts``: cards issued and spoiled a day and blanks on hand at each day's end over the last 30 days, from
``reports.monthly`` of this month and the last, drawn as SVG on the server (charts.py) and given as a table too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import babel.dates
from markupsafe import Markup
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from printd import i18n
from printd.i18n import N_, _
from printd.logging import get_logger
from printd.reports import codec, exports
from printd.reports.pdf.fonts import MissingFontsError
from printd.reports.pdf.words import Lang
from printd.web import charts, tables
from printd.web.access import Visitor, to_login, visitor
from printd.web.pages import UNAVAILABLE, ask
from printd.web.render import page
from printd.web.state import web_state

log = get_logger("printd.web.reports")

DOCUMENT_LANGUAGE: Lang = "id"
CHART_DAYS = 30
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class QueryError(Exception):
    """A download's query is wrong; the message (in the reader's language) says what to give."""


Params = Callable[[QueryParams], dict[str, object]]
Rows = Callable[[object, Lang], list[list[object]]]


@dataclass(frozen=True)
class Download:
    method: str
    params: Params
    stem: str  # the file's name before the station and the day
    csv: Rows | None = None
    pdf: str | None = None  # one of exports.DOCUMENTS
    supervisor: bool = False  # only supervisors may have it

    def formats(self) -> tuple[str, ...]:
        return tuple(f for f, made in (("csv", self.csv), ("pdf", self.pdf)) if made is not None)


def _date(query: QueryParams) -> dict[str, object]:
    value = query.get("date", "").strip()
    if not value:
        return {}  # today
    if not DATE.fullmatch(value):
        raise QueryError(_("Give the date as YYYY-MM-DD, for example 2026-12-07."))
    return {"date": value}


def _month(query: QueryParams) -> dict[str, object]:
    value = query.get("month", "").strip()
    if not value:
        return {}  # this month
    if not MONTH.fullmatch(value):
        raise QueryError(_("Give the month as YYYY-MM, for example 2026-12."))
    return {"month": value}


def _request(query: QueryParams) -> dict[str, object]:
    params: dict[str, object] = {"reason": query.get("reason", "").strip()[:1000]}
    quantity = query.get("quantity", "").strip().replace(".", "").replace(",", "")
    if quantity:
        if not quantity.isdigit() or not 1 <= int(quantity) <= 1_000_000:
            raise QueryError(_("The number of blanks to request must be a whole number from 1 to 1,000,000."))
        params["quantity"] = int(quantity)
    return params


def _number(query: QueryParams) -> dict[str, object]:
    number = query.get("number", "").strip()
    if not number or len(number) > 64:
        raise QueryError(_("Name the berita acara by its number, as the list of berita acara shows it."))
    return {"number": number}


DOWNLOADS: dict[str, Download] = {
    "daily": Download("reports.daily", _date, "laporan-harian", csv=exports.daily_csv, pdf="daily_report"),
    "notice": Download("reports.daily", _date, "pengumuman-stok", pdf="stock_notice"),
    "monthly": Download("reports.monthly", _month, "laporan-bulanan", csv=exports.monthly_csv, pdf="monthly_report"),
    "request": Download("stock.request", _request, "permintaan-blangko", pdf="request_letter"),
    "berita-acara": Download(
        "spoiled.handover_get", _number, "berita-acara", csv=exports.handover_csv, pdf="berita_acara", supervisor=True
    ),
}


async def reports(request: Request) -> Response:
    """``/reports``: the documents to download, with the day and month to choose."""
    who = visitor(request)
    if who is None:
        return to_login(request)
    return await _reports_page(request, who)


async def _reports_page(request: Request, who: Visitor, problem: str | None = None, status_code: int = 200) -> Response:
    """The page, with ``problem`` said at its top when a download could not be made."""
    today = dt.datetime.now(web_state(request).settings.zone).date()
    handovers: tuple[tuple[str, int], ...] = ()
    if who.can_supervise:
        made = await ask(request, "spoiled.handovers", {"limit": 20})
        handovers = tables.handovers(made.result)
    context: dict[str, object] = {
        "today": today.isoformat(),
        "this_month": today.strftime("%Y-%m"),
        "problem": problem,
        "handovers": handovers,
    }
    return page(request, "reports.html", context, status_code=status_code)


async def download(request: Request) -> Response:
    """``/reports/NAME.FORMAT``: a document of ``DOWNLOADS`` as an attachment."""
    who = visitor(request)
    if who is None:
        return to_login(request)
    name, _dot, fmt = str(request.path_params["file"]).rpartition(".")
    entry = DOWNLOADS.get(name)
    if entry is None or fmt not in entry.formats():
        return page(request, "error.html", {"status": 404}, status_code=404)
    if entry.supervisor and not who.can_supervise:
        return page(request, "refused.html", {"why": "supervisor"}, status_code=403)
    with i18n.speaking(who.language):
        try:
            params = entry.params(request.query_params)
        except QueryError as exc:
            return await _reports_page(request, who, str(exc), 400)
    asked = await ask(request, entry.method, params, **{k: repr(v) for k, v in params.items() if k == "number"})
    if asked.problem is not None:
        with i18n.speaking(who.language):
            problem = None if asked.problem == UNAVAILABLE else _("printd refused: {message}")
        text = problem.format(message=asked.problem) if problem else UNAVAILABLE
        return await _reports_page(request, who, text, 503 if asked.problem == UNAVAILABLE else 400)
    reply = asked.result
    try:
        if fmt == "csv":
            assert entry.csv is not None
            body = exports.csv_text(entry.csv(reply, DOCUMENT_LANGUAGE)).encode()
            media = "text/csv; charset=utf-8"
        else:
            assert entry.pdf is not None
            body = await asyncio.to_thread(exports.document_pdf, entry.pdf, reply, DOCUMENT_LANGUAGE)
            media = "application/pdf"
    except MissingFontsError as exc:
        log.error("web.document_failed", document=name, reason=str(exc))
        with i18n.speaking(who.language):
            text = _("The PDF cannot be made on this PC: {reason}").format(reason=str(exc))
        return await _reports_page(request, who, text, 500)
    except (ValueError, KeyError, TypeError) as exc:
        log.error("web.document_failed", document=name, reason=str(exc))
        with i18n.speaking(who.language):
            text = _(
                "printd's reply could not be made into the document; check that printd-web and printd are one version."
            )
        return await _reports_page(request, who, text, 500)
    filename = f"{entry.stem}_{_safe(web_state(request).settings.station)}_{_safe(_when(name, reply, params))}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    log.info("web.document", document=name, format=fmt, bytes=len(body))
    return Response(body, media_type=media, headers=headers)


def _when(name: str, reply: object, params: Mapping[str, object]) -> str:
    """What the file is of: the day, the month or the berita acara's number."""
    found = reply if isinstance(reply, Mapping) else {}
    if name == "berita-acara":
        return str(params.get("number", ""))
    return str(found.get("date") or found.get("month") or params.get("date") or params.get("month") or "")


def _safe(text: str) -> str:
    return SAFE.sub("-", text).strip("-")[:64] or "-"


# ---- charts -----------------------------------------------------------------------------------------------

CHART_WORDS = {
    "cards": N_("Cards a day"),
    "stock": N_("Blanks on hand at each day's end"),
    "issued": N_("Issued"),
    "spoiled": N_("Spoiled"),
    "on_hand": N_("Blanks on hand"),
    "reorder": N_("Reorder point"),
}


async def charts_page(request: Request) -> Response:
    """``/charts``: the last 30 days of cards and stock, as charts and as a table."""
    who = visitor(request)
    if who is None:
        return to_login(request)
    state = web_state(request)
    today = dt.datetime.now(state.settings.zone).date()
    first = today - dt.timedelta(days=CHART_DAYS - 1)
    months = sorted({(first.year, first.month), (today.year, today.month)})
    found = []
    problem = None
    for year, month in months:
        asked = await ask(request, "reports.monthly", {"month": f"{year:04d}-{month:02d}"})
        if asked.problem is not None or not isinstance(asked.result, dict):
            problem = asked.problem
            break
        found.append(codec.monthly_from(asked.result))
    days = charts.days_of(found, first, today) if problem is None else []
    forecast = state.live.forecast or {}
    reorder = forecast.get("reorder_point")
    with i18n.speaking(who.language):
        drawn = _draw(days, who.language, reorder if isinstance(reorder, int) else None) if days else None
    context = {"days": list(reversed(days)), "drawn": drawn, "problem": problem}
    return page(request, "charts.html", context)


def _draw(days: list[charts.DayFigures], language: str, reorder: int | None) -> tuple[Markup, Markup]:
    def number(n: int) -> str:
        return i18n.format_number(n, language)

    def day_label(day: dt.date) -> str:
        return babel.dates.format_date(day, "d MMM", locale=i18n.locale(language))

    words = {key: _(text) for key, text in CHART_WORDS.items()}
    cards = charts.cards_chart(
        days,
        title=words["cards"],
        issued_label=words["issued"],
        spoiled_label=words["spoiled"],
        number=number,
        day_label=day_label,
    )
    stock = charts.stock_chart(
        days,
        title=words["stock"],
        on_hand_label=words["on_hand"],
        number=number,
        day_label=day_label,
        reorder_point=reorder,
        reorder_label=words["reorder"],
    )
    return Markup(cards), Markup(stock)  # charts.py escapes every text it draws
