"""The control socket server over a real Unix socket, with a toy dispatcher standing in for printd's methods."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog

from printd.control import server as server_module
from printd.control.auth import Caller, PeerCredentials, Role
from printd.control.client import ControlClient, DaemonUnreachableError
from printd.control.server import DEFAULT_MAX_CLIENTS, ControlServer, ControlSocketError, Dispatcher
from printd.errors import PrintdError
from printd.logging import get_logger

SECRET = "Budi Santoso 3201234567890001"  # stands in for a card holder's name and NIK


class ToyDispatcher:
    roles = {
        "ping": Role.VIEWER,
        "echo": Role.VIEWER,
        "whoami": Role.VIEWER,
        "sleep": Role.VIEWER,
        "boom": Role.VIEWER,
        "missing": Role.VIEWER,
        "unencodable": Role.VIEWER,
        "submit": Role.OPERATOR,
        "receive": Role.SUPERVISOR,
    }

    def __init__(self) -> None:
        self.calls: list[str] = []

    def required_role(self, method: str) -> Role | None:
        return self.roles.get(method)

    async def dispatch(self, method: str, params: dict[str, object], caller: Caller) -> object:
        self.calls.append(method)
        if method == "ping":
            return "pong"
        if method == "whoami":
            return {"uid": caller.uid, "pid": caller.pid, "user": caller.user, "role": caller.role}
        if method == "sleep":
            await asyncio.sleep(float(str(params["seconds"])))
            return params.get("tag")
        if method == "boom":
            raise RuntimeError(SECRET)
        if method == "missing":
            raise PrintdError("job.not_found", "No such job; list jobs with printctl jobs.", {"job": params.get("job")})
        if method == "unencodable":
            return {"x": object()}
        return params


QUIET = structlog.wrap_logger(
    structlog.ReturnLogger(), wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL)
)


class ServerThread:
    """A ControlServer on its own event loop in a background thread, for blocking clients."""

    def __init__(self, dispatcher: Dispatcher, path: Path, **options: Any) -> None:
        options.setdefault("logger", QUIET)
        self.server = ControlServer(dispatcher, socket_path=path, **options)
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self.thread.is_alive():
            return

        async def shutdown() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "s.sock"


@pytest.fixture
def toy() -> ToyDispatcher:
    return ToyDispatcher()


@pytest.fixture
def served(toy: ToyDispatcher, sock_path: Path) -> Iterator[ServerThread]:
    # Every client here is this process's user: no share of its own limits them (a closed connection may still be
    # counted for a moment when the next one comes).
    with ServerThread(toy, sock_path, idle_timeout=5.0, max_clients_per_user=DEFAULT_MAX_CLIENTS) as server:
        yield server


def raw(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(path))
    return s


def read_replies(s: socket.socket, n: int) -> list[dict[str, Any]]:
    data = b""
    while data.count(b"\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return [msgspec.json.decode(line) for line in data.splitlines()]


def request(rid: object, method: str, **params: object) -> bytes:
    return msgspec.json.encode({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}) + b"\n"


# ---- the basics ------------------------------------------------------------------------------------


def test_call_and_caller_identity_from_the_kernel(served: ServerThread) -> None:
    with ControlClient(served.path) as client:
        assert client.call("ping") == "pong"
        assert client.call("echo", {"a": [1, "é"]}) == {"a": [1, "é"]}
        me = client.call("whoami")
    assert me == {"uid": os.getuid(), "pid": os.getpid(), "user": me["user"], "role": int(Role.SUPERVISOR)}  # type: ignore[index]


def test_socket_file_mode_and_group(sock_path: Path, toy: ToyDispatcher) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    with ServerThread(toy, sock_path, socket_group=group):
        st = os.stat(sock_path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == os.getgid()
    assert not sock_path.exists()


def test_unknown_socket_group_is_refused(sock_path: Path, toy: ToyDispatcher) -> None:
    server = ControlServer(toy, socket_path=sock_path, socket_group="no-such-group-printd")
    with pytest.raises(ControlSocketError, match="groupadd no-such-group-printd"):
        asyncio.run(server.start())
    assert not sock_path.exists()


def test_stale_socket_is_replaced(sock_path: Path, toy: ToyDispatcher) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # the file stays, nobody listens: a crashed daemon's leftover
    with ServerThread(toy, sock_path) as served, ControlClient(served.path) as client:
        assert client.call("ping") == "pong"


def test_live_socket_is_not_clobbered(served: ServerThread, toy: ToyDispatcher) -> None:
    second = ControlServer(toy, socket_path=served.path)
    with pytest.raises(ControlSocketError, match="already listening"):
        asyncio.run(second.start())
    with ControlClient(served.path) as client:
        assert client.call("ping") == "pong"


def test_a_regular_file_is_not_clobbered(sock_path: Path, toy: ToyDispatcher) -> None:
    sock_path.write_text("keep me")
    with pytest.raises(ControlSocketError, match="not a socket"):
        asyncio.run(ControlServer(toy, socket_path=sock_path).start())
    assert sock_path.read_text() == "keep me"


def test_missing_directory_is_explained(tmp_path: Path, toy: ToyDispatcher) -> None:
    with pytest.raises(ControlSocketError, match="does not exist"):
        asyncio.run(ControlServer(toy, socket_path=tmp_path / "nope" / "s.sock").start())


def test_inherited_listening_socket_is_served_and_left_in_place(sock_path: Path, toy: ToyDispatcher) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen()
    server = ControlServer(toy, sock=listener)

    async def scenario() -> object:
        await server.start()
        reader, writer = await asyncio.open_unix_connection(str(sock_path))
        writer.write(request(1, "ping"))
        reply = msgspec.json.decode(await reader.readline())
        writer.close()
        server.close()
        await server.wait_closed()
        return reply

    assert asyncio.run(scenario()) == {"jsonrpc": "2.0", "id": 1, "result": "pong"}
    assert sock_path.exists()  # systemd owns it


def test_exactly_one_socket_source(sock_path: Path, toy: ToyDispatcher) -> None:
    with pytest.raises(ValueError):
        ControlServer(toy)
    with pytest.raises(ValueError, match="unknown role"):
        ControlServer(toy, {"boss": ["wheel"]}, socket_path=sock_path)


# ---- many clients, order, errors -------------------------------------------------------------------


def test_many_concurrent_clients(served: ServerThread) -> None:
    def worker(n: int) -> list[object]:
        with ControlClient(served.path) as client:
            return [client.call("echo", {"n": n, "i": i}) for i in range(40)]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(worker, range(32)))
    for n, replies in enumerate(results):
        assert replies == [{"n": n, "i": i} for i in range(40)]


def test_a_slow_request_does_not_block_other_clients(served: ServerThread) -> None:
    slow = raw(served.path)
    slow.sendall(request(1, "sleep", seconds=1.0))
    started = time.monotonic()
    with ControlClient(served.path) as client:
        assert client.call("ping") == "pong"
    assert time.monotonic() - started < 0.8
    assert read_replies(slow, 1)[0]["id"] == 1
    slow.close()


def test_pipelined_requests_are_answered_in_order(served: ServerThread) -> None:
    with raw(served.path) as s:
        s.sendall(request(1, "sleep", seconds=0.2, tag="a") + request("2", "ping") + request(3, "echo", x=1))
        replies = read_replies(s, 3)
    assert [(r["id"], r["result"]) for r in replies] == [(1, "a"), ("2", "pong"), (3, {"x": 1})]


def test_notifications_get_no_reply(served: ServerThread, toy: ToyDispatcher) -> None:
    with raw(served.path) as s:
        s.sendall(b'{"jsonrpc":"2.0","method":"ping"}\n{"jsonrpc":"2.0","method":"nope"}\n' + request(5, "ping"))
        assert read_replies(s, 1) == [{"jsonrpc": "2.0", "id": 5, "result": "pong"}]
    assert toy.calls == ["ping", "ping"]


def test_error_replies(served: ServerThread) -> None:
    with ControlClient(served.path) as client:
        with pytest.raises(PrintdError) as missing:
            client.call("missing", {"job": "A-1"})
        assert (missing.value.code, missing.value.details) == ("job.not_found", {"job": "A-1"})
        with pytest.raises(PrintdError) as unknown:
            client.call("jobs.frobnicate")
        assert unknown.value.code == "method.not_found"
        assert client.call("ping") == "pong"


def test_unexpected_exceptions_are_internal_and_not_logged_with_data(sock_path: Path, toy: ToyDispatcher) -> None:
    logger = get_logger("printd.control")
    with (
        structlog.testing.capture_logs() as logs,
        ServerThread(toy, sock_path, logger=logger) as served,
        ControlClient(served.path) as client,
    ):
        with pytest.raises(PrintdError) as boom:
            client.call("boom", {"holder": SECRET})
        with pytest.raises(PrintdError) as weird:
            client.call("unencodable")
        assert client.call("ping") == "pong"
    assert boom.value.code == weird.value.code == "internal"
    assert SECRET not in boom.value.message
    events = [e["event"] for e in logs]
    assert "control.internal_error" in events and "control.unencodable_result" in events
    assert SECRET not in repr(logs) and "Budi" not in repr(logs)


def test_protocol_errors_keep_the_connection(served: ServerThread) -> None:
    with raw(served.path) as s:
        s.sendall(b"{oops\n\xff\xfe\n[]\n" + request(1, "ping"))
        replies = read_replies(s, 4)
    assert [r["error"]["data"]["code"] for r in replies[:3]] == [
        "request.parse_error",
        "request.parse_error",
        "request.invalid",
    ]
    assert replies[0]["error"]["code"] == -32700 and replies[2]["error"]["code"] == -32600
    assert replies[3] == {"jsonrpc": "2.0", "id": 1, "result": "pong"}


def test_oversize_request_is_answered_then_closed(sock_path: Path, toy: ToyDispatcher) -> None:
    with ServerThread(toy, sock_path, max_message_bytes=4096) as served:
        s = raw(served.path)
        s.sendall(request(1, "ping"))
        s.sendall(b"x" * 200_000)  # swallowed after the answer, so the client gets no broken pipe
        replies = read_replies(s, 3)  # and reads its answer, then a clean end of stream, not a reset
        assert replies[0]["result"] == "pong"
        assert replies[1]["error"]["data"] == {"code": "request.too_large", "limit_bytes": 4096}
        assert len(replies) == 2
        s.close()
        with ControlClient(served.path) as client:
            with pytest.raises(PrintdError) as big:
                client.call("echo", {"blob": "y" * 10_000})
            assert big.value.code == "request.too_large"


def test_a_client_gone_mid_request_does_not_hurt_the_server(served: ServerThread) -> None:
    gone = raw(served.path)
    gone.sendall(request(1, "sleep", seconds=0.1))
    gone.close()
    time.sleep(0.2)
    with ControlClient(served.path) as client:
        assert client.call("ping") == "pong"


def read_to_end(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def test_half_a_request_then_silence_is_answered_and_closed(sock_path: Path, toy: ToyDispatcher) -> None:
    with ServerThread(toy, sock_path, idle_timeout=0.3, request_timeout=30) as served, raw(served.path) as stalled:
        stalled.sendall(b'{"jsonrpc":"2.0",')
        started = time.monotonic()
        replies = [msgspec.json.decode(line) for line in read_to_end(stalled).splitlines()]
        assert 0.25 < time.monotonic() - started < 2.5
    assert [r["error"]["data"]["code"] for r in replies] == ["request.timeout"]
    assert replies[0]["id"] is None and "newline" in replies[0]["error"]["message"]
    assert toy.calls == []


def test_a_trickled_request_is_cut_at_the_request_timeout_and_blocks_nobody(
    sock_path: Path, toy: ToyDispatcher
) -> None:
    line = request(1, "echo", pad="t" * 200)
    with ServerThread(toy, sock_path, idle_timeout=5, request_timeout=0.6) as served:
        # Within the limit, byte by byte: answered like any other request.
        with raw(served.path) as quick:
            for byte in request(2, "ping"):
                quick.send(bytes([byte]))
                time.sleep(0.005)
            assert read_replies(quick, 1) == [{"jsonrpc": "2.0", "id": 2, "result": "pong"}]
        # A byte every 20 ms, each pause far below the idle timeout: the whole line would take 5 s.
        trickler = raw(served.path)
        stop = threading.Event()
        cut: list[float] = []

        def trickle() -> None:
            started = time.monotonic()
            try:
                for byte in line:
                    if stop.is_set():
                        return
                    trickler.send(bytes([byte]))
                    time.sleep(0.02)
            except (BrokenPipeError, ConnectionResetError):
                cut.append(time.monotonic() - started)

        sender = threading.Thread(target=trickle)
        sender.start()
        latencies = []
        for _ in range(10):  # meanwhile other clients are served at once
            t = time.monotonic()
            with ControlClient(served.path) as client:
                assert client.call("ping") == "pong"
            latencies.append(time.monotonic() - t)
            time.sleep(0.05)
        trickler.settimeout(5)
        data = b""
        while chunk := trickler.recv(65536):
            data += chunk
        stop.set()
        sender.join(10)
        trickler.close()
    assert max(latencies) < 0.3
    replies = [msgspec.json.decode(x) for x in data.splitlines()]
    assert [r["error"]["data"]["code"] for r in replies] == ["request.timeout"]
    assert replies[0]["error"]["data"]["request_timeout_seconds"] == 0.6
    assert "echo" not in toy.calls


def test_a_client_that_never_reads_is_cut_off_and_blocks_nobody(sock_path: Path, toy: ToyDispatcher) -> None:
    with ServerThread(toy, sock_path, write_timeout=0.5) as served:
        flood = raw(served.path)
        flood.setblocking(False)
        sent = 0
        started = time.monotonic()
        cut_off = False
        while time.monotonic() - started < 5:
            try:
                sent += flood.send(request(1, "echo", pad="z" * 4000))
            except BlockingIOError:
                with ControlClient(served.path) as client:  # others are served while it stalls
                    assert client.call("ping") == "pong"
                time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
                break
        elapsed = time.monotonic() - started
        flood.close()
        assert cut_off, "the server kept a client that reads nothing"
        assert 0.5 < elapsed < 4
        with ControlClient(served.path) as client:
            assert client.call("ping") == "pong"
    assert sent > 100_000


def test_shutdown_does_not_wait_for_a_client_that_never_reads(sock_path: Path, toy: ToyDispatcher) -> None:
    server = ServerThread(toy, sock_path, write_timeout=60).__enter__()
    flood = raw(sock_path)
    flood.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        for _ in range(5000):
            flood.send(request(1, "echo", pad="z" * 4000))
    time.sleep(0.3)  # the server is now stuck writing replies nobody reads
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    flood.close()


def test_connections_beyond_the_limit_are_told_printd_is_busy(sock_path: Path, toy: ToyDispatcher) -> None:
    with ServerThread(toy, sock_path, max_clients=3, max_clients_per_user=3, reserved_for_supervisors=0) as served:
        held = [ControlClient(served.path) for _ in range(3)]
        for client in held:
            assert client.call("ping") == "pong"  # each is connected and counted
        with ControlClient(served.path) as extra, pytest.raises(PrintdError) as busy:
            extra.call("ping")
        assert busy.value.code == "server.busy" and busy.value.details == {"limit": 3, "setting": "max_clients"}
        assert "try again" in busy.value.message
        with raw(served.path) as s:  # answered, then a clean end of stream
            s.sendall(request(9, "ping"))
            replies = [msgspec.json.decode(x) for x in read_to_end(s).splitlines()]
        assert [(r["id"], r["error"]["data"]["code"]) for r in replies] == [(None, "server.busy")]
        held.pop().close()
        time.sleep(0.1)
        with ControlClient(served.path) as client:
            assert client.call("ping") == "pong"
        for client in held:
            assert client.call("ping") == "pong"
            client.close()


def test_many_clients_at_once_up_to_the_limit(sock_path: Path, toy: ToyDispatcher) -> None:
    with ServerThread(toy, sock_path, max_clients=40, max_clients_per_user=40) as served:
        clients = [ControlClient(served.path) for _ in range(40)]
        try:
            with ThreadPoolExecutor(40) as pool:
                replies = list(pool.map(lambda c: c.call("sleep", {"seconds": 0.3, "tag": id(c)}), clients))
        finally:
            for c in clients:
                c.close()
    assert replies == [id(c) for c in clients]


def test_the_last_slots_are_kept_for_supervisors(sock_path: Path, toy: ToyDispatcher) -> None:
    # Every connection here is this process's user: the resolver makes the first five viewers, the rest supervisors.
    roles = iter([Role.VIEWER] * 5 + [Role.SUPERVISOR] * 3)
    limits = {"max_clients": 6, "max_clients_per_user": 6, "reserved_for_supervisors": 2}
    with ServerThread(toy, sock_path, role_resolver=lambda _: next(roles), **limits) as served:
        staff = [ControlClient(served.path) for _ in range(4)]
        assert [c.call("ping") for c in staff] == ["pong"] * 4
        with ControlClient(served.path) as viewer, pytest.raises(PrintdError) as busy:
            viewer.call("ping")
        assert busy.value.details == {"limit": 4, "setting": "reserved_for_supervisors", "reserved": 2}
        assert "kept for supervisors" in busy.value.message
        supervisors = [ControlClient(served.path) for _ in range(2)]
        assert [c.call("whoami")["role"] for c in supervisors] == [Role.SUPERVISOR] * 2  # type: ignore[index]
        with ControlClient(served.path) as late, pytest.raises(PrintdError) as full:
            late.call("ping")
        assert full.value.details == {"limit": 6, "setting": "max_clients"}
        for c in staff + supervisors:
            c.close()


def test_a_user_over_their_share_is_refused_by_name_without_a_lookup(sock_path: Path, toy: ToyDispatcher) -> None:
    looked_up: list[int] = []

    def resolve(creds: PeerCredentials) -> Role:
        looked_up.append(creds.uid)
        return Role.VIEWER

    with ServerThread(toy, sock_path, max_clients=8, max_clients_per_user=2, role_resolver=resolve) as served:
        held = [ControlClient(served.path) for _ in range(2)]
        assert [c.call("ping") for c in held] == ["pong"] * 2
        for _ in range(5):
            with ControlClient(served.path) as extra, pytest.raises(PrintdError) as busy:
                extra.call("ping")
            me = pwd.getpwuid(os.geteuid()).pw_name
            assert busy.value.details == {"limit": 2, "setting": "max_clients_per_user", "user": me}
            assert busy.value.message.startswith(f"{me} already has 2 connections open")
        for c in held:
            c.close()
    assert looked_up == [os.geteuid()] * 2


def test_refusals_at_once_are_bounded(sock_path: Path, toy: ToyDispatcher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "MAX_REFUSING", 4)
    monkeypatch.setattr(server_module, "LINGER_QUIET_SECONDS", server_module.LINGER_SECONDS)  # each refusal lasts
    with (
        ServerThread(toy, sock_path, max_clients=1, reserved_for_supervisors=0) as served,
        ControlClient(served.path) as held,
    ):
        assert held.call("ping") == "pong"
        flood = [raw(sock_path) for _ in range(20)]
        told = [read_to_end(s) for s in flood]
        assert [bool(t) for t in told] == [True] * 4 + [False] * 16  # the rest closed without a word
        for s in flood:
            s.close()
        time.sleep(0.2)
        with raw(sock_path) as late:  # the refusals done, the next caller is told again
            assert b"server.busy" in read_to_end(late)
        assert held.call("ping") == "pong"


def test_batch_and_deep_nesting_are_refused_and_the_connection_kept(served: ServerThread, toy: ToyDispatcher) -> None:
    def nested(rid: int, depth: int) -> bytes:
        return b'{"jsonrpc":"2.0","id":%d,"method":"echo","params":{"a":%s%s}}\n' % (rid, b"[" * depth, b"]" * depth)

    with raw(served.path) as s:
        s.sendall(b"[" + request(1, "ping").strip() + b"," + request(3, "ping").strip() + b"]\n")
        s.sendall(nested(2, 40) + nested(5, 200_000) + request(4, "ping"))
        replies = read_replies(s, 4)
    assert [(r["id"], r.get("error", {}).get("data", {}).get("code")) for r in replies] == [
        (None, "request.invalid"),
        (2, "request.invalid"),
        (None, "request.invalid"),  # too deep even to read its id
        (4, None),
    ]
    assert "Batch" in replies[0]["error"]["message"]
    assert toy.calls == ["ping"]


def test_half_closed_client_gets_its_answers(served: ServerThread) -> None:
    with raw(served.path) as s:
        s.sendall(request(1, "ping") + b'{"jsonrpc":"2.0","id":2,"method":"ping"}')  # no final newline
        s.shutdown(socket.SHUT_WR)
        assert [r["id"] for r in read_replies(s, 2)] == [1, 2]


# ---- roles -----------------------------------------------------------------------------------------


def served_as(toy: ToyDispatcher, path: Path, role: Role | None) -> ServerThread:
    def resolver(_: PeerCredentials) -> Role | None:
        return role

    return ServerThread(toy, path, role_resolver=resolver)


def test_forbidden_names_the_granting_group(sock_path: Path, toy: ToyDispatcher) -> None:
    with served_as(toy, sock_path, Role.VIEWER) as served, ControlClient(served.path) as client:
        assert client.call("ping") == "pong"
        with pytest.raises(PrintdError) as denied:
            client.call("submit", {"ref": "A-1"})
    assert denied.value.code == "auth.forbidden"
    assert denied.value.details["groups"] == ["printd-operator", "printd-admin"]
    assert denied.value.details["required_role"] == "operator"
    assert "'printd-operator'" in denied.value.message
    assert toy.calls == ["ping"]


def test_no_role_learns_nothing_but_forbidden(sock_path: Path, toy: ToyDispatcher) -> None:
    with served_as(toy, sock_path, None) as served, raw(served.path) as s:
        s.sendall(
            request(1, "ping")
            + request(2, "receive", count=5)
            + request(3, "nope")
            + b"{oops\n\xff\n[]\n"
            + b'{"jsonrpc":"2.0","method":"ping"}\n'  # a notification: no answer, and not run
            + request(4, "ping")
        )
        replies = read_replies(s, 7)
    assert [r["id"] for r in replies] == [1, 2, 3, None, None, None, 4]
    assert {r["error"]["data"]["code"] for r in replies} == {"auth.forbidden"}
    assert all(r["error"]["data"]["role"] is None and "has no printd role" in r["error"]["message"] for r in replies)
    assert replies[1]["error"]["data"]["required_role"] == "supervisor"  # a real method says what it needs
    assert replies[2]["error"]["data"]["method"] is None  # an unknown one is not confirmed or denied
    assert replies[2]["error"]["data"]["required_role"] == "viewer"
    assert toy.calls == []


def test_forbidden_notifications_do_nothing(sock_path: Path, toy: ToyDispatcher) -> None:
    with served_as(toy, sock_path, Role.VIEWER) as served, raw(served.path) as s:
        s.sendall(b'{"jsonrpc":"2.0","method":"submit","params":{"ref":"A-1"}}\n' + request(1, "ping"))
        assert read_replies(s, 1) == [{"jsonrpc": "2.0", "id": 1, "result": "pong"}]
    assert toy.calls == ["ping"]


def test_a_broken_role_lookup_grants_nothing(sock_path: Path, toy: ToyDispatcher) -> None:
    def resolver(_: PeerCredentials) -> Role | None:
        raise OSError("directory service down")

    with (
        ServerThread(toy, sock_path, role_resolver=resolver) as served,
        ControlClient(served.path) as client,
        pytest.raises(PrintdError) as denied,
    ):
        client.call("ping")
    assert denied.value.code == "auth.forbidden"


def connect_as_nobody(path: Path, uid: int, gid: int) -> str:
    """Connect from a forked child that became another user; what it saw, as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only system calls from here, then _exit
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(str(path))
            except PermissionError:
                os.write(write_end, b"EACCES")
            else:
                s.sendall(request(1, "ping"))
                os.write(write_end, s.recv(65536))
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        seen = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0
    return seen.decode().strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
@pytest.mark.parametrize("group_can_connect", [False, True])
def test_a_real_other_user(toy: ToyDispatcher, group_can_connect: bool) -> None:
    nobody = 65534
    options: dict[str, Any] = {"socket_group": nobody} if group_can_connect else {}
    with tempfile.TemporaryDirectory(prefix="printd-") as public:
        os.chmod(public, 0o755)  # pytest's own tmp_path is private to root
        path = Path(public) / "s.sock"
        with ServerThread(toy, path, **options):
            seen = connect_as_nobody(path, nobody, nobody)
    if not group_can_connect:
        assert seen == "EACCES"  # mode 0660 in root's group: the kernel keeps nobody out
    else:
        reply = msgspec.json.decode(seen)
        assert reply["error"]["data"]["code"] == "auth.forbidden"  # connected, but in no printd group
    assert toy.calls == []


# ---- shutdown --------------------------------------------------------------------------------------


def test_clean_shutdown(sock_path: Path, toy: ToyDispatcher) -> None:
    server = ServerThread(toy, sock_path).__enter__()
    idle = raw(sock_path)
    busy = raw(sock_path)
    busy.sendall(request(7, "sleep", seconds=0.3, tag="done"))
    time.sleep(0.1)
    server.stop()
    assert not sock_path.exists()
    assert idle.recv(10) == b""
    assert read_replies(busy, 1) == [{"jsonrpc": "2.0", "id": 7, "result": "done"}]
    assert busy.recv(10) == b""
    with pytest.raises(DaemonUnreachableError, match="no socket there"):
        ControlClient(sock_path).call("ping")


def test_shutdown_leaves_a_replacement_socket_alone(sock_path: Path, toy: ToyDispatcher) -> None:
    server = ServerThread(toy, sock_path).__enter__()
    os.unlink(sock_path)
    newer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    newer.bind(str(sock_path))
    server.stop()
    assert sock_path.exists()
    newer.close()
