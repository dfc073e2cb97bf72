"""Test helper: a TCP proxy on 127.0.0.1 that can cut, refuse or blackhole the connections it carries."""

from __future__ import annotations

import contextlib
import enum
import socket
import struct
import threading
from types import TracebackType

CHUNK = 65536
ACCEPT_POLL_SECONDS = 0.1
RESET_ON_CLOSE = struct.pack("ii", 1, 0)
"""SO_LINGER on, for 0 seconds: closing the socket sends a reset, as a port nobody listens on answers."""


class Mode(enum.Enum):
    FORWARD = "forward"
    REFUSE = "refuse"
    """A new connection is reset at once, as by a host that does not listen."""
    BLACKHOLE = "blackhole"
    """A new connection is held and never answered, as behind a dead switch."""


class _Link:
    """One client's connection and the proxy's own to the target, closed together."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.cut = threading.Event()
        self.client_gone = threading.Event()
        """The client's side was closed on purpose: what the target still sends is read and thrown away."""
        self._closed = threading.Lock()

    def close(self) -> None:
        """Shut both sockets (which wakes their pumps) and close them."""
        self.cut.set()
        if not self._closed.acquire(blocking=False):
            return
        for sock in (self.client, self.server):
            _shut(sock)


class TcpProxy:
    """Listens on 127.0.0.1 at a free port and forwards each connection to ``target``.

    ``cut()`` drops every live connection at once; ``refuse()`` and ``blackhole()`` change what happens to new
    ones until ``resume()``; ``lose_reply_to(pattern)`` lets the next client bytes holding ``pattern`` reach the
    target and then cuts that connection before any answer comes back (a commit sent, its confirmation lost).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port = int(self._listener.getsockname()[1])
        self.mode = Mode.FORWARD
        self.accepted = 0
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._held: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lose_after: bytes | None = None
        self.reply_lost = threading.Event()
        """Set once ``lose_reply_to`` has struck and the target's answer came and was thrown away: the target has
        then handled everything it was sent."""
        self._acceptor = threading.Thread(target=self._accept, name="tcp-proxy-accept", daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def live(self) -> int:
        """Connections being forwarded now."""
        with self._lock:
            return len(self._links)

    def cut(self) -> int:
        """Close both sockets of every live connection, as a network cut would end them; returns how many."""
        with self._lock:
            links, self._links = self._links, set()
            held, self._held = self._held, []
        for link in links:
            link.close()
        for sock in held:
            _shut(sock)
        return len(links)

    def refuse(self) -> None:
        self.mode = Mode.REFUSE

    def blackhole(self) -> None:
        self.mode = Mode.BLACKHOLE

    def resume(self) -> None:
        """Forward new connections again; connections held by a blackhole are dropped."""
        self.mode = Mode.FORWARD
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            _shut(sock)

    def lose_reply_to(self, pattern: bytes) -> None:
        """Arm a one-time cut: the next client bytes holding ``pattern`` are forwarded, then the client's side is
        closed and whatever the target answers is read and thrown away."""
        self.reply_lost.clear()
        self._lose_after = pattern

    def close(self) -> None:
        self._stopping.set()
        self._acceptor.join(5)
        self._listener.close()
        self.cut()
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # ---- the threads ----------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            if self.mode is Mode.REFUSE:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
                client.close()
                continue
            if self.mode is Mode.BLACKHOLE:
                with self._lock:
                    self._held.append(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _shut(client)
                continue
            server.settimeout(None)
            link = _Link(client, server)
            with self._lock:
                self._links.add(link)
                self._threads = [t for t in self._threads if t.is_alive()]
                for source, sink, name in ((client, server, "up"), (server, client, "down")):
                    pump = threading.Thread(
                        target=self._pump, args=(link, source, sink), name=f"tcp-proxy-{name}", daemon=True
                    )
                    self._threads.append(pump)
                    pump.start()

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        """Copy one direction until either side ends or the link is cut. When the client's side was closed on
        purpose, the target's side stays open until the target answers (it has then handled all it was sent)."""
        upstream = source is link.client
        tail = b""
        try:
            while not link.cut.is_set():
                data = source.recv(CHUNK)
                if link.client_gone.is_set():
                    if data:  # the target answered what the client will never hear of
                        self.reply_lost.set()
                    break
                if not data:
                    break
                pattern = self._lose_after
                if upstream and pattern is not None and pattern in tail + data:
                    # the client is gone before these bytes reach the target, so no answer to them reaches it
                    self._lose_after = None
                    link.client_gone.set()
                    sink.sendall(data)
                    _shut(link.client)
                    return
                sink.sendall(data)
                tail = (tail + data)[-len(pattern) :] if pattern else b""
        except OSError:
            pass
        with self._lock:
            self._links.discard(link)
        link.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
