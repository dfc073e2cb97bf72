"""Control-socket clients: a small synchronous one (printctl, tests, benchmarks) and an asyncio one (printd-web)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from collections.abc import Mapping
from types import TracebackType

from printd.control.protocol import LineBuffer, Response, encode_request, parse_response

DEFAULT_SOCKET = "/run/printd/printd.sock"
MAX_REPLY_BYTES = 256 << 20


class DaemonUnreachableError(Exception):
    """printd could not be reached, or stopped answering; the message says which socket and what to try."""

    def __init__(self, path: str, reason: str, kind: str = "lost") -> None:
        super().__init__(f"cannot reach printd at {path}: {reason}")
        self.path = path
        self.reason = reason
        self.kind = kind
        """What happened, for a front end to say in its own words: ``no_socket``, ``refused`` (nothing listening),
        ``permission``, ``timeout``, ``lost`` (the connection went away) or ``protocol`` (an unreadable reply)."""


def _kind(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no_socket"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, PermissionError):
        return "permission"
    return "lost"


def _reason(path: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return (
            "no socket there. Is printd running (systemctl status printd)? "
            "If it listens elsewhere, set PRINTD_SOCKET or pass --socket."
        )
    if isinstance(exc, ConnectionRefusedError):
        return "nothing is listening. Start printd (systemctl start printd) or check PRINTD_SOCKET / --socket."
    if isinstance(exc, PermissionError):
        return (
            f"permission denied. Your user must be in the socket's group (ls -l {path}; "
            "usually printd); log in again after being added."
        )
    return f"{exc.strerror or exc}. Is printd running? Check PRINTD_SOCKET / --socket."


class ControlClient:
    """One connection to printd; ``call`` sends a request and returns its result or raises ``PrintdError``.

    Raises ``DaemonUnreachableError`` when the socket cannot be reached or the daemon goes away.
    Not thread-safe: use one client per thread.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_SOCKET, *, timeout: float | None = 300.0) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._lines = LineBuffer(MAX_REPLY_BYTES)
        self._pending: deque[bytes] = deque()
        self._next_id = 1

    def connect(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise DaemonUnreachableError(self.path, _reason(self.path, exc), _kind(exc)) from None
        self._sock = sock

    def call(
        self, method: str, params: Mapping[str, object] | None = None, *, on_behalf_of: str | None = None
    ) -> object:
        """``on_behalf_of``: a dashboard account the request is made for (printd-web's user only): the daemon applies
        the account's role and records ``web:NAME`` as the actor."""
        rid = self._next_id
        self._next_id += 1
        reply = self._roundtrip(encode_request(rid, method, params, on_behalf_of=on_behalf_of), rid)
        if reply.error is not None:
            raise reply.error
        return reply.result

    def notify(
        self, method: str, params: Mapping[str, object] | None = None, *, on_behalf_of: str | None = None
    ) -> None:
        """Send a notification: the daemon runs it and answers nothing."""
        self._send(encode_request(None, method, params, on_behalf_of=on_behalf_of))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._lines = LineBuffer(MAX_REPLY_BYTES)
        self._pending.clear()

    def __enter__(self) -> ControlClient:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, data: bytes) -> bool:
        """Send ``data``; False if the daemon stopped reading (it may still have answered, e.g. too large)."""
        self.connect()
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        except TimeoutError:
            self.close()
            raise DaemonUnreachableError(self.path, f"no progress sending for {self.timeout} s", "timeout") from None
        except OSError as exc:
            self.close()
            raise DaemonUnreachableError(self.path, _reason(self.path, exc), _kind(exc)) from None
        return True

    def _roundtrip(self, data: bytes, rid: int) -> Response:
        sent = self._send(data)
        try:
            while True:
                while not self._pending:
                    self._receive()
                reply = parse_response(self._pending.popleft())
                # A reply with id null answers a request the daemon could not read: ours.
                if reply.id == rid or reply.id is None:
                    if not sent:
                        self.close()
                    return reply
        except DaemonUnreachableError:
            self.close()
            raise
        except ValueError as exc:
            self.close()
            raise DaemonUnreachableError(self.path, f"unreadable reply ({exc})", "protocol") from None

    def _receive(self) -> None:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(64 * 1024)
        except TimeoutError:
            raise DaemonUnreachableError(self.path, f"no reply within {self.timeout} s", "timeout") from None
        except OSError as exc:
            raise DaemonUnreachableError(self.path, f"connection lost ({exc.strerror or exc})") from None
        if not chunk:
            raise DaemonUnreachableError(self.path, "the daemon closed the connection without answering")
        self._pending.extend(self._lines.feed(chunk))
        if self._lines.overflowed:
            raise DaemonUnreachableError(self.path, "reply too large", "protocol")


class AsyncControlClient:
    """One connection to printd for asyncio code: ``await call(...)`` returns the result or raises ``PrintdError``.

    Calls from many tasks take turns on the connection (the daemon answers a connection's requests in order). A
    connection the daemon closed (its idle timeout, a restart) is opened again at the next call; a call that cannot
    reach the daemon, or gets no reply within ``timeout``, raises ``DaemonUnreachableError`` and drops the connection.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_SOCKET, *, timeout: float | None = 30.0) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lines = LineBuffer(MAX_REPLY_BYTES)
        self._pending: deque[bytes] = deque()
        self._next_id = 1
        self._turn = asyncio.Lock()

    async def call(
        self, method: str, params: Mapping[str, object] | None = None, *, on_behalf_of: str | None = None
    ) -> object:
        """As ``ControlClient.call``."""
        async with self._turn:
            rid = self._next_id
            self._next_id += 1
            data = encode_request(rid, method, params, on_behalf_of=on_behalf_of)
            try:
                reply = await asyncio.wait_for(self._roundtrip(data, rid), self.timeout)
            except TimeoutError:
                self._drop()
                raise DaemonUnreachableError(self.path, f"no reply within {self.timeout} s", "timeout") from None
            except BaseException:
                self._drop()  # cancelled or failed mid-request: its reply must not answer the next one
                raise
        if reply.error is not None:
            raise reply.error
        return reply.result

    async def close(self) -> None:
        writer = self._writer
        self._drop()
        if writer is not None:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aenter__(self) -> AsyncControlClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        self._lines = LineBuffer(MAX_REPLY_BYTES)
        self._pending.clear()

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is not None and self._reader.at_eof():
            self._drop()  # closed by the daemon while idle: nothing of a request was lost
        if self._reader is None or self._writer is None:
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(self.path, limit=64 * 1024)
            except OSError as exc:
                raise DaemonUnreachableError(self.path, _reason(self.path, exc), _kind(exc)) from None
        return self._reader, self._writer

    async def _roundtrip(self, data: bytes, rid: int) -> Response:
        reader, writer = await self._connection()
        try:
            writer.write(data)
            await writer.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon stopped reading; it may still have answered (a request too large)
        try:
            while True:
                while not self._pending:
                    chunk = await reader.read(64 * 1024)
                    if not chunk:
                        raise DaemonUnreachableError(self.path, "the daemon closed the connection without answering")
                    self._pending.extend(self._lines.feed(chunk))
                    if self._lines.overflowed:
                        raise DaemonUnreachableError(self.path, "reply too large", "protocol")
                reply = parse_response(self._pending.popleft())
                if reply.id == rid or reply.id is None:
                    return reply
        except OSError as exc:
            raise DaemonUnreachableError(self.path, f"connection lost ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise DaemonUnreachableError(self.path, f"unreadable reply ({exc})", "protocol") from None
