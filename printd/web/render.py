"""Rendering pages: ``page(request, template, context)`` for every page, ``fragment`` for the live sections.

``page`` adds what every template extending ``base.html`` needs: the language and its switch, the visitor (account,
role, what it may do), the session's CSRF token, the navigation, the flash messages, the notice when printd is not
answering or its storage fails, and the banner when the LAN is served without TLS. A new page is a handler that
calls ``page`` with its own context and a template that extends ``base.html``; a new entry in the navigation is a
line in ``NAV``.

Live sections are rendered once per change and per (language, role) and sent to every open page of that kind: the
session's CSRF token is not known then, so forms in them carry ``CSRF_MARKER``, replaced per page as it is sent
(a ``<`` cannot come from data, which is escaped, so only the template can hold the marker).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from printd import i18n
from printd.i18n import N_
from printd.web import display
from printd.web.access import Visitor, language_of, session_of, visitor
from printd.web.state import web_state

NAV: list[tuple[str, str]] = [
    ("/", N_("Station")),
    ("/jobs", N_("Jobs")),
    ("/spoiled", N_("Spoiled blanks")),
    ("/stock", N_("Stock")),
    ("/charts", N_("Charts")),
    ("/reports", N_("Reports")),
]
"""(path, label) of the navigation, in order."""

LANGUAGE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}
CSRF_MARKER = Markup("<!--csrf-->")


def common(station: str, who: Visitor | None, language: str, path: str) -> dict[str, Any]:
    """The context every template may use, pages and live sections alike."""
    return {
        "language": language,
        "station": station,
        "signed_in": who is not None and who.account is not None,
        "account": who.account if who is not None else None,
        "role": who.role if who is not None else None,
        "can_operate": who is not None and who.can_operate,
        "can_supervise": who is not None and who.can_supervise,
        "csrf_token": who.csrf if who is not None else "",
        "path": path,
    }


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    csrf_token: str | None = None,
) -> HTMLResponse:
    """``template`` (extending base.html) for this visitor, in their language, with the notices of the moment."""
    state = web_state(request)
    who = visitor(request)
    session = who.session if who is not None else session_of(request, touch=False)
    language = who.language if who is not None else language_of(request, session)
    snapshot = state.live.snapshot
    values = common(state.settings.station, who, language, request.url.path)
    values.update(
        nav=[(path, label, _active(path, request.url.path)) for path, label in NAV],
        languages=[(code, LANGUAGE_NAMES[code], code == language) for code in i18n.LANGUAGES],
        flashes=session.take_flashes() if session is not None else [],
        notice=display.notice(snapshot) if state.live.ready else display.Notice(True),
        insecure=state.settings.web.insecure_lan and state.settings.insecure,
        anonymous_viewer=state.settings.web.anonymous_viewer,
        sections=state.live.sections,
        live_since=state.live.since_token(),
    )
    if csrf_token is not None:  # the login form's pending session
        values["csrf_token"] = csrf_token
    values.update(context or {})
    with i18n.speaking(language):
        body = state.env.get_template(template).render(values)
    return HTMLResponse(body, status_code=status_code)


def fragment(env: jinja2.Environment, station: str, name: str, data: object, language: str, role: str) -> str:
    """Live section ``name`` (templates/live/NAME.html) for readers of ``language`` with ``role``."""
    values = common(station, None, language, "/")
    values.update(
        s=data,
        role=role,
        can_operate=role in ("operator", "supervisor"),
        can_supervise=role == "supervisor",
        csrf_token=CSRF_MARKER,
    )
    with i18n.speaking(language):
        return env.get_template(f"live/{name}.html").render(values)


def _active(path: str, current: str) -> bool:
    return current == path if path == "/" else current == path or current.startswith(path + "/")
