"""systemd's notification protocol (sd_notify): READY=1, STATUS=..., WATCHDOG=1, STOPPING=1."""

from __future__ import annotations

import contextlib
import os
import socket


class Notifier:
    """Sends datagrams to $NOTIFY_SOCKET when systemd gave one; does nothing otherwise."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address = ("\0" + address[1:]) if address and address.startswith("@") else address
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields: str | int) -> None:
        if self._sock is None or self._address is None:
            return
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        with contextlib.suppress(OSError):  # systemd going away must not take the daemon with it
            self._sock.sendto(message.encode(), self._address)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
