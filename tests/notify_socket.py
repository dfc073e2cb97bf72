"""Test helper: a real $NOTIFY_SOCKET (a Unix datagram socket) recording what printd tells systemd, and who sent it."""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_UCRED = struct.Struct("3i")


@dataclass(frozen=True)
class Notification:
    at: float  # time.monotonic() on arrival
    pid: int  # the sender, from the kernel (SCM_CREDENTIALS), as systemd checks it for NotifyAccess=main
    fields: dict[str, str]


class NotifySocket:
    """Binds ``path`` and records every datagram until closed."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.bind(self.path)
        self._sock.settimeout(0.1)
        self._lock = threading.Lock()
        self._messages: list[Notification] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify-socket", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data, ancillary, _, _ = self._sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
            except TimeoutError:
                continue
            except OSError:
                return
            pid = -1
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _UCRED.unpack(payload[: _UCRED.size])[0]
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self._lock:
                self._messages.append(Notification(time.monotonic(), pid, fields))

    @property
    def messages(self) -> list[Notification]:
        with self._lock:
            return list(self._messages)

    def with_field(self, key: str, value: str | None = None, since: float = 0.0) -> list[Notification]:
        return [m for m in self.messages if m.at >= since and key in m.fields and value in (None, m.fields[key])]

    def wait_for(self, key: str, value: str | None = None, timeout: float = 30.0, since: float = 0.0) -> Notification:
        deadline = time.monotonic() + timeout
        while True:
            found = self.with_field(key, value, since)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                seen = [m.fields for m in self.messages][-10:]
                raise AssertionError(f"no {key}={value or '*'} notification within {timeout:.0f} s; last: {seen}")
            time.sleep(0.02)

    def pings(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        return [m.at for m in self.with_field("WATCHDOG", "1", since) if m.at <= until]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            Path(self.path).unlink()


def largest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch between ``start`` and ``end`` without one of ``times``."""
    points = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(points))


@contextlib.contextmanager
def notify_environment(path: Path, monkeypatch: pytest.MonkeyPatch, watchdog_usec: int) -> Iterator[NotifySocket]:
    """A NotifySocket at ``path`` named in NOTIFY_SOCKET, with systemd's watchdog variables as a service would get
    them (WATCHDOG_USEC; no WATCHDOG_PID, so any process may ping), for daemons started meanwhile."""
    sock = NotifySocket(path)
    monkeypatch.setenv("NOTIFY_SOCKET", sock.path)
    monkeypatch.setenv("WATCHDOG_USEC", str(watchdog_usec))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    try:
        yield sock
    finally:
        sock.close()
