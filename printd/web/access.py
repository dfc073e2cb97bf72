"""Who is asking: the request's session and account, the language they read, and what the pages may offer them.

A signed-in account sees the pages with the actions its role allows; without a session the pages are shown
read-only only when ``[web] anonymous_viewer = true``, else the visitor is sent to the login page. The buttons only
follow the role printd gave at sign-in: printd itself decides every action (``on_behalf_of``).

The language, first that says: the language switch used in this session, the account's setting, the switch's
cookie, the browser's ``Accept-Language``, ``[web] language``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from printd import i18n
from printd.i18n import N_
from printd.web.sessions import Account, Session, State
from printd.web.state import WebState, web_state

SESSION_COOKIE = "printd_session"
SECURE_SESSION_COOKIE = "__Host-printd_session"  # the prefix makes browsers insist on Secure, Path=/ and no Domain
LANGUAGE_COOKIE = "printd_language"
ROLE_ORDER = ("viewer", "operator", "supervisor")
ROLE_LABELS = {"viewer": N_("viewer"), "operator": N_("operator"), "supervisor": N_("supervisor")}


@dataclass(frozen=True)
class Visitor:
    session: Session | None  # a signed-in session; None for an anonymous viewer
    language: str

    @property
    def account(self) -> Account | None:
        return self.session.account if self.session is not None else None

    @property
    def role(self) -> str:
        """What the pages offer: the account's role as printd gave it, or viewer without an account."""
        account = self.account
        return account.role if account is not None and account.role in ROLE_ORDER else "viewer"

    @property
    def can_operate(self) -> bool:
        return ROLE_ORDER.index(self.role) >= ROLE_ORDER.index("operator")

    @property
    def can_supervise(self) -> bool:
        return self.role == "supervisor"

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session is not None else ""


def cookie_name(state: WebState) -> str:
    return SECURE_SESSION_COOKIE if state.settings.tls else SESSION_COOKIE


def session_of(connection: HTTPConnection, *, touch: bool = True) -> Session | None:
    state = web_state(connection)
    return state.sessions.get(connection.cookies.get(cookie_name(state)), touch=touch)


def language_of(connection: HTTPConnection, session: Session | None = None) -> str:
    state = web_state(connection)
    account = session.account if session is not None else None
    for choice in (
        session.language if session is not None else None,
        account.language if account is not None else None,
        connection.cookies.get(LANGUAGE_COOKIE),
    ):
        if choice in i18n.LANGUAGES:
            return choice
    return i18n.from_accept_language(connection.headers.get("accept-language"), state.settings.web.language)


def visitor(connection: HTTPConnection) -> Visitor | None:
    """The visitor, or None when the pages need a login first."""
    cached: Visitor | None = connection.scope.get("printd.visitor")
    if cached is not None:
        return cached
    state = web_state(connection)
    session = session_of(connection)
    if session is not None and session.state is State.SIGNED_IN:
        found: Visitor | None = Visitor(session, language_of(connection, session))
    elif state.settings.web.anonymous_viewer:
        found = Visitor(None, language_of(connection, session))
    else:
        found = None
    connection.scope["printd.visitor"] = found
    return found


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(safe_next(request.url.path), safe='/')}", status_code=303)


def safe_next(value: str | None, default: str = "/") -> str:
    """A path on this dashboard to go back to; anything else (another site, ``//host``, a scheme) is ``default``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        return default
    if any(ord(c) < 0x20 for c in value):
        return default
    return value


def set_session_cookie(response: Response, state: WebState, session: Session) -> None:
    response.set_cookie(
        cookie_name(state),
        session.token,
        max_age=int(session.lifetime),
        path="/",
        secure=state.settings.tls,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, state: WebState) -> None:
    response.delete_cookie(cookie_name(state), path="/", secure=state.settings.tls, httponly=True, samesite="strict")
