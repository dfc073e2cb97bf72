"""systemd's notification protocol (sd_notify): READY=1, STATUS=..., WATCHDOG=1, STOPPING=1."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping


def watchdog_seconds(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog timeout systemd set for this process ($WATCHDOG_USEC), or None when there is none.

    $WATCHDOG_PID, when set, names the process the watchdog is meant for; any other process (a child that
    inherited the environment) must not ping.
    """
    env = os.environ if environ is None else environ
    owner = env.get("WATCHDOG_PID")
    if owner and owner.strip() != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Notifier:
    """Sends datagrams to $NOTIFY_SOCKET when systemd gave one; does nothing otherwise."""

    def __init__(self, address: str | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = address if address is not None else env.get("NOTIFY_SOCKET")
        self._address = ("\0" + address[1:]) if address and address.startswith("@") else address
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.watchdog_seconds = watchdog_seconds(env) if self._sock is not None else None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields: str | int) -> None:
        """One datagram, ``KEY=value`` lines in the order given (``ready=1, status="..."``)."""
        if self._sock is None or self._address is None:
            return
        message = "\n".join(f"{key.upper()}={_one_line(value)}" for key, value in fields.items())
        with contextlib.suppress(OSError):  # systemd going away must not take the daemon with it
            self._sock.sendto(message.encode(), self._address)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(value: str | int) -> str:
    # A newline inside a value would start a new (and unintended) KEY=value assignment.
    return str(value).replace("\n", " ")
