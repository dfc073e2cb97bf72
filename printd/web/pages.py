"""The pages (GET): the station, the jobs and a job, the spoiled blanks, the stock; and the error pages.

Each handler checks who may see it (``access.visitor``: a login is needed unless ``anonymous_viewer``), gathers its
own context and renders with ``render.page``. The station page and the parts of the stock page that status carries
are drawn from the live poller's latest sections (no call to printd of their own, so any number of pages costs
printd nothing more); a page that needs another reply (the jobs, a job's cards, the spoiled blanks, the stock's
history) asks printd itself through ``ask`` and says so when printd is not answering or refuses. Rows come from
printd's replies through tables.py, which keeps only references, states and counts: never a card holder's data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from printd.cli_errors import error_text
from printd.errors import PrintdError
from printd.web import display, tables
from printd.web.access import to_login, visitor
from printd.web.daemon_link import DaemonUnavailableError
from printd.web.render import page
from printd.web.state import web_state

FIRST_POLL_WAIT = 2.0  # a page asked right after start waits this long at most for the first poll
PAGE_TIMEOUT = 10.0  # a page's own call to printd

SPOIL_CATEGORIES = tuple(tables.CATEGORY_LABELS.items())
"""(value, label) of the spoil categories, for the forms' choices."""

JOBS_STEP = 100  # jobs a page shows, and how many more "More" adds
JOBS_MOST = 5000
SPOILED_DAYS = 30  # the spoiled blanks page looks this many days back unless told
SPOILED_ROWS = 200  # rows it shows at most (the newest)
PENDING_ROWS = 100
HISTORY_ROWS = 50

UNAVAILABLE = "unavailable"  # a problem the templates say in their own words: printd is not answering
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Asked:
    """printd's answer to a page's call: its result, or why there is none (``problem``: printd's refusal in the
    reader's words, or ``UNAVAILABLE``)."""

    def __init__(self, result: object = None, problem: str | None = None, code: str | None = None) -> None:
        self.result = result
        self.problem = problem
        self.code = code


async def ask(request: Request, method: str, params: Mapping[str, object] | None = None, **facts: object) -> Asked:
    """Call printd for a page; ``facts``: what the request named (``job_ref``...), for printd's sentence."""
    try:
        return Asked(await web_state(request).link.call(method, params, timeout=PAGE_TIMEOUT))
    except PrintdError as exc:
        return Asked(problem=error_text(exc.code, exc.message, exc.details, dict(facts)), code=exc.code)
    except DaemonUnavailableError:
        return Asked(problem=UNAVAILABLE)


async def station(request: Request) -> Response:
    """``/``: printers, queue, stock, alerts, cards in doubt, other stations; live."""
    if visitor(request) is None:
        return to_login(request)
    await web_state(request).live.wait_ready(FIRST_POLL_WAIT)
    return page(request, "station.html")


# ---- jobs -------------------------------------------------------------------------------------------------


async def jobs(request: Request) -> Response:
    """``/jobs``: the jobs, filtered by state, station and priority, newest first (in a state: in the order they
    print); ``?ref=`` finds one job by its reference and goes to its page. Operators also get the QC form."""
    if visitor(request) is None:
        return to_login(request)
    query = request.query_params
    ref = query.get("ref", "").strip()[:128]
    problem: str | None = None
    status_code = 200
    if ref:
        found = await ask(request, "jobs.get", {"job": ref}, job_ref=repr(ref))
        if found.problem is None:
            return RedirectResponse(tables.job_url(ref), status_code=303)
        problem = found.problem
        status_code = 404 if found.code == "job.not_found" else 200
    state = _choice(query.get("state"), tables.STATE_LABELS)
    priority = _choice(query.get("priority"), tables.PRIORITY_LABELS)
    station_name = query.get("station", "").strip()[:64] or None
    limit = _limit(query.get("limit"))
    params: dict[str, object] = {"limit": limit}
    for key, value in (("state", state), ("priority", priority), ("station", station_name)):
        if value is not None:
            params[key] = value
    listed = await ask(request, "jobs.list", params)
    rows = tables.job_rows(listed.result)
    filters = {"state": state or "", "priority": priority or "", "station": station_name or ""}
    more = None
    if len(rows) >= limit and limit < JOBS_MOST:
        more = "/jobs?" + _query({**filters, "limit": str(min(JOBS_MOST, limit + JOBS_STEP))})
    await web_state(request).live.wait_ready(FIRST_POLL_WAIT)
    context = {
        "rows": rows,
        "filters": filters,
        "states": display.JOB_STATES,
        "priorities": display.PRIORITIES,
        "stations": _station_names(request),
        "ref": ref,
        "problem": problem or listed.problem,
        "more": more,
        "limit": limit,
        "categories": SPOIL_CATEGORIES,
    }
    return page(request, "jobs.html", context, status_code=status_code)


async def job(request: Request) -> Response:
    """``/jobs/{ref}``: a job, its cards and its history, and the actions its state allows (operators)."""
    return await _job_page(request, str(request.path_params["ref"]).strip()[:128])


async def resolve(request: Request) -> Response:
    """``/jobs/resolve?job=REF``: the job's page by its older address (links and bookmarks of earlier versions)."""
    return await _job_page(request, request.query_params.get("job", "").strip()[:128])


async def _job_page(request: Request, reference: str) -> Response:
    if visitor(request) is None:
        return to_login(request)
    detail: tables.JobDetail | None = None
    problem: str | None = None
    status_code = 200
    if reference:
        found = await ask(request, "jobs.get", {"job": reference}, job_ref=repr(reference))
        if isinstance(found.result, Mapping):
            detail = tables.job_detail(found.result)
        problem = found.problem
        status_code = 404 if found.code == "job.not_found" else 200
    context = {
        "reference": reference,
        "detail": detail,
        "problem": problem,
        "categories": SPOIL_CATEGORIES,
        "here": tables.job_url(reference) if reference else "/jobs",
        "states": tables.STATE_LABELS,
    }
    return page(request, "job.html", context, status_code=status_code)


# ---- spoiled blanks ---------------------------------------------------------------------------------------


async def spoiled(request: Request) -> Response:
    """``/spoiled``: spoiled blanks since a date (default: the last 30 days), by category; those waiting for a berita
    acara; the berita acara made (supervisors may download each)."""
    if visitor(request) is None:
        return to_login(request)
    state = web_state(request)
    query = request.query_params
    today = dt.datetime.now(state.settings.zone).date()
    since = query.get("since", "").strip()
    if not DATE.fullmatch(since):
        since = (today - dt.timedelta(days=SPOILED_DAYS)).isoformat()
    category = _choice(query.get("category"), tables.CATEGORY_LABELS)
    params: dict[str, object] = {"since": since}
    if category is not None:
        params["category"] = category
    listed = await ask(request, "spoiled.list", params)
    shown = tables.spoiled(listed.result, SPOILED_ROWS)
    waiting = await ask(request, "spoiled.pending")
    made = await ask(request, "spoiled.handovers", {"limit": 50})
    context = {
        "since": since,
        "category": category or "",
        "categories": SPOIL_CATEGORIES,
        "rows": shown.rows,
        "total": shown.total,
        "by_category": shown.per_category,
        "problem": listed.problem or waiting.problem or made.problem,
        "pending": tables.pending(waiting.result, PENDING_ROWS),
        "handovers": tables.handovers(made.result),
    }
    return page(request, "spoiled.html", context)


# ---- stock ------------------------------------------------------------------------------------------------


async def stock(request: Request) -> Response:
    """``/stock``: the blanks (live), each station's custody, what each printer used, the forecast, the history of
    receipts, adjustments, transfers and berita acara; the supervisors' forms."""
    if visitor(request) is None:
        return to_login(request)
    state = web_state(request)
    await state.live.wait_ready(FIRST_POLL_WAIT)
    kind = _choice(request.query_params.get("kind"), tables.STOCK_KINDS)
    params: dict[str, object] = {"limit": HISTORY_ROWS}
    if kind is not None:
        params["kind"] = kind
    history = await ask(request, "stock.history", params)
    status = state.live.snapshot.status or {}
    summary = status.get("stock")
    printers = [str(p.get("name")) for p in status.get("printers") or () if isinstance(p, Mapping)]
    context = {
        "custody": tables.custody(summary, state.settings.station),
        "printer_blanks": tables.printer_blanks(summary),
        "forecast": tables.forecast(state.live.forecast),
        "forecast_at": state.live.forecast_at,
        "history": tables.stock_rows(history.result),
        "kind": kind or "",
        "kinds": tuple(tables.STOCK_KINDS.items()),
        "problem": history.problem,
        "printers": printers,
        "stations": [name for name in _station_names(request) if name != state.settings.station],
    }
    return page(request, "stock.html", context)


# ---- errors -----------------------------------------------------------------------------------------------


async def not_found(request: Request, exc: Exception) -> Response:
    return page(request, "error.html", {"status": 404}, status_code=404)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return page(request, "error.html", {"status": status}, status_code=status)


# ---- helpers ----------------------------------------------------------------------------------------------


def _choice(value: str | None, known: Mapping[str, Any]) -> str | None:
    """A filter's value when it is one the page offers; anything else is no filter."""
    return value if value in known else None


def _limit(value: str | None) -> int:
    try:
        wanted = int(value or JOBS_STEP)
    except ValueError:
        return JOBS_STEP
    return max(1, min(JOBS_MOST, wanted))


def _query(values: Mapping[str, str]) -> str:
    return urlencode({k: v for k, v in values.items() if v})


def _station_names(request: Request) -> list[str]:
    """The stations on the database, as the latest status lists them."""
    status = web_state(request).live.snapshot.status or {}
    return [str(s.get("name")) for s in status.get("stations") or () if isinstance(s, Mapping)]
