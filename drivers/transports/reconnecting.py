"""A transport that opens its link on first use and again after the link was lost and closed."""

from __future__ import annotations

import threading
from collections.abc import Callable

from drivers.base import DriverError
from drivers.transport import Transport, TransportError

Opener = Callable[[], Transport]


class ReconnectingTransport:
    """`Transport` over links made by ``opener``. ``close`` drops the current link; the next ``write`` or ``read``
    opens a new one, so a printer unplugged and plugged back in is reached again (``EvolisDriver.open`` after a
    ``close``, as the station does). An opener that fails raises TransportError carrying its message."""

    def __init__(self, opener: Opener, describe: str) -> None:
        self._opener = opener
        self.describe = describe
        self._link: Transport | None = None
        self._lock = threading.Lock()

    def _current(self) -> Transport:
        with self._lock:
            if self._link is None:
                try:
                    self._link = self._opener()
                except DriverError as exc:
                    raise TransportError(str(exc)) from exc
            return self._link

    def write(self, data: bytes) -> None:
        self._current().write(data)

    def read(self, timeout: float) -> bytes:
        return self._current().read(timeout)

    def close(self) -> None:
        with self._lock:
            link, self._link = self._link, None
        if link is not None:
            link.close()

    @property
    def connected(self) -> bool:
        return self._link is not None
