"""Signing in and out, the failed-login limit, and the language switch.

The password goes to printd (``users.authenticate``) and nowhere else: not to a log line, not back to a page.
Failed logins are counted per account and per client address: ``[web] login_attempts`` of them within
``login_window_seconds`` and the next try gets HTTP 429 with a sentence saying when to try again, before printd is
even asked. A successful login makes a new session (see sessions.py, rule 1).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from printd import i18n
from printd.errors import PrintdError
from printd.logging import get_logger
from printd.web.access import (
    LANGUAGE_COOKIE,
    clear_session_cookie,
    safe_next,
    session_of,
    set_session_cookie,
)
from printd.web.daemon_link import DaemonUnavailableError
from printd.web.render import page
from printd.web.sessions import Account, Session, State
from printd.web.state import web_state

log = get_logger("printd.web.login")

MAX_NAME = 64
LOGIN_TIMEOUT = 15.0  # argon2 runs in printd; a busy station may take a moment


class LoginLimiter:
    """Failed logins per key (``account:NAME``, ``address:IP``) within a sliding window."""

    MAX_KEYS = 10_000  # a flood of made-up names must not grow memory without bound

    def __init__(self, attempts: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, keys: Iterable[str]) -> float | None:
        """Seconds until a login under ``keys`` may be tried again; None: it may now."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.attempts:
                wait = max(wait, times[-self.attempts] + self.window - now)
        return wait if wait > 0 else None

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        for key in keys:
            times = self._failures.pop(key, None) or deque(maxlen=self.attempts)
            times.append(now)
            self._failures[key] = times  # re-inserted: the dict's order is the order of last failure
        while len(self._failures) > self.MAX_KEYS:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key) or deque()
        while times and now - times[0] > self.window:
            times.popleft()
        return times


def _login_page(
    request: Request,
    session: Session,
    *,
    error: str | None,
    status_code: int,
    name: str = "",
    target: str | None = None,
    minutes: int = 0,
    message: str = "",
) -> Response:
    """The form; ``error``: expired, wrong, too_many (``minutes``), unavailable or refused (printd's ``message``)."""
    state = web_state(request)
    response = page(
        request,
        "login.html",
        {
            "next": target or safe_next(request.query_params.get("next")),
            "error": error,
            "name": name,
            "minutes": minutes,
            "message": message,
        },
        status_code=status_code,
        csrf_token=session.csrf,
    )
    set_session_cookie(response, state, session)
    return response


async def login_form(request: Request) -> Response:
    """``GET /login``: the form, with a pending session for its CSRF token."""
    state = web_state(request)
    session = session_of(request)
    if session is not None and session.state is State.SIGNED_IN:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if session is None:
        session = state.sessions.pending()
    return _login_page(request, session, error=None, status_code=200)


async def login(request: Request) -> Response:
    """``POST /login``."""
    state = web_state(request)
    form = await request.form()
    session = session_of(request)
    target = safe_next(str(form.get("next") or ""))
    if session is None or session.state is not State.PENDING or not session.csrf_ok(_text(form.get("csrf"))):
        fresh = state.sessions.pending()
        return _login_page(request, fresh, error="expired", status_code=403, target=target)
    name = _text(form.get("name")).strip()[:MAX_NAME]
    password = _text(form.get("password"))
    address = request.client.host if request.client is not None else "unknown"
    keys = (f"account:{name.casefold()}", f"address:{address}")
    wait = state.limiter.retry_after(keys)
    if wait is not None:
        # No name in these logs: a name typed wrong may be a password typed in the wrong box.
        log.warning("web.login_refused", address=address, reason="too many failed logins")
        minutes = max(1, math.ceil(wait / 60))
        response = _login_page(
            request, session, error="too_many", status_code=429, name=name, target=target, minutes=minutes
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    try:
        reply = await state.link.call("users.authenticate", {"name": name, "password": password}, timeout=LOGIN_TIMEOUT)
    except PrintdError as exc:
        if exc.code in ("auth.login_failed", "params.invalid"):
            state.limiter.failed(keys)
            log.info("web.login_failed", address=address)
            return _login_page(request, session, error="wrong", status_code=401, name=name, target=target)
        log.warning("web.login_error", code=exc.code)
        return _login_page(
            request, session, error="refused", status_code=502, name=name, target=target, message=exc.message
        )
    except DaemonUnavailableError:
        return _login_page(request, session, error="unavailable", status_code=503, name=name, target=target)
    account = _account(reply, name)
    state.limiter.succeeded(keys[0])
    signed_in = state.sessions.sign_in(session, account, language=session.language)
    log.info("web.login", account=account.name, role=account.role, address=address)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, state, signed_in)
    return response


def _account(reply: object, name: str) -> Account:
    found = reply if isinstance(reply, dict) else {}
    language = found.get("language")
    return Account(
        name=str(found.get("name") or name),
        role=str(found.get("role") or "viewer"),
        language=language if language in i18n.LANGUAGES else None,
    )


async def logout(request: Request) -> Response:
    """``POST /logout``: the session ends here and now."""
    state = web_state(request)
    form = await request.form()
    session = session_of(request)
    if session is None or session.state is not State.SIGNED_IN or not session.csrf_ok(_text(form.get("csrf"))):
        return Response("Logout refused: the form did not come from this session. Reload the page.", status_code=403)
    account = session.account
    state.sessions.sign_out(session)
    log.info("web.logout", account=account.name if account else None)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, state)
    return response


async def switch_language(request: Request) -> Response:
    """``GET /language/{code}?next=PATH``: this browser (and this session) read the dashboard in ``code``."""
    state = web_state(request)
    code = request.path_params["code"]
    target = safe_next(request.query_params.get("next"))
    if code not in i18n.LANGUAGES:
        return RedirectResponse(target, status_code=303)
    session = session_of(request)
    if session is not None:
        session.language = code
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        code,
        max_age=365 * 24 * 3600,
        path="/",
        secure=state.settings.tls,
        httponly=True,
        samesite="strict",
    )
    return response


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
