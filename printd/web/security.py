"""What guards every request: the headers every response carries, and the Host a request may name.

``SecurityHeaders``: a Content-Security-Policy without inline script or style, no framing, no sniffing, no referrer;
pages are never cached (static files are revalidated). It wraps the whole application, outside Starlette's own error
handling, so a 404, a 500, a refused Host and the event stream carry them too.

``HostCheck`` (DNS rebinding): a page of another site whose name is made to point at this PC reaches the dashboard
from the visitor's browser, but names its own host; only requests naming this dashboard are served (``allowed_hosts``:
the listen address, localhost and the loopback addresses when on loopback, this PC's name and ``[web] hostnames``),
others get 400. An address itself (``192.168.1.20``) is no name a rebinding site can use, so on an unspecified listen
address (``0.0.0.0``, ``::``) any address is taken.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from printd.config import WebConfig, is_loopback, listen_address

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none';"
    " form-action 'self'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
STATIC_PREFIX = "/static/"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                # static files: kept, but checked again (ETag) before use, so an upgrade shows at once
                headers["Cache-Control"] = "no-cache" if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def allowed_hosts(web: WebConfig, machine: Iterable[str] | None = None) -> frozenset[str]:
    """The host names (lower case, no port, IPv6 without brackets) a request may name; ``machine``: this PC's own
    names (default: its host name and fully qualified name)."""
    host, _ = listen_address(web.listen)
    names = {host, *web.hostnames}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "::1"}
    names |= set(machine if machine is not None else (socket.gethostname(), socket.getfqdn()))
    return frozenset(_normal(name) for name in names if name)


def host_of(header: str) -> str:
    """The host a Host header names: ``[::1]:8631`` → ``::1``, ``PC-1.:8631`` → ``pc-1``."""
    if header.startswith("["):
        return _normal(header[1:].partition("]")[0])
    return _normal(header.rpartition(":")[0] if header.count(":") == 1 else header)


def _normal(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """400 for a request whose Host header names anything but this dashboard."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], *, any_address: bool = False) -> None:
        self.app = app
        self.hosts = hosts
        self.any_address = any_address  # listening on every address: any address literal is ours

    def allows(self, header: str | None) -> bool:
        if not header:
            return False
        host = host_of(header)
        return host in self.hosts or (self.any_address and _is_address(host))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.allows(Headers(scope=scope).get("host")):
            response = PlainTextResponse(
                "Unknown host: this dashboard answers only to its own names. Open it by the address the"
                " administrator gave, or add the name to [web] hostnames.\n",
                status_code=400,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
