"""`drivers.base.Encoder` over the simulated encoder's Unix socket (protocol: drivers/sim/encoder_endpoint.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from drivers.base import EncodeError, EncoderUnavailableError

SCHEME = "sim+unix://"
MAX_REPLY = 4096
NO_UID = "-"


def parse_encoder_url(url: str) -> Path:
    """The socket path of ``sim+unix:///path/to/encoder.sock``; ValueError saying what is expected."""
    if not url.startswith(SCHEME):
        raise ValueError(
            f"unknown encoder {url!r}: expected sim+unix:///path/to/encoder.sock (the simulator's encoder,"
            " python -m drivers.sim serve --encoder-socket PATH)"
        )
    path = url[len(SCHEME) :]
    if not path.startswith("/") or "?" in path or "#" in path:
        raise ValueError(f"encoder {url!r}: the socket path must be absolute, e.g. sim+unix:///run/sim/encoder.sock")
    return Path(path)


def open_encoder(url: str) -> SocketEncoder:
    """The encoder an ``encoder = "..."`` configuration key names (checked now; connected on first use)."""
    return SocketEncoder(parse_encoder_url(url))


class SocketEncoder:
    """Encodes the card parked at the contactless station through the simulator's encoder socket at ``path``.

    Connects on first use and again after a failure. Raises EncodeError when the chip cannot be encoded, with
    the chip UID when the reader got one, and without one when the encoder cannot be reached or answers
    nonsense. Not thread-safe: one caller, like the driver that calls it.
    """

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def encode(self, payload: bytes | None) -> str:
        request = b"ENCODE " + (b"-" if payload is None else payload.hex().encode("ascii")) + b"\n"
        try:
            sock = self._connected()
            sock.sendall(request)
            reply = self._read_line(sock)
        except OSError as exc:
            self.close()
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise EncoderUnavailableError(f"the chip encoder at {self.path} is not reachable: {reason}") from None
        status, _, rest = reply.partition(" ")
        if status == "OK" and rest and " " not in rest:
            return rest
        if status == "ERR":
            uid, _, message = rest.partition(" ")
            raise EncodeError(message or "the chip could not be encoded", chip_uid=None if uid == NO_UID else uid)
        self.close()
        raise EncodeError(f"the chip encoder at {self.path} gave an unreadable reply")

    def check(self) -> None:
        try:
            sock = self._connected()
            sock.sendall(b"PING\n")
            reply = self._read_line(sock)
        except OSError as exc:
            self.close()
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise EncoderUnavailableError(f"the chip encoder at {self.path} is not reachable: {reason}") from None
        if reply != f"OK {NO_UID}":
            self.close()
            raise EncodeError(f"the chip encoder at {self.path} gave an unreadable reply")

    def check_payload(self, payload: bytes | None) -> None:
        """The simulated chip stores any payload."""

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buffer = b""
        if sock is not None:
            sock.close()

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def _read_line(self, sock: socket.socket) -> str:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_REPLY:
                raise ConnectionError("reply too long")
            chunk = sock.recv(MAX_REPLY)
            if not chunk:
                raise ConnectionResetError("the encoder closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("ascii", "replace")
