"""The dashboard's actions: each a plain HTML form POSTed here, sent to printd on behalf of the signed-in account.

Every action is one entry of ``ACTIONS`` (path → printd method, the form's fields, the message when done) and is
handled the same way by ``act``:

Rule 1: only a signed-in session may act, and only with that session's CSRF token; otherwise HTTP 403 and nothing
is sent to printd.
Rule 2: the request goes to printd with ``on_behalf_of`` = the account, so printd applies the account's role exactly
as on its socket and records ``web:NAME``; the dashboard never decides a role itself (it only hides buttons).
Rule 3: the answer is a redirect back (``next``, a path on this dashboard) with a flash message: what was done, or
printd's refusal, or that printd did not answer; so the forms work without JavaScript and a reload posts nothing.

Other pages reuse these endpoints: a form needs ``csrf`` (``{{ csrf_token }}``), ``next`` and the fields below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from drivers.base import SpoilCategory
from printd import i18n
from printd.cli_errors import error_text
from printd.errors import PrintdError
from printd.i18n import _
from printd.logging import get_logger
from printd.web.access import ROLE_LABELS, clear_session_cookie, language_of, safe_next, session_of
from printd.web.daemon_link import DaemonUnavailableError
from printd.web.render import page
from printd.web.sessions import State
from printd.web.state import web_state

log = get_logger("printd.web.actions")

ACTION_TIMEOUT = 30.0
MAX_TEXT = 500
PAUSE_REASON = 200  # printd's limit for a pause reason
MAX_BLANKS = 1_000_000  # printd's limit for the blanks of one receipt, adjustment or transfer


class FormError(Exception):
    """A field is missing or wrong; the message (in the reader's language) says which and what to give."""


Params = Callable[[FormData], dict[str, object]]
Done = Callable[[Mapping[str, object], object], str]  # (params sent, printd's result) -> message


@dataclass(frozen=True)
class Action:
    method: str
    params: Params
    done: Done


# ---- the forms' fields ---------------------------------------------------------------------------------


def text(form: FormData, name: str, label: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    value = form.get(name)
    found = value.strip() if isinstance(value, str) else ""
    if required and not found:
        raise FormError(_("Fill in {field}.").format(field=_(label)))
    if len(found) > limit:
        raise FormError(_("{field} is too long: at most {limit} characters.").format(field=_(label), limit=limit))
    return found


def whole_number(form: FormData, name: str, label: str, *, low: int = 1, high: int = 1_000_000) -> int:
    raw = text(form, name, label, limit=20)
    try:
        number = int(raw.replace(".", "").replace(",", "").replace(" ", ""))
    except ValueError:
        raise FormError(_("{field} must be a whole number.").format(field=_(label))) from None
    if not low <= number <= high:
        raise FormError(
            _("{field} must be between {low} and {high}.").format(
                field=_(label), low=i18n.format_number(low), high=i18n.format_number(high)
            )
        )
    return number


def category(form: FormData, name: str = "category") -> str:
    value = text(form, name, i18n.N_("the spoil category"), limit=40)
    if value not in {c.value for c in SpoilCategory}:
        raise FormError(_("Choose one of the spoil categories listed."))
    return value


def job(form: FormData) -> str:
    return text(form, "job", i18n.N_("the job reference"), limit=128)


def printer(form: FormData) -> str:
    return text(form, "printer", i18n.N_("the printer"), limit=64)


# ---- the actions ---------------------------------------------------------------------------------------


def _resolve(form: FormData) -> dict[str, object]:
    resolution = text(form, "resolution", i18n.N_("what became of the card"), limit=20)
    if resolution not in ("printed", "spoiled", "not_fed"):
        raise FormError(_("Choose what became of the card: printed, spoiled or not fed."))
    params: dict[str, object] = {
        "job": job(form),
        "resolution": resolution,
        "note": text(form, "note", i18n.N_("the note"), required=False),
    }
    if resolution == "spoiled":
        params["category"] = category(form)
    return params


def _spoil(form: FormData) -> dict[str, object]:
    return {
        "job": job(form),
        "attempt": whole_number(form, "attempt", i18n.N_("the card's attempt number"), high=10_000),
        "category": category(form),
        "detail": text(form, "detail", i18n.N_("what was wrong")),
    }


def _pause(form: FormData) -> dict[str, object]:
    params: dict[str, object] = {"printer": printer(form)}
    reason = " ".join(text(form, "reason", i18n.N_("the reason"), required=False, limit=PAUSE_REASON).split())
    if reason:
        params["reason"] = reason
    return params


def _paused(params: Mapping[str, object], result: object) -> str:
    if "reason" in params:
        return _("Printer {printer} is paused ({reason}): it takes no new card.").format(**params)
    return _("Printer {printer} is paused: it takes no new card.").format(**params)


def _adjust(form: FormData) -> dict[str, object]:
    count = whole_number(form, "count", i18n.N_("the number of blanks"), low=-MAX_BLANKS, high=MAX_BLANKS)
    if count == 0:
        raise FormError(_("An adjustment adds blanks (a positive number) or writes them off (a negative one), not 0."))
    params: dict[str, object] = {"count": count, "reason": text(form, "reason", i18n.N_("the reason"))}
    named = text(form, "printer", i18n.N_("the printer"), required=False, limit=64)
    if named:
        params["printer"] = named
    return params


def _transfer(form: FormData) -> dict[str, object]:
    params: dict[str, object] = {
        "count": whole_number(form, "count", i18n.N_("the number of blanks"), high=MAX_BLANKS),
        "to": text(form, "to", i18n.N_("the station receiving the blanks"), limit=64),
        "ref": text(form, "ref", i18n.N_("the transfer reference"), limit=128),
    }
    source = text(form, "from", i18n.N_("the station giving the blanks"), required=False, limit=64)
    if source:
        params["from"] = source
    return params


def _receive(form: FormData) -> dict[str, object]:
    params: dict[str, object] = {
        "count": whole_number(form, "count", i18n.N_("the number of blanks")),
        "ref": text(form, "ref", i18n.N_("the delivery reference"), limit=128),
    }
    serials = text(form, "serials", i18n.N_("the serial range"), required=False)
    if serials:
        params["serials"] = serials
    return params


def _job_done(message: str) -> Done:
    return lambda params, result: _(message).format(job=params["job"])


ACTIONS: dict[str, Action] = {
    "/actions/printers/pause": Action("printers.pause", _pause, _paused),
    "/actions/printers/resume": Action(
        "printers.resume",
        lambda form: {"printer": printer(form)},
        lambda params, result: _("Printer {printer} is taking cards again.").format(**params),
    ),
    "/actions/jobs/hold": Action(
        "jobs.hold", lambda form: {"job": job(form)}, _job_done(i18n.N_("Job {job} is held."))
    ),
    "/actions/jobs/release": Action(
        "jobs.release", lambda form: {"job": job(form)}, _job_done(i18n.N_("Job {job} is back in the queue."))
    ),
    "/actions/jobs/cancel": Action(
        "jobs.cancel", lambda form: {"job": job(form)}, _job_done(i18n.N_("Job {job} is canceled."))
    ),
    "/actions/jobs/reprint": Action(
        "jobs.reprint",
        lambda form: {"job": job(form)},
        _job_done(i18n.N_("Job {job} is queued to print again on a new blank.")),
    ),
    "/actions/jobs/spoil": Action(
        "jobs.spoil",
        _spoil,
        lambda params, result: _("Card {attempt} of job {job} is booked spoiled.").format(**params),
    ),
    "/actions/jobs/resolve": Action(
        "jobs.resolve", _resolve, _job_done(i18n.N_("Job {job} is settled; the ledger books the card so."))
    ),
    "/actions/stock/receive": Action(
        "stock.receive",
        _receive,
        lambda params, result: _("{count} blanks received under {ref}.").format(
            count=i18n.format_number(int(str(params["count"]))), ref=params["ref"]
        ),
    ),
    "/actions/stock/adjust": Action(
        "stock.adjust",
        _adjust,
        lambda params, result: _("Stock adjusted by {count} blanks: {reason}").format(
            count=_signed(int(str(params["count"]))), reason=params["reason"]
        ),
    ),
    "/actions/stock/transfer": Action(
        "stock.transfer",
        _transfer,
        lambda params, result: _("{count} blanks moved to station {to} under {ref}.").format(
            count=i18n.format_number(int(str(params["count"]))), to=params["to"], ref=params["ref"]
        ),
    ),
}


def _signed(count: int) -> str:
    return ("+" if count > 0 else "\u2212") + i18n.format_number(abs(count))


async def act(request: Request) -> Response:
    """Any path of ``ACTIONS``: rules 1 to 3."""
    state = web_state(request)
    action = ACTIONS[request.url.path]
    form = await request.form()
    session = session_of(request)
    target = safe_next(str(form.get("next") or ""))
    if session is None or session.state is not State.SIGNED_IN or session.account is None:
        log.warning("web.action_refused", path=request.url.path, reason="no session")
        return refused(request, "login")
    csrf = form.get("csrf")
    if not session.csrf_ok(csrf if isinstance(csrf, str) else None):
        log.warning("web.action_refused", path=request.url.path, account=session.account.name, reason="csrf")
        return refused(request, "csrf")
    account = session.account.name
    response = RedirectResponse(target, status_code=303)
    with i18n.speaking(language_of(request, session)):
        try:
            params = action.params(form)
        except FormError as exc:
            session.flash("error", str(exc))
            return response
        try:
            result = await state.link.call(action.method, params, on_behalf_of=account, timeout=ACTION_TIMEOUT)
        except PrintdError as exc:
            log.info("web.action", method=action.method, account=account, outcome=exc.code)
            session.flash("error", refusal(exc, session.account.role, params))
            if exc.code in ("auth.account_unknown", "auth.account_disabled"):
                state.sessions.sign_out(session)  # the account cannot act any more: sign in again, or not at all
                clear_session_cookie(response, state)
            return response
        except DaemonUnavailableError:
            log.warning("web.action", method=action.method, account=account, outcome="daemon_unavailable")
            session.flash(
                "error",
                _("printd did not answer, so the action may not have been done. Check the page, then try again."),
            )
            return response
        log.info("web.action", method=action.method, account=account, outcome="ok")
        session.flash("ok", action.done(params, result))
    await state.live.poll_now()  # the page the browser goes back to shows the change
    return response


def refusal(error: PrintdError, role: str, params: Mapping[str, object]) -> str:
    """printd's refusal in words for the reader: printd's sentence, said again from its code and facts in the
    reader's language where printctl's vocabulary knows it (printd.cli_errors)."""
    asked: dict[str, object] = {
        k: repr(v) for k, v in params.items() if k in ("printer", "ref", "to") and isinstance(v, str)
    }
    if isinstance(params.get("job"), str):
        asked["job_ref"] = repr(params["job"])
    if isinstance(params.get("count"), int):
        asked["count"] = asked["written_off"] = params["count"]  # written_off: the adjustment's sentence
    if error.code == "auth.forbidden":
        return _("Your account ({role}) may not do this; printd refused it.").format(
            role=_(ROLE_LABELS.get(role, role))
        )
    if error.code in ("auth.account_unknown", "auth.account_disabled"):
        return _("This dashboard account can no longer act (disabled or removed); you are signed out.")
    return _("printd refused: {message}").format(message=error_text(error.code, error.message, error.details, asked))


def refused(request: Request, why: str) -> Response:
    """Rule 1: 403, a page saying why, nothing done."""
    return page(request, "refused.html", {"why": why}, status_code=403)


routes = [Route(path, act, methods=["POST"]) for path in ACTIONS]
