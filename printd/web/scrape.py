"""``GET /metrics``: the station for Prometheus, read from printd at each scrape (printd/web/metrics.py).

Prometheus cannot sign in, so the endpoint has no login; instead only clients whose address is in ``[web]
metrics_from`` (loopback by default) are answered, others get 403. The address is the connection's own (uvicorn
runs without proxy headers, so a client cannot claim another). ``status`` and ``station.metrics`` are asked at each
scrape; the forecast is the live poller's, read every 30 s. printd not answering is ``printd_up 0``, not an error:
Prometheus records the outage.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from printd.errors import PrintdError
from printd.logging import get_logger
from printd.web.daemon_link import DaemonLink, DaemonUnavailableError
from printd.web.metrics import CONTENT_TYPE, Replies, exposition
from printd.web.state import web_state

log = get_logger("printd.web.scrape")

SCRAPE_TIMEOUT = 5.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(texts: Iterable[str]) -> tuple[Network, ...]:
    """``[web] metrics_from`` as networks (checked when the configuration was read)."""
    return tuple(ipaddress.ip_network(text) for text in texts)


def allowed(address: str | None, within: Iterable[Network]) -> bool:
    """Whether a client at ``address`` may read the metrics; an IPv4 client seen as ``::ffff:a.b.c.d`` counts as
    ``a.b.c.d``; no address (a Unix socket) or one that is not an address may not."""
    if not address:
        return False
    try:
        found = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        found = found.ipv4_mapped
    return any(found.version == network.version and found in network for network in within)


async def metrics(request: Request) -> Response:
    state = web_state(request)
    client = request.client.host if request.client is not None else None
    if not allowed(client, networks(state.settings.web.metrics_from)):
        log.warning("web.metrics_refused", client=client)
        return PlainTextResponse(
            "Forbidden: /metrics is served only to the addresses in [web] metrics_from.\n", status_code=403
        )
    status = await _read(state.link, "status")
    station = await _read(state.link, "station.metrics") if status is not None else None
    body = exposition(Replies(status, station, state.live.forecast if status is not None else None))
    return Response(body, media_type=CONTENT_TYPE)


async def _read(link: DaemonLink, method: str) -> Mapping[str, Any] | None:
    try:
        found = await link.call(method, timeout=SCRAPE_TIMEOUT)
    except (DaemonUnavailableError, PrintdError):
        return None
    return found if isinstance(found, Mapping) else None
