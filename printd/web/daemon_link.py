"""The dashboard's one way to printd: control-socket calls from a small pool of asyncio clients.

Pages, actions and the live poller all call ``DaemonLink.call``. A call that cannot reach printd, loses its
connection or gets no answer within its timeout raises ``DaemonUnavailableError``; its client drops the connection
and connects again at its next call, so the link recovers by itself once printd is back. A refusal by printd (a
``PrintdError``: ``auth.forbidden``, ``job.not_found``...) is passed on as it is. ``on_behalf_of`` makes printd
apply a dashboard account's role and record ``web:NAME`` as the actor (printd-web's own user may ask that).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from printd.control.client import AsyncControlClient, DaemonUnreachableError
from printd.errors import PrintdError
from printd.logging import get_logger

log = get_logger("printd.web.link")

DEFAULT_TIMEOUT = 10.0


class DaemonUnavailableError(Exception):
    """printd did not answer: not running, its socket missing or refused, or no reply within the timeout."""

    def __init__(self, reason: str, kind: str = "lost") -> None:
        super().__init__(f"printd is not answering: {reason}")
        self.reason = reason
        self.kind = kind  # as DaemonUnreachableError.kind: what the page says (display.DOWN_DETAILS)


class DaemonLink:
    """Calls to printd at ``path``: at most ``size`` at once (more wait their turn), each within its timeout."""

    def __init__(self, path: str, *, size: int = 4, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout
        self._idle = [AsyncControlClient(path, timeout=timeout) for _ in range(size)]
        self._slots = asyncio.Semaphore(size)
        self.available = True
        self.reason: str | None = None
        self.down_since: float | None = None  # time.time() of the first failed call of the current outage

    async def call(
        self,
        method: str,
        params: Mapping[str, object] | None = None,
        *,
        on_behalf_of: str | None = None,
        timeout: float | None = None,
    ) -> object:
        """printd's result; raises ``PrintdError`` (printd refused) or ``DaemonUnavailableError`` (no answer)."""
        async with self._slots:
            client = self._idle.pop()
            try:
                client.timeout = self.timeout if timeout is None else timeout
                result = await client.call(method, params, on_behalf_of=on_behalf_of)
            except DaemonUnreachableError as exc:
                self._down(exc.reason)
                raise DaemonUnavailableError(exc.reason, exc.kind) from None
            except PrintdError:
                self._up()  # a refusal is an answer
                raise
            finally:
                self._idle.append(client)
        self._up()
        return result

    def _down(self, reason: str) -> None:
        if self.available:
            log.warning("web.daemon_unavailable", socket=self.path, reason=reason)
            self.down_since = time.time()
        self.available = False
        self.reason = reason

    def _up(self) -> None:
        if not self.available:
            log.info("web.daemon_back", socket=self.path)
        self.available = True
        self.reason = None
        self.down_since = None

    async def close(self) -> None:
        for client in self._idle:
            await client.close()
