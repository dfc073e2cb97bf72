"""One Evolis command at a time over a byte transport: write the command, read its one reply."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from drivers.base import DriverError
from drivers.evolis.protocol import Command, ProtocolError, Reply, ReplyDecoder, encode_command
from drivers.transport import Transport

log = structlog.get_logger("drivers.evolis.link")

_DRAIN_LIMIT = 64
"""Reads of stale input before a command, at most (a printer babbling forever is not drained)."""


class NoReplyError(DriverError):
    """No usable reply in time: none, or bytes that are no reply. The message names the command only."""


class Link:
    """Sends commands and reads replies; owns the reply decoder.

    A reply without terminator is completed when the link stays quiet for ``quiet_timeout`` after its last
    byte. After a timeout or an unexpected extra reply, stale input is drained before the next command.
    TransportError from the transport propagates unchanged.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        reply_timeout: float,
        quiet_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.reply_timeout = reply_timeout
        self.quiet_timeout = quiet_timeout
        self._clock = clock
        self._decoder = ReplyDecoder()
        self._stale = False

    def exchange(self, cmd: Command, timeout: float | None = None) -> Reply:
        """Send ``cmd`` and return its reply; NoReplyError if none comes within ``timeout``."""
        if self._stale:
            self._drain()
        self.transport.write(encode_command(cmd))
        deadline = self._clock() + (self.reply_timeout if timeout is None else timeout)
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                late = self._decoder.flush()
                if late is not None:
                    return late
                self._stale = True
                raise NoReplyError(f"no reply to {cmd.name} from the printer")
            wait = min(remaining, self.quiet_timeout) if self._decoder.pending else remaining
            chunk = self.transport.read(wait)
            if not chunk:
                if self._decoder.pending:
                    flushed = self._decoder.flush()
                    if flushed is not None:
                        return flushed
                continue
            try:
                replies = self._decoder.feed(chunk)
            except ProtocolError:
                self._stale = True
                raise NoReplyError(f"unreadable reply to {cmd.name} from the printer") from None
            if replies:
                if len(replies) > 1 or self._decoder.pending:
                    # More than one reply to one command: the link is out of step. The last reply is the
                    # likeliest to be this command's; what follows it is drained before the next command.
                    log.warning("evolis.extra_reply", command=cmd.name, replies=len(replies))
                    self._stale = True
                return replies[-1]

    def _drain(self) -> None:
        self._decoder = ReplyDecoder()
        for _ in range(_DRAIN_LIMIT):
            if not self.transport.read(0):
                break
        self._stale = False
