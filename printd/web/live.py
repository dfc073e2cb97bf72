"""Live updates: one poller per process reads printd, and changed sections go to every open page by server-sent events.

The poller asks printd for ``status`` every ``POLL_SECONDS`` (the cards in doubt when their count moves, at least
every ``DOUBT_SECONDS``; ``stock.forecast`` every ``FORECAST_SECONDS``, in a task of its own) and turns the replies
into the station page's sections (``display.sections``). A section that differs from the last one gets a new
version; it is rendered once per (language, role) that has a page open, and queued for each of those pages, the
newest version replacing one not sent yet, so a slow page never holds up the others or grows a backlog.

A page is rendered from the poller's latest sections and opens ``/events?since=EPOCH-VERSION``: it is sent every
section changed after the version it shows (all of them after a restart of printd-web, whose epoch differs), then
each change as it comes, and a comment every ``PING_SECONDS`` as a heartbeat. A page that loses its connection
reconnects (EventSource does) with the same ``since``, so it misses nothing. A signed-in page's stream ends with a
notice once its session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from printd.errors import PrintdError
from printd.logging import get_logger
from printd.web import display
from printd.web.access import visitor
from printd.web.daemon_link import DaemonLink, DaemonUnavailableError
from printd.web.render import CSRF_MARKER
from printd.web.state import web_state

log = get_logger("printd.web.live")

POLL_SECONDS = 0.25
STATUS_TIMEOUT = 3.0
DOUBT_SECONDS = 10.0
DOUBT_LIMIT = 50
FORECAST_SECONDS = 30.0
FORECAST_TIMEOUT = 20.0
PING_SECONDS = 15.0
SESSION_CHECK_SECONDS = 5.0

Variant = tuple[str, str]  # (language, role): everything a rendered section depends on but its data
Renderer = Callable[[str, object, str, str], str]  # (section, data, language, role) -> HTML


@dataclass(eq=False)
class Client:
    """One open page's stream."""

    variant: Variant
    csrf: str
    pending: dict[str, str] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self) -> list[tuple[str, str]]:
        taken = list(self.pending.items())
        self.pending.clear()
        return taken


class Live:
    """The poller's latest view of the station and the pages listening to it."""

    def __init__(self, link: DaemonLink, render: Renderer, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.link = link
        self.render = render
        self.poll_seconds = poll_seconds
        self.epoch = secrets.token_hex(4)
        self.snapshot = display.Snapshot(down_reason="not asked yet")
        self.sections: dict[str, object] = display.sections(self.snapshot)
        self.version = 0
        self.versions: dict[str, int] = dict.fromkeys(self.sections, 0)
        self.ready = False  # the first poll is done
        self.clients: set[Client] = set()
        self._rendered: dict[tuple[str, Variant], tuple[int, str]] = {}
        self._forecast: Mapping[str, Any] | None = None
        self._forecast_at: float | None = None
        self._doubt: tuple[float, int, tuple[Mapping[str, Any], ...]] = (0.0, -1, ())  # read at, count, jobs
        self._first = asyncio.Event()
        self._wake = asyncio.Event()  # set: poll now, do not wait out the interval
        self._polled = asyncio.Event()  # set (and replaced) as each poll is taken in
        self._started = self._finished = 0  # polls begun, polls taken in
        self.renders = 0  # sections rendered since start (for benchmarks: once per change and variant)

    # ---- polling ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled; never stops on a failure (printd away, a reply it cannot read)."""
        forecast = asyncio.create_task(self._forecast_loop())
        try:
            while True:
                started = time.monotonic()
                self._started += 1
                try:
                    self.update(await self.poll())
                except Exception:  # a reply of an unexpected shape must not stop the dashboard
                    log.exception("web.poll_failed")
                self._finished = self._started
                self._polled.set()
                self._polled = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), max(0.02, self.poll_seconds - (time.monotonic() - started))
                    )
                self._wake.clear()
        finally:
            forecast.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forecast

    async def poll_now(self, timeout: float = STATUS_TIMEOUT) -> None:
        """Return once a poll begun after this call is taken in (an action's effect is then on the next page)."""
        wanted = self._started + 1
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._finished < wanted:
                    await self._polled.wait()

    @property
    def forecast(self) -> Mapping[str, Any] | None:
        """The latest ``stock.forecast`` (read every ``FORECAST_SECONDS``), None until read or while it fails."""
        return self._forecast

    @property
    def forecast_at(self) -> float | None:
        """When the forecast was read (epoch seconds)."""
        return self._forecast_at

    async def wait_ready(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first.wait(), timeout)

    async def poll(self) -> display.Snapshot:
        try:
            status = await self.link.call("status", timeout=STATUS_TIMEOUT)
            if not isinstance(status, Mapping):
                raise DaemonUnavailableError("status is not an object", "protocol")
            jobs = await self._in_doubt(status)
        except (DaemonUnavailableError, PrintdError) as exc:
            # printctl's advice (PRINTD_SOCKET, --socket) means nothing on a page: the page says what happened
            # in its own words (display.DOWN_DETAILS), and the log keeps printd's
            kind = exc.kind if isinstance(exc, DaemonUnavailableError) else "refused_status"
            since = self.snapshot.down_since if not self.snapshot.up and self.snapshot.down_since else time.time()
            return display.Snapshot(down_reason=kind, down_since=since)
        return display.Snapshot(status=status, in_doubt=jobs, forecast=self._forecast, forecast_at=self._forecast_at)

    async def _in_doubt(self, status: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
        queue = status.get("queue")
        count = queue.get("in_doubt") if isinstance(queue, Mapping) else None
        if not isinstance(count, int) or count == 0:
            self._doubt = (time.monotonic(), 0, ())
            return ()
        read_at, known, jobs = self._doubt
        if count != known or time.monotonic() - read_at > DOUBT_SECONDS:
            found = await self.link.call(
                "jobs.list", {"state": "in_doubt", "limit": DOUBT_LIMIT}, timeout=STATUS_TIMEOUT
            )
            jobs = tuple(j for j in found if isinstance(j, Mapping)) if isinstance(found, list) else ()
            self._doubt = (time.monotonic(), count, jobs)
        return jobs

    async def _forecast_loop(self) -> None:
        while True:
            try:
                found = await self.link.call("stock.forecast", timeout=FORECAST_TIMEOUT)
                self._forecast = found if isinstance(found, Mapping) else None
                self._forecast_at = time.time()
            except DaemonUnavailableError:
                pass  # the status poll says so
            except PrintdError as exc:  # e.g. the store cannot be read; the stock section shows no forecast
                self._forecast = None
                log.info("web.forecast_unavailable", code=exc.code)
            await asyncio.sleep(FORECAST_SECONDS if self._forecast is not None or self.link.available else 2.0)

    # ---- fan-out ----------------------------------------------------------------------------------------

    def update(self, snapshot: display.Snapshot) -> None:
        """Take a new poll: bump the version of each section that changed and queue it for the open pages."""
        self.snapshot = snapshot
        sections = display.sections(snapshot)
        changed = [name for name, data in sections.items() if self.sections.get(name) != data]
        self.sections = sections
        if changed:
            self.version += 1
            for name in changed:
                self.versions[name] = self.version
            self._send(changed, self.clients)
        if not self.ready:
            self.ready = True
            self._first.set()

    def since_token(self) -> str:
        return f"{self.epoch}-{self.version}"

    def join(self, variant: Variant, csrf: str, since: str | None) -> Client:
        """A page's stream, sent at once what changed after the version the page shows."""
        client = Client(variant, csrf)
        self.clients.add(client)
        epoch, _, number = (since or "").partition("-")
        seen = int(number) if epoch == self.epoch and number.isdigit() else -1
        self._send([name for name, version in self.versions.items() if version > seen], [client])
        return client

    def leave(self, client: Client) -> None:
        self.clients.discard(client)

    def fragment(self, name: str, variant: Variant) -> str:
        version = self.versions[name]
        cached = self._rendered.get((name, variant))
        if cached is not None and cached[0] == version:
            return cached[1]
        html = self.render(name, self.sections[name], *variant)
        self.renders += 1
        self._rendered[name, variant] = (version, html)
        return html

    def _send(self, names: list[str], clients: set[Client] | list[Client]) -> None:
        for client in clients:
            for name in names:
                client.pending[name] = self.fragment(name, client.variant).replace(CSRF_MARKER, client.csrf)
            if names:
                client.wake.set()


async def events(request: Request) -> Response:
    """``GET /events``: the live sections of the station page as server-sent events, named after the sections."""
    state = web_state(request)
    who = visitor(request)
    if who is None:
        return PlainTextResponse("Log in to see the station: /login", status_code=401)
    client = state.live.join((who.language, who.role), who.csrf, request.query_params.get("since"))
    session = who.session

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.wake.wait(), SESSION_CHECK_SECONDS)
                client.wake.clear()
                if session is not None and not state.sessions.alive(session):
                    yield ServerSentEvent(data=state.live.render("ended", None, *client.variant), event="notice")
                    return
                for name, html in client.take():
                    yield ServerSentEvent(data=html, event=name)
        finally:
            state.live.leave(client)

    return EventSourceResponse(stream(), ping=PING_SECONDS, send_timeout=30)
