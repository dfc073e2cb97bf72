"""The Starlette application: its routes, its parts (``WebState``) and their lifetime.

``create_app(settings)`` builds everything one process needs; the live poller starts with the application and
stops with it. Routes stay thin: pages in pages.py, the reports, their downloads and the charts in
report_pages.py, actions in actions.py, signing in in login.py, the event stream in live.py, ``/metrics`` in
scrape.py. A new page is a ``Route`` here and a handler that renders with ``render.page``. Every request passes the
Host check, then gets the security headers (security.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from printd.config import listen_address
from printd.web import actions, live, login, pages, render, report_pages, scrape
from printd.web.daemon_link import DaemonLink
from printd.web.security import HostCheck, SecurityHeaders, allowed_hosts
from printd.web.sessions import SessionStore
from printd.web.state import Settings, WebState
from printd.web.templates import environment

STATIC = Path(__file__).parent / "static"
LINK_SIZE = 4  # connections to printd: the poller, the forecast and two for pages and actions


def build_state(settings: Settings) -> WebState:
    env = environment(settings.zone)
    link = DaemonLink(settings.socket, size=LINK_SIZE)

    def fragment(name: str, data: object, language: str, role: str) -> str:
        return render.fragment(env, settings.station, name, data, language, role)

    return WebState(
        settings=settings,
        link=link,
        sessions=SessionStore(settings.web.session_minutes),
        limiter=login.LoginLimiter(settings.web.login_attempts, settings.web.login_window_seconds),
        env=env,
        live=live.Live(link, fragment),
    )


def routes() -> list[Route | Mount]:
    return [
        Route("/", pages.station),
        Route("/jobs", pages.jobs),
        Route("/jobs/resolve", pages.resolve),
        Route("/jobs/{ref:path}", pages.job),
        Route("/spoiled", pages.spoiled),
        Route("/stock", pages.stock),
        Route("/reports", report_pages.reports),
        Route("/reports/{file}", report_pages.download),
        Route("/charts", report_pages.charts_page),
        Route("/metrics", scrape.metrics),
        Route("/events", live.events),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/language/{code}", login.switch_language),
        *actions.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(settings: Settings) -> ASGIApp:
    state = build_state(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        poller = asyncio.create_task(state.live.run(), name="printd-web-poller")
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await state.link.close()

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        exception_handlers={404: pages.not_found, 405: pages.http_error, 500: pages.http_error},
    )
    app.state.web = state
    listen_host = listen_address(settings.web.listen)[0]
    checked = HostCheck(app, allowed_hosts(settings.web), any_address=listen_host in ("0.0.0.0", "::"))
    return SecurityHeaders(checked)
