"""The pages (GET): the station, the job forms, settling a card in doubt, the stock; and the error pages.

Each handler checks who may see it (``access.visitor``: a login is needed unless ``anonymous_viewer``), gathers its
own context and renders with ``render.page``. The station and stock pages are drawn from the live poller's latest
sections (no call to printd of their own, so any number of pages costs printd nothing more); a page that needs one
reply (a job's cards) asks printd itself and says so when printd is not answering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from drivers.base import SpoilCategory
from printd.cli_errors import error_text
from printd.errors import PrintdError
from printd.i18n import N_
from printd.web.access import to_login, visitor
from printd.web.daemon_link import DaemonUnavailableError
from printd.web.render import page
from printd.web.state import web_state

FIRST_POLL_WAIT = 2.0  # a page asked right after start waits this long at most for the first poll

SPOIL_CATEGORIES = (
    (SpoilCategory.PRINT_FAILED.value, N_("Print failed")),
    (SpoilCategory.ENCODE_FAILED.value, N_("Chip encoding failed")),
    (SpoilCategory.DAMAGED.value, N_("Physically damaged")),
    (SpoilCategory.DATA_CHANGED.value, N_("Data changed")),
    (SpoilCategory.TEST_PRINT.value, N_("Test print")),
)
CARD_FATES = {
    "printing": N_("Printing"),
    "issued": N_("Issued"),
    "spoiled": N_("Spoiled"),
    "in_doubt": N_("In doubt"),
    "not_fed": N_("Not fed"),
}


async def station(request: Request) -> Response:
    """``/``: printers, queue, stock, alerts, cards in doubt, other stations; live."""
    if visitor(request) is None:
        return to_login(request)
    await web_state(request).live.wait_ready(FIRST_POLL_WAIT)
    return page(request, "station.html")


async def jobs(request: Request) -> Response:
    """``/jobs``: act on a job by its reference, record a QC spoil; the cards in doubt."""
    if visitor(request) is None:
        return to_login(request)
    await web_state(request).live.wait_ready(FIRST_POLL_WAIT)
    return page(request, "jobs.html", {"categories": SPOIL_CATEGORIES, "job": request.query_params.get("job", "")})


async def resolve(request: Request) -> Response:
    """``/jobs/resolve?job=REF``: a job's cards, and the form settling the card in doubt."""
    if visitor(request) is None:
        return to_login(request)
    reference = request.query_params.get("job", "").strip()[:128]
    detail: Mapping[str, Any] | None = None
    problem: str | None = None
    status_code = 200
    if reference:
        try:
            found = await web_state(request).link.call("jobs.get", {"job": reference})
            detail = _job(found) if isinstance(found, Mapping) else None
        except PrintdError as exc:
            problem = error_text(exc.code, exc.message, exc.details, {"job_ref": repr(reference)})
            status_code = 404 if exc.code == "job.not_found" else 200
        except DaemonUnavailableError:
            problem = "unavailable"  # the page says so, as every page does
    context = {
        "reference": reference,
        "job": detail,
        "problem": problem,
        "categories": SPOIL_CATEGORIES,
    }
    return page(request, "resolve.html", context, status_code=status_code)


def _job(found: Mapping[str, Any]) -> dict[str, Any]:
    """The named fields of a job only: references, states and printers; no card content, no free-text notes."""
    cards = [c for c in found.get("cards") or () if isinstance(c, Mapping)]
    history = [h for h in found.get("history") or () if isinstance(h, Mapping)]
    return {
        "id": found.get("id"),
        "ref": found.get("ref"),
        "state": found.get("state"),
        "priority": found.get("priority"),
        "printer": found.get("printer"),
        "attempts": found.get("attempts"),
        "cards": [
            {
                "attempt": c.get("attempt"),
                "printer": c.get("printer"),
                "at": c.get("at"),
                "fate": CARD_FATES.get(str(c.get("fate")), str(c.get("fate"))),
                "category": c.get("category"),
            }
            for c in cards
        ],
        "history": [
            {"at": h.get("at"), "event": h.get("event"), "actor": h.get("actor"), "printer": h.get("printer")}
            for h in history
        ],
    }


async def stock(request: Request) -> Response:
    """``/stock``: the blanks, and the form booking a delivery (supervisors)."""
    if visitor(request) is None:
        return to_login(request)
    await web_state(request).live.wait_ready(FIRST_POLL_WAIT)
    return page(request, "stock.html")


async def not_found(request: Request, exc: Exception) -> Response:
    return page(request, "error.html", {"status": 404}, status_code=404)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return page(request, "error.html", {"status": status}, status_code=status)
