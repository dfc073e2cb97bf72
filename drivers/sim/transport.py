"""An in-process byte link to a simulated printer: what is written is answered by the printer directly."""

from __future__ import annotations

import threading
import time

from drivers.sim.printer import SimPrinter
from drivers.transport import TransportError


class InProcessTransport:
    """`drivers.transport.Transport` to a `SimPrinter`. ``write`` runs the printer (mechanical time included,
    so the calling thread blocks as it would on real hardware) and queues its replies for ``read``.

    ``unplug`` makes every call raise TransportError until ``plug``; ``close`` does so for good. The printer
    unplugs the link itself when a scripted "link lost" strikes. A printer that hung (a scripted "printer
    hangs") takes no more bytes: ``write`` blocks, as a write to a device that stopped draining its input does,
    until this link is closed or unplugged (from another thread) or the printer is power-cycled, and then raises
    TransportError.
    """

    def __init__(self, printer: SimPrinter) -> None:
        self.printer = printer
        self._replies = bytearray()
        self._ready = threading.Condition()
        self._closed = False
        self._unplugged = False

    def write(self, data: bytes) -> None:
        self._check()
        replies = self.printer.receive(bytes(data))
        if self.printer.take_link_drop():
            self.unplug()  # a scripted "link lost": the printer acted on the command, its reply never arrives
        with self._ready:
            self._check()
            self._replies += replies
            self._ready.notify_all()
        if self.printer.hung:
            self._blocked_while_hung()

    def _blocked_while_hung(self) -> None:
        self.printer.wait_while_hung(lambda: self._down)
        self._check()
        raise TransportError("the simulated printer was switched off while it hung")

    def read(self, timeout: float) -> bytes:
        """Like a device: with nothing queued, wait up to ``timeout`` (a reply the printer swallowed costs
        the caller its whole timeout, as on real hardware; a late one arrives when it is due)."""
        deadline = time.monotonic() + timeout
        while True:
            late, due_in = self.printer.take_late_replies()
            with self._ready:
                self._check()
                self._replies += late
                remaining = deadline - time.monotonic()
                if not self._replies and remaining > 0:
                    wait = remaining if due_in is None else min(remaining, due_in)
                    self._ready.wait_for(lambda: bool(self._replies) or self._down, wait)
                    self._check()
                    if not self._replies and wait < remaining:
                        continue  # a late reply is due
                data = bytes(self._replies)
                self._replies.clear()
                return data

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._replies.clear()
            self._ready.notify_all()
        self.printer.release_waiters()
        self.printer.reset_link()

    def unplug(self) -> None:
        """Pull the cable: pending replies are lost and the printer drops any half-received command."""
        with self._ready:
            self._unplugged = True
            self._replies.clear()
            self._ready.notify_all()
        self.printer.release_waiters()
        self.printer.reset_link()

    @property
    def closed(self) -> bool:
        return self._closed

    def plug(self) -> None:
        with self._ready:
            self._unplugged = False

    @property
    def _down(self) -> bool:
        return self._closed or self._unplugged

    def _check(self) -> None:
        if self._closed:
            raise TransportError("the link to the simulated printer is closed")
        if self._unplugged:
            raise TransportError("the simulated printer is unplugged")
