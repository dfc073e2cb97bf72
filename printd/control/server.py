"""The control socket: an asyncio Unix-socket server that authenticates callers and answers JSON-RPC."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import socket
import stat
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Protocol

from structlog.typing import FilteringBoundLogger

from printd.control.auth import (
    DEFAULT_ROLES,
    Caller,
    PeerCredentials,
    Role,
    RolesConfig,
    actor_name,
    forbidden,
    parse_roles,
    peer_credentials,
    resolve_role,
)
from printd.control.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Connection,
    ProtocolViolation,
    Request,
    encode_error,
    encode_result,
)
from printd.errors import PrintdError, internal_error
from printd.file_access import group_ids
from printd.logging import get_logger

SOCKET_MODE = 0o660
READ_CHUNK = 64 * 1024
LINGER_SECONDS = 2.0
LINGER_QUIET_SECONDS = 0.25
LINGER_BYTES = 64 << 20
DEFAULT_MAX_CLIENTS = 64
DEFAULT_RESERVED_FOR_SUPERVISORS = 4
MAX_REFUSING = 64
"""Connections being told printd is busy at once; one more is closed without a word, so a flood costs little."""
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_WRITE_TIMEOUT = 30.0
DEFAULT_WEB_USERS = ("printd-web",)
"""Unix users who may act on behalf of a dashboard account (``[control] web_users``): printd-web's own."""


class Dispatcher(Protocol):
    """What the server serves: a role table and the method handlers."""

    def required_role(self, method: str) -> Role | None:
        """The least role allowed to call ``method``; None when there is no such method."""
        ...

    async def dispatch(self, method: str, params: dict[str, object], caller: Caller) -> object:
        """Run ``method``; return a JSON-encodable result or raise ``PrintdError``."""
        ...

    def acting_role(self, account: str) -> Role:
        """The role of dashboard account ``account`` for a request on its behalf (called in a worker thread);
        raises ``PrintdError`` (``auth.account_unknown``, ``auth.account_disabled``) when it may not act."""
        ...


RoleResolver = Callable[[PeerCredentials], Role | None]


class ControlSocketError(Exception):
    """The control socket cannot be set up; the message says why and what to do."""


class _ClientStalledError(Exception):
    """The client stopped reading its replies; its connection was cut."""


@dataclass(slots=True)
class _Client:
    busy: bool = False  # answering a request: let it finish at shutdown
    writing: bool = False  # waiting for the client to read its reply: not worth waiting for at shutdown
    uid: int | None = None  # set while the connection holds one of the max_clients slots
    user: str | None = None  # the user's name, once identified
    refusing: bool = False  # being told printd is busy


class ControlServer:
    """Serves a ``Dispatcher`` on a Unix socket: many clients at once, each one's requests in order."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        roles_config: RolesConfig = DEFAULT_ROLES,
        *,
        socket_path: str | os.PathLike[str] | None = None,
        sock: socket.socket | None = None,
        socket_group: str | int | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        idle_timeout: float | None = 300.0,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        write_timeout: float | None = DEFAULT_WRITE_TIMEOUT,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        max_clients_per_user: int | None = None,
        reserved_for_supervisors: int | None = None,
        logger: FilteringBoundLogger | None = None,
        role_resolver: RoleResolver | None = None,
        web_users: Collection[str] = DEFAULT_WEB_USERS,
    ) -> None:
        """``idle_timeout``: a connection with nothing sent is closed after this long. ``request_timeout``: a
        request begun must end (its newline arrive) within this long. ``write_timeout``: a client that reads
        no replies for this long is cut off. ``max_clients``: connections beyond it are told printd is busy;
        ``max_clients_per_user`` (default a quarter of it) is one user's share; the last
        ``reserved_for_supervisors`` (default 4, fewer if ``max_clients`` is smaller) are for supervisors only.
        ``web_users``: Unix users who may make a request on behalf of a dashboard account (``on_behalf_of``), as root
        and the daemon's own user may."""
        if (socket_path is None) == (sock is None):
            raise ValueError("give exactly one of socket_path or sock")
        parse_roles(roles_config)
        self._dispatcher = dispatcher
        self._roles = roles_config
        self._path = None if socket_path is None else os.fspath(socket_path)
        self._sock = sock
        self._group = socket_group
        self._max_message_bytes = max_message_bytes
        self._idle_timeout = idle_timeout
        self._request_timeout = request_timeout
        self._write_timeout = write_timeout
        self._max_clients, self._per_user, self._reserved = _client_limits(
            max_clients, max_clients_per_user, reserved_for_supervisors
        )
        self._log = logger if logger is not None else get_logger("printd.control")
        self._resolve: RoleResolver = role_resolver or (lambda c: resolve_role(c.uid, c.gid, roles_config))
        self._web_users = frozenset(web_users)
        self._server: asyncio.AbstractServer | None = None
        self._socket_id: tuple[int, int] | None = None
        self._clients: dict[asyncio.Task[None], _Client] = {}
        self._closing = False

    @property
    def path(self) -> str | None:
        """The socket file this server created, if it created one."""
        return self._path

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("ControlServer already started")
        if self._sock is None:
            assert self._path is not None
            self._sock = _bind_unix(self._path, self._group)
            st = os.stat(self._path)
            self._socket_id = (st.st_dev, st.st_ino)
        self._sock.setblocking(False)
        self._server = await asyncio.start_unix_server(self._on_client, sock=self._sock)
        self._log.info("control.listening", socket=self._path or "inherited")

    def close(self) -> None:
        """Stop accepting, remove the socket file, drop idle clients; busy ones finish their request."""
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        self._remove_socket_file()
        for task, client in self._clients.items():
            if not client.busy or client.writing:
                task.cancel()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        while self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        await self.wait_closed()

    def _remove_socket_file(self) -> None:
        # Only the file we bound: a newer daemon may already have replaced it.
        if self._path is None or self._socket_id is None:
            return
        with contextlib.suppress(OSError):
            st = os.lstat(self._path)
            if (st.st_dev, st.st_ino) == self._socket_id:
                os.unlink(self._path)
        self._socket_id = None

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        client = _Client()
        self._clients[task] = client
        try:
            if not self._closing:
                await self._enter(reader, writer, client)
        except asyncio.CancelledError:
            if not self._closing:
                raise
        except (ConnectionError, TimeoutError, _ClientStalledError):
            pass
        except Exception as exc:
            self._log.error("control.connection_failed", error=type(exc).__qualname__, where=_frames(exc))
        finally:
            del self._clients[task]
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), LINGER_SECONDS)
            except TimeoutError:
                writer.transport.abort()  # replies it never read: drop them rather than wait forever
            except Exception:
                pass

    async def _enter(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: _Client) -> None:
        """Admit the caller to a slot and serve them, or tell them which limit keeps them out.

        The limits that need only the uid come first, so a refused caller costs no user-database lookup.
        """
        creds = peer_credentials(writer.get_extra_info("socket"))
        busy = self._over_limit(creds.uid)
        if busy is None:
            client.uid = creds.uid
            in_reserve = self._held() > self._max_clients - self._reserved
            caller = await asyncio.to_thread(self._identify, creds)
            client.user = caller.user
            if not in_reserve or caller.role is Role.SUPERVISOR:
                await self._serve(reader, writer, client, caller)
                return
            client.uid = None
            busy = self._busy_reserved()
        await self._refuse_busy(reader, writer, client, busy)

    def _held(self, uid: int | None = None) -> int:
        """Slots held, by everyone or by ``uid``."""
        return sum(1 for c in self._clients.values() if c.uid is not None and (uid is None or c.uid == uid))

    def _over_limit(self, uid: int) -> PrintdError | None:
        if self._held() >= self._max_clients:
            return _busy(
                f"printd is already serving its limit of {self._max_clients} connections (max_clients in [control])",
                {"limit": self._max_clients, "setting": "max_clients"},
            )
        if self._held(uid) >= self._per_user:
            return self._busy_per_user(uid)
        return None

    def _busy_per_user(self, uid: int) -> PrintdError:
        # The name from one of the user's own connections: a refusal costs no user-database lookup.
        user = next((c.user for c in self._clients.values() if c.uid == uid and c.user), f"uid:{uid}")
        return _busy(
            f"{user} already has {self._per_user} connections open to printd, the most one user may have "
            "(max_clients_per_user in [control])",
            {"limit": self._per_user, "setting": "max_clients_per_user", "user": user},
        )

    def _busy_reserved(self) -> PrintdError:
        general = self._max_clients - self._reserved
        return _busy(
            f"printd's {general} connections for staff are all in use and the last {self._reserved} are kept for "
            "supervisors (reserved_for_supervisors in [control])",
            {"limit": general, "setting": "reserved_for_supervisors", "reserved": self._reserved},
        )

    async def _refuse_busy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: _Client, busy: PrintdError
    ) -> None:
        if sum(1 for c in self._clients.values() if c.refusing) >= MAX_REFUSING:
            return
        client.refusing = True
        self._log.warning("control.busy", **busy.details)
        await self._send(writer, client, encode_error(None, busy))
        await self._linger(reader, writer)

    async def _send(self, writer: asyncio.StreamWriter, client: _Client, reply: bytes) -> None:
        """Write a reply; a client that reads nothing for ``write_timeout`` is cut off (``_ClientStalledError``)."""
        writer.write(reply)
        client.writing = True
        try:
            await asyncio.wait_for(writer.drain(), self._write_timeout)
        except TimeoutError:
            self._log.info("control.write_timeout", seconds=self._write_timeout)
            writer.transport.abort()
            raise _ClientStalledError from None
        finally:
            client.writing = False

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: _Client, caller: Caller
    ) -> None:
        self._log.debug("control.connected", user=caller.user, pid=caller.pid, role=_label(caller.role))
        conn = Connection(self._max_message_bytes)
        loop = asyncio.get_running_loop()
        # When the request now arriving began: only time spent waiting for the client counts against it.
        request_started: float | None = None
        while not self._closing:
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), self._read_timeout(request_started))
            except TimeoutError:
                if conn.pending:
                    await self._refuse_slow(reader, writer, client, caller)
                else:
                    self._log.debug("control.idle_timeout", user=caller.user)
                return
            events = conn.feed(data) if data else conn.end_of_input()
            for event in events:
                client.busy = True
                reply = await self._answer(event, caller)
                if reply is not None:
                    await self._send(writer, client, reply)
                client.busy = False
                if self._closing:
                    return
            if conn.closed:
                await self._linger(reader, writer)
                return
            if not data:
                return
            if not conn.pending:
                request_started = None
            elif request_started is None or events:
                request_started = loop.time()

    def _read_timeout(self, request_started: float | None) -> float | None:
        if request_started is None or self._request_timeout is None:
            return self._idle_timeout
        left = max(0.0, request_started + self._request_timeout - asyncio.get_running_loop().time())
        return left if self._idle_timeout is None else min(left, self._idle_timeout)

    async def _refuse_slow(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: _Client, caller: Caller
    ) -> None:
        self._log.info("control.request_timeout", user=caller.user)
        limits = []
        if self._request_timeout is not None:
            limits.append(f"within {self._request_timeout:g} s of its first byte")
        if self._idle_timeout is not None:
            limits.append(f"with no pause over {self._idle_timeout:g} s")
        slow = PrintdError(
            "request.timeout",
            f"The request was not finished in time: its newline must arrive {' and '.join(limits)}; "
            "send each request as one whole line ending with a newline.",
            {"request_timeout_seconds": self._request_timeout, "idle_timeout_seconds": self._idle_timeout},
        )
        await self._send(writer, client, encode_error(None, slow))
        await self._linger(reader, writer)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close, then swallow what the client is still sending until it pauses (bounded in time and bytes).

        Closing with unread input makes the kernel reset the connection, and the client may then see the
        reset instead of the answer it was sent.
        """
        if writer.can_write_eof():
            writer.write_eof()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        swallowed = 0
        while swallowed < LINGER_BYTES and (left := deadline - loop.time()) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(READ_CHUNK), min(left, LINGER_QUIET_SECONDS))
            except TimeoutError:
                return
            if not chunk:
                return
            swallowed += len(chunk)

    def _identify(self, creds: PeerCredentials) -> Caller:
        try:
            role = self._resolve(creds)
        except Exception as exc:
            self._log.error("control.role_lookup_failed", uid=creds.uid, error=type(exc).__qualname__)
            role = None
        try:
            gids = group_ids(creds.uid, creds.gid)
        except OSError:  # the user database cannot list the groups: only the primary one counts
            gids = frozenset({creds.gid})
        user = actor_name(creds.uid)
        acts_for_accounts = creds.uid in (0, os.geteuid()) or user in self._web_users
        return Caller(creds.uid, creds.gid, creds.pid, user, role, gids, acts_for_accounts)

    async def _answer(self, event: Request | ProtocolViolation, caller: Caller) -> bytes | None:
        if isinstance(event, ProtocolViolation):
            self._log.info("control.bad_request", code=event.error.code, user=caller.user)
            if caller.role is None:  # a caller without a role learns nothing but that
                return encode_error(event.id, forbidden(None, Role.VIEWER, caller, self._roles))
            return encode_error(event.id, event.error)
        try:
            result = await self._call(event, caller)
        except PrintdError as err:
            return None if event.notification else encode_error(event.id, err)
        if event.notification:
            return None
        try:
            return encode_result(event.id, result)
        except ValueError:
            self._log.error("control.unencodable_result", method=event.method, user=caller.user)
            return encode_error(event.id, internal_error())

    async def _call(self, request: Request, caller: Caller) -> object:
        try:
            if request.on_behalf_of is not None:
                caller = await self._acting_for(request.on_behalf_of, caller)
            needed = self._dispatcher.required_role(request.method)
            if caller.role is None or (needed is not None and caller.role < needed):
                self._log.info(
                    "control.forbidden",
                    user=caller.user,
                    method=request.method if needed is not None else None,
                    role=_label(caller.role),
                )
                known = needed is not None
                raise forbidden(request.method if known else None, needed or Role.VIEWER, caller, self._roles)
            if needed is None:
                raise PrintdError(
                    "method.not_found",
                    f"printd has no method {request.method[:64]!r}; "
                    "check the spelling or update printctl to match the daemon.",
                )
            return await self._dispatcher.dispatch(request.method, request.params, caller)
        except PrintdError:
            raise
        except Exception as exc:
            # Frames only: an exception's message or locals may hold a card holder's data.
            self._log.error(
                "control.internal_error",
                method=request.method[:64],
                user=caller.user,
                error=type(exc).__qualname__,
                where=_frames(exc),
            )
            raise internal_error() from None

    async def _acting_for(self, account: str, caller: Caller) -> Caller:
        """Who a request made on behalf of ``account`` is served as: the account's role, ``web:NAME`` the actor."""
        if not caller.acts_for_accounts:
            self._log.info("control.forbidden", user=caller.user, on_behalf_of=True, role=_label(caller.role))
            if caller.role is None:  # a caller without a role learns nothing but that
                raise forbidden(None, Role.VIEWER, caller, self._roles)
            web = ", ".join(sorted(self._web_users)) or "none"
            raise PrintdError(
                "auth.forbidden",
                f"only printd-web's Unix user ([control] web_users: {web}), root and printd's own user may act for a"
                f" dashboard account (on_behalf_of), and {caller.user} is none of them; send the request without"
                " on_behalf_of, as yourself.",
                {"user": caller.user, "role": _label(caller.role), "on_behalf_of": True},
            )
        try:
            role = await asyncio.to_thread(self._dispatcher.acting_role, account)
        except PrintdError as err:
            self._log.info("control.account_refused", code=err.code, user=caller.user)
            raise
        return replace(caller, user=f"web:{account}", role=role, account=account)


def _client_limits(max_clients: int, per_user: int | None, reserved: int | None) -> tuple[int, int, int]:
    """``max_clients`` and the per-user and supervisors' shares of it, defaults filled in and checked."""
    if max_clients < 1:
        raise ValueError("max_clients must be at least 1")
    per_user = max(1, max_clients // 4) if per_user is None else per_user
    reserved = min(DEFAULT_RESERVED_FOR_SUPERVISORS, max_clients - 1) if reserved is None else reserved
    if not 1 <= per_user <= max_clients:
        raise ValueError("max_clients_per_user must be between 1 and max_clients")
    if not 0 <= reserved < max_clients:
        raise ValueError("reserved_for_supervisors must be at least 0 and less than max_clients")
    return max_clients, per_user, reserved


def _busy(limit: str, details: dict[str, object]) -> PrintdError:
    return PrintdError(
        "server.busy",
        f"{limit}; try again in a moment, and stop printctl sessions or scripts that hold connections open "
        "without using them.",
        details,
    )


def _label(role: Role | None) -> str | None:
    return None if role is None else role.label


def _frames(exc: BaseException) -> list[str]:
    return [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)]


def _group_id(group: str | int) -> int:
    if isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ControlSocketError(
            f"control socket group {group!r} does not exist; create it (groupadd {group}) "
            "or change control.socket_group in the configuration"
        ) from None


def _is_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # busy or not ours to probe: never clobber it
    finally:
        probe.close()
    return True


def _bind_unix(path: str, group: str | int | None) -> socket.socket:
    """A listening socket at ``path``, mode 0660, replacing a stale socket file but never a live one."""
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise ControlSocketError(f"{path} exists and is not a socket; move it away or choose another socket path")
        if _is_live(path):
            raise ControlSocketError(f"another process is already listening on {path}; is printd already running?")
        os.unlink(path)
    gid = None if group is None else _group_id(group)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(path)
        except FileNotFoundError:
            raise ControlSocketError(
                f"cannot create {path}: directory {os.path.dirname(path) or '.'} does not exist"
            ) from None
        except OSError as exc:
            raise ControlSocketError(f"cannot create {path}: {exc.strerror or exc}") from None
        try:
            # Nobody can connect before listen(), so the mode set here is the first one anyone sees.
            os.chmod(path, SOCKET_MODE)
            if gid is not None:
                os.chown(path, -1, gid)
            sock.listen(128)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
    except BaseException:
        sock.close()
        raise
    return sock
