"""Socket activation: printd serves the listening socket systemd passes ($LISTEN_FDS, $LISTEN_PID), started here by
systemd-socket-activate, and creates its own socket only when none is passed."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.activation import ActivationError, control_socket, inherited_fds
from printd.control.client import ControlClient
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import ROOT, DaemonProcess, SimSpec, wait_for
from tests.notify_socket import NotifySocket
from tests.systemd_tools import systemd_tool


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


def activate(listen: Path, config: Path, notify: NotifySocket, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """``printd run`` under systemd-socket-activate: it listens on ``listen`` and execs printd on first contact."""
    command = [
        systemd_tool("systemd-socket-activate"),
        *options,
        f"--listen={listen}",
        f"--setenv=NOTIFY_SOCKET={notify.path}",
        "--setenv=PYTHONUNBUFFERED=1",
        "--",
        sys.executable,
        "-m",
        "printd.daemon",
        "run",
        "--config",
        str(config),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_for(listen.exists, 10, f"systemd-socket-activate to listen on {listen}", interval=0.02)
    return process


def test_a_client_of_the_passed_socket_starts_printd_and_is_served(tmp_path: Path, notify: NotifySocket) -> None:
    d = DaemonProcess(tmp_path, [SimSpec("p1")])
    config = d.write_config()  # its [station] socket is printd.sock: the passed one must win
    listen = tmp_path / "activated.sock"
    process = activate(listen, config, notify, d.log_path)
    try:
        assert not notify.messages  # nothing runs until someone connects
        client = ControlClient(listen, timeout=30)
        status = client.call("status", {})  # queued by the kernel while printd starts, then answered
        assert isinstance(status, dict) and [p["name"] for p in status["printers"]] == ["p1"]
        ready = notify.wait_for("READY", "1")
        assert ready.pid == process.pid  # systemd-socket-activate execs printd in its own process

        client.call("stock.receive", {"count": 3, "ref": "DO-1"})
        face = tmp_path / "face.png"
        face.write_bytes(card_png("ACTIVATED"))
        client.call("jobs.submit", {"job": {"ref": "a-1", "front": str(face)}})
        wait_for(lambda: client.call("jobs.get", {"job": "a-1"})["state"] == "done", 30, "the card")  # type: ignore[index]
        with ControlClient(listen, timeout=10) as second:  # and the next client too
            assert second.call("jobs.get", {"job": "a-1"})["state"] == "done"  # type: ignore[index]
        client.close()
        assert not Path(d.socket).exists()  # it never made a socket of its own
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert listen.exists()  # the passed socket belongs to whoever passed it: printd leaves it in place
    events = [json.loads(line) for line in d.log_path.read_text().splitlines() if line.startswith("{")]
    activated = next(e for e in events if e["event"] == "control.socket_activated")
    assert activated["socket"] == str(listen)
    differs = next(e for e in events if e["event"] == "control.socket_differs")
    assert differs["configured"] == d.socket
    store = d.open_store()
    assert_ledger_consistent(store)
    assert store.balance().issued == 1 == d.physical_truth("p1")[0].in_hopper
    store.close()


def test_a_passed_socket_printd_cannot_serve_is_refused_with_the_reason(tmp_path: Path, notify: NotifySocket) -> None:
    d = DaemonProcess(tmp_path, [SimSpec("p1")])
    config = d.write_config()
    listen = tmp_path / "datagram.sock"
    process = activate(listen, config, notify, d.log_path, "--datagram")
    try:
        poke = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        poke.sendto(b"hello", str(listen))  # the first datagram makes systemd-socket-activate start printd
        poke.close()
        assert process.wait(30) == 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    output = d.log_path.read_text()
    assert "cannot start: systemd passed no listening Unix stream socket (fd 3: AF_UNIX SOCK_DGRAM" in output
    assert "ListenStream=" in output
    assert not notify.with_field("READY")


def test_descriptors_meant_for_another_process_are_left_alone() -> None:
    environ = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "printd.socket"}
    assert inherited_fds(environ) == []
    assert environ == {}  # never passed on to a child either
    assert inherited_fds({}) == []


def test_the_listening_socket_bound_to_the_configured_path_is_chosen(tmp_path: Path) -> None:
    sockets = []
    for name in ("other.sock", "printd.sock"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(tmp_path / name))
        s.listen()
        sockets.append(s)
    unused = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fds = [unused.detach(), *(s.detach() for s in sockets)]
    chosen = control_socket(fds, str(tmp_path / "printd.sock"))
    assert chosen is not None and chosen.getsockname() == str(tmp_path / "printd.sock")
    for fd in fds:  # the others are closed, the chosen one is open
        if fd != chosen.fileno():
            with pytest.raises(OSError):
                os.fstat(fd)
    chosen.close()
    assert control_socket([]) is None


def test_a_bound_but_not_listening_socket_is_no_control_socket(tmp_path: Path) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(tmp_path / "idle.sock"))
    with pytest.raises(ActivationError, match=r"AF_UNIX SOCK_STREAM \(not listening\)"):
        control_socket([s.detach()])


def test_without_passed_sockets_printd_makes_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTEN_PID", "1")  # systemd's variables meant for another process are ignored
    monkeypatch.setenv("LISTEN_FDS", "1")
    d = DaemonProcess(tmp_path, [SimSpec("p1")])
    d.start()
    try:
        with d.client() as client:
            assert client.call("status", {})
        # Once it answers: the socket file appears at bind() and gets its mode before listen(), when no one can
        # connect yet; a look at the file before the first answer could catch that moment.
        assert stat.S_IMODE(os.stat(d.socket).st_mode) == 0o660
        assert d.stop() == 0
    finally:
        d.kill()
    assert not Path(d.socket).exists()  # its own socket file is removed on the way out
