"""One Evolis command at a time over a byte transport: write the command, read its one reply."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from drivers.base import DriverError
from drivers.evolis.protocol import Command, ProtocolError, Reply, ReplyDecoder, encode_command
from drivers.transport import Transport

log = structlog.get_logger("drivers.evolis.link")


class NoReplyError(DriverError):
    """No usable reply in time: none, or bytes that are no reply. The message names the command only."""


class LineBusyError(NoReplyError):
    """The printer kept sending when the link waited for the line to go quiet."""


class Link:
    """Sends commands and reads replies; owns the reply decoder.

    A reply without terminator is completed when the link stays quiet for ``quiet_timeout`` after its last
    byte. After a timeout or an unexpected extra reply the link is out of step (`owes_reply`): before the next
    command it waits for the line to go quiet (`settle`), discarding what comes. TransportError from the
    transport propagates unchanged.
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

    @property
    def owes_reply(self) -> bool:
        """True when a reply may still come for a command that was given up on (or one extra came)."""
        return self._stale

    def settle(self, quiet: float, limit: float) -> int:
        """Wait until the line has been quiet for ``quiet`` seconds, discarding what arrives meanwhile (a reply
        to a command sent before a reconnect or a timeout, a printer's start-up noise); return the number of
        bytes discarded. LineBusyError when the printer is still sending after ``limit`` seconds."""
        self._decoder = ReplyDecoder()
        start = quiet_since = self._clock()
        discarded = 0
        while True:
            now = self._clock()
            if now - quiet_since >= quiet:
                break
            if now - start >= limit:
                raise LineBusyError(
                    f"the printer kept sending for {limit:g} s without a {quiet:g} s pause ({discarded} bytes "
                    "discarded): is another program talking to it, or is the serial speed wrong?"
                )
            chunk = self.transport.read(min(quiet - (now - quiet_since), limit - (now - start)))
            if chunk:
                discarded += len(chunk)
                quiet_since = self._clock()
        self._stale = False
        if discarded:
            log.info("evolis.stale_input_discarded", size=discarded)
        return discarded

    def exchange(self, cmd: Command, timeout: float | None = None) -> Reply:
        """Send ``cmd`` and return its reply; NoReplyError if none comes within ``timeout``."""
        if self._stale:
            self.settle(self.quiet_timeout, self.reply_timeout)
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
