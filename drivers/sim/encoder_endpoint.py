"""The simulated chip encoder served on a Unix socket, so a host in another process encodes the parked card.

Beside a real printer the contactless encoder is a device of its own (a PC/SC reader at the contactless
station), reached apart from the printer's USB or serial link. `python -m drivers.sim serve --encoder-socket PATH`
does the same for the simulator: the printer on its pty, its encoder on this socket, one physical model behind
both. `drivers.sim.encoder_client.SocketEncoder` is the host side (``encoder = "sim+unix://PATH"``).

Protocol: ASCII lines ending in LF; the host sends a request and reads its one reply before the next; any number
of requests a connection, several connections at once (the model serialises them).

    request   ENCODE <payload>        the chip data as hex digits (an even number, may be none), or "-" for no data
    reply     OK <uid>                the chip of the card at the contactless station was written and its UID read
              ERR <uid> <message>     it could not be: <uid> is the UID when the reader got one, else "-"
    request   PING                    is the encoder there? (asked before a blank is fed for a chip)
    reply     OK -

A line longer than `MAX_LINE` bytes, or one that is not a request, is answered ``ERR - <message>`` and the
connection is closed. The payload is personal data: it is never logged nor echoed.
"""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import threading
from pathlib import Path

import structlog

from drivers.base import EncodeError, Encoder

MAX_LINE = 2 * 65536 + 64
"""The longest request line: a 64 KiB payload as hex, the verb and the LF."""
NO_UID = "-"
SHUTDOWN_POLL = 0.05
"""Seconds between the serving thread's looks at a request to stop."""
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*\Z")

log = structlog.get_logger("drivers.sim.encoder_endpoint")


def answer(encoder: Encoder, line: bytes) -> tuple[bytes, bool]:
    """The reply to one request line, and whether the connection stays open."""
    try:
        verb, _, argument = line.decode("ascii").removesuffix("\n").partition(" ")
    except UnicodeDecodeError:
        return _error(NO_UID, "a request is ASCII text: ENCODE <hex payload or ->"), False
    if verb == "PING" and not argument:
        return f"OK {NO_UID}\n".encode("ascii"), True
    if verb != "ENCODE":
        return _error(NO_UID, "unknown request; the requests are ENCODE <hex payload or -> and PING"), False
    if argument == "-":
        payload = None
    elif _HEX.match(argument):
        payload = bytes.fromhex(argument)
    else:
        return _error(NO_UID, "the payload must be hex digits, an even number of them, or - for none"), False
    try:
        uid = encoder.encode(payload)
    except EncodeError as exc:
        return _error(exc.chip_uid or NO_UID, str(exc)), True
    except Exception as exc:  # the encoder broke: the host must reject the card, and hears why
        log.exception("sim.encoder_failed")
        return _error(NO_UID, f"the encoder failed ({type(exc).__name__})"), True
    return f"OK {uid}\n".encode("ascii"), True


def _error(uid: str, message: str) -> bytes:
    one_line = " ".join(message.split())
    return f"ERR {uid} {one_line}\n".encode("ascii", "replace")


class EndpointError(ValueError):
    """The socket cannot be served; the message names the path and why."""


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the host may be gone already
            super().finish()

    def handle(self) -> None:
        try:
            while True:
                line = self.rfile.readline(MAX_LINE + 1)
                if not line:
                    return
                if not line.endswith(b"\n"):
                    self.wfile.write(_error(NO_UID, f"request line longer than {MAX_LINE} bytes or cut short"))
                    return
                reply, keep = answer(self.server.encoder, line)
                self.wfile.write(reply)
                if not keep:
                    return
        except (BrokenPipeError, ConnectionResetError):  # the host went away, maybe mid-encode: the chip is what it is
            return


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, encoder: Encoder) -> None:
        self.encoder = encoder
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        super().__init__(str(path), _Handler)

    def hang_up(self) -> None:
        """End every open connection, as a reader unplugged would."""
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class EncoderEndpoint:
    """Serves ``encoder`` on a Unix socket at ``path`` (a stale socket file there is replaced) from a thread of
    its own, between `start` and `close`."""

    def __init__(self, encoder: Encoder, path: Path) -> None:
        self.encoder = encoder
        self.path = path
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_socket():
                self.path.unlink()
            self._server = _Server(self.path, self.encoder)
        except OSError as exc:  # e.g. a path over the 107 bytes a Unix socket name may have
            raise EndpointError(f"cannot serve the encoder on {self.path}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL,), name="sim-encoder", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.hang_up()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> EncoderEndpoint:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
