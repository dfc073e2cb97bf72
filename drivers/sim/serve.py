"""A simulated printer served on a pseudo-terminal, so that a host drives it as a serial (or usblp) printer."""

# The server keeps the pty's master side for its whole life and never holds the slave side open itself, so
# the kernel tells it when the host closes the slave: the master then reads EIO (after the host's last
# bytes) and polls as hung up until a host opens the slave again. Each close forgets a half-received
# command (`SimPrinter.reset_link`), as a printer does when its link drops. Replies written while no host
# has the slave open wait in the terminal for the next one that does; that is what the usblp
# close-and-reopen host needs.
#
# A printer whose firmware hung (a scripted "printer hangs", `SimPrinter.hung`) reads nothing more: the server
# stops reading the master, so the host's writes fill the terminal's buffer and then block in the kernel, and
# it sends nothing, until it is stopped (a signal still wakes it). A new server on the state file is the power
# cycle.

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import threading
import tty
from pathlib import Path
from typing import Protocol

HANGUP_POLL = 0.02
"""Seconds between looks at the master while no host has the terminal open (it reports a hang-up at once)."""
READ_SIZE = 65536


class LinkPrinter(Protocol):
    """The printer side of a link: `drivers.sim.printer.SimPrinter`, or a test's wrapper around one."""

    def receive(self, data: bytes) -> bytes: ...

    def reset_link(self) -> None: ...


class PtyServer:
    """Serves ``printer`` on a new pseudo-terminal whose slave device is `path`: `serve_forever` runs the
    link in the calling thread until `stop`. `close` ends the terminal: a host holding the slave then sees it
    hang up, like a printer switched off."""

    def __init__(self, printer: LinkPrinter) -> None:
        self.printer = printer
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # bytes through untouched: no echo, no CR/LF translation, no signals
            self.path = os.ttyname(slave)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._lock = threading.Lock()
        self._stopping = False
        self._closed = False
        self._hung_up = True
        self._out = bytearray()

    @property
    def wake_fd(self) -> int:
        """A byte written here wakes `serve_forever` (for `signal.set_wakeup_fd`)."""
        return self._wake_w

    def request_stop(self) -> None:
        """Ask `serve_forever` to return once the command in progress is answered (safe in a signal
        handler, with `wake_fd` given to `signal.set_wakeup_fd`)."""
        self._stopping = True

    def stop(self) -> None:
        """Ask `serve_forever` to return, from any thread."""
        self._stopping = True
        with self._lock:
            if not self._closed:
                with contextlib.suppress(BlockingIOError):
                    os.write(self._wake_w, b"\0")

    def serve_forever(self) -> None:
        while not self._stopping and self._wait():
            self._step()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                for fd in (self._master, self._wake_r, self._wake_w):
                    os.close(fd)

    # --- inside ---

    def _wait(self) -> bool:
        """Wait for the host, a late reply falling due, or a stop (False)."""
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        if self._printer_hung():
            return not poller.poll(None)  # the master is left alone: only a stop wakes the server
        due_in = self._take_late()
        if self._hung_up:
            return not poller.poll(HANGUP_POLL * 1000)
        poller.register(self._master, select.POLLIN | (select.POLLOUT if self._out else 0))
        return self._wake_r not in dict(poller.poll(None if due_in is None else due_in * 1000))

    def _printer_hung(self) -> bool:
        return bool(getattr(self.printer, "hung", False))

    def _take_late(self) -> float | None:
        """Queue the printer's late replies now due (`SimPrinter.take_late_replies`); seconds to the next."""
        take = getattr(self.printer, "take_late_replies", None)
        if take is None:
            return None
        late: bytes
        due_in: float | None
        late, due_in = take()
        self._out += late
        return due_in

    def _step(self) -> None:
        poller = select.poll()
        poller.register(self._master, select.POLLIN)
        revents = dict(poller.poll(0)).get(self._master, 0)
        if revents & select.POLLIN:
            try:
                data = os.read(self._master, READ_SIZE)
            except BlockingIOError:
                data = b""
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                self._hang_up()  # EIO: no host has the slave open any more, and its bytes are all read
                data = b""
            if data:
                self._hung_up = False
                self._out += self.printer.receive(data)
        elif revents & select.POLLHUP:
            self._hang_up()
        else:
            self._hung_up = False
        self._flush()

    def _hang_up(self) -> None:
        if not self._hung_up:
            self._hung_up = True
            self.printer.reset_link()

    def _flush(self) -> None:
        if self._out:
            with contextlib.suppress(BlockingIOError):
                del self._out[: os.write(self._master, self._out)]


class ServerLockedError(Exception):
    """Another simulator server already serves this state file."""


class StateLock:
    """An exclusive lock beside a state file (``<state>.lock``, holding the server's pid): one server a
    state file, and no operator action on the file while a server has the model in memory."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.path = state_file.with_name(state_file.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ServerLockedError naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ServerLockedError(f"a simulator server (pid {holder}) is serving {self.state_file}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def held_elsewhere(self) -> bool:
        """True while another process holds the lock (a server is running on the state file)."""
        try:
            self.acquire()
        except ServerLockedError:
            return True
        self.release()
        return False

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.ftruncate(fd, 0)
            os.close(fd)
