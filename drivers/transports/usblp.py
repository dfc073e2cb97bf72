"""A Transport over a Linux usblp device file (/dev/usb/lp0), closed and reopened between command and reply."""

# URL form: ``usblp:///dev/usb/lp0[?write_timeout=<seconds>]`` (default 10 s for one command to go out).
#
# Evolis printers under the kernel's usblp driver only answered when the device was closed after writing a
# command and opened again to read its reply (dpavlin/Printer-EVOLIS does the same). So `write` opens the
# device, writes, waits for the data to leave and closes it; the first `read` after it opens it again, and
# it stays open for the reads of that reply. The reply is not lost meanwhile: a USB printer sends only when
# the host asks, and usblp asks from the moment the device is opened.
#
# The device is opened O_NONBLOCK. usblp then returns from write() before the data has left, and kills what
# is still in flight on close, so `write` waits with poll() until the device is writable again (usblp's
# "write complete") before closing. usblp lets one process at a time have the device open.

from __future__ import annotations

import errno
import os
import select
import time
import urllib.parse

from drivers.base import PrinterOfflineError
from drivers.transport import TransportError

SCHEME = "usblp://"
DEFAULT_WRITE_TIMEOUT = 10.0
READ_SIZE = 4096

_GONE = (errno.ENODEV, errno.ENOENT, errno.ENXIO, errno.EIO, errno.ESHUTDOWN, errno.EPIPE)


class UsblpURLError(ValueError):
    """A usblp:// URL that cannot be used; the message names the URL and what is expected."""


def parse_usblp_url(url: str) -> tuple[str, float]:
    """``usblp:///dev/usb/lp0?write_timeout=5`` -> (device path, write timeout in seconds)."""
    if not url.startswith(SCHEME):
        raise UsblpURLError(f"{url!r} is not a usblp URL: expected usblp:///dev/usb/lp0")
    path, _, query = url[len(SCHEME) :].partition("?")
    if not path.startswith("/") or "#" in url:
        raise UsblpURLError(f"{url!r}: expected an absolute device path, e.g. usblp:///dev/usb/lp0")
    try:
        options = dict(urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)) if query else {}
    except ValueError:
        raise UsblpURLError(f"{url!r}: the options are not name=value pairs joined by '&'") from None
    unknown = set(options) - {"write_timeout"}
    if unknown or query.count("write_timeout=") > 1:
        raise UsblpURLError(f"{url!r}: the one option is write_timeout (given once)")
    timeout = DEFAULT_WRITE_TIMEOUT
    if "write_timeout" in options:
        try:
            timeout = float(options["write_timeout"])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout < float("inf"):
            raise UsblpURLError(f"{url!r}: write_timeout {options['write_timeout']!r} is not seconds above 0")
    return path, timeout


class UsblpTransport:
    """`drivers.transport.Transport` over a usblp device file. The constructor opens the device once to
    check it (PrinterOfflineError naming what to fix if it cannot); later failures are TransportError."""

    def __init__(self, path: str, *, write_timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        self.path = path
        self.write_timeout = write_timeout
        self._fd: int | None = None
        self._closed = False
        try:
            os.close(self._open())
        except OSError as exc:
            raise PrinterOfflineError(_open_failure(path, exc)) from exc

    @classmethod
    def from_url(cls, url: str) -> UsblpTransport:
        path, write_timeout = parse_usblp_url(url)
        return cls(path, write_timeout=write_timeout)

    def write(self, data: bytes) -> None:
        self._check()
        self._release()
        deadline = time.monotonic() + self.write_timeout
        fd = self._reopen("writing")
        try:
            view = memoryview(bytes(data))
            while view:
                self._wait(fd, select.POLLOUT, deadline)
                try:
                    sent = os.write(fd, view)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise TransportError(_io_failure(self.path, exc, "writing")) from exc
                view = view[sent:]
            self._wait(fd, select.POLLOUT, deadline)  # the last block has left: closing would kill it
        finally:
            os.close(fd)

    def read(self, timeout: float) -> bytes:
        self._check()
        if self._fd is None:
            self._fd = self._reopen("reading")
        fd = self._fd
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        events = poller.poll(max(timeout, 0.0) * 1000)
        if not events:
            return b""
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError as exc:
            self._release()
            raise TransportError(_io_failure(self.path, exc, "reading")) from exc
        if not data:
            self._release()
            raise TransportError(f"printer device {self.path} hung up (unplugged?)")
        return data

    def close(self) -> None:
        self._closed = True
        self._release()

    @property
    def closed(self) -> bool:
        return self._closed

    # --- inside ---

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)

    def _reopen(self, doing: str) -> int:
        try:
            return self._open()
        except OSError as exc:
            raise TransportError(_io_failure(self.path, exc, f"reopening it for {doing}")) from exc

    def _release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _wait(self, fd: int, event: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(fd, event)
        remaining = deadline - time.monotonic()
        ready = poller.poll(max(remaining, 0.0) * 1000) if remaining > 0 else poller.poll(0)
        if not ready:
            raise TransportError(
                f"write timeout on {self.path}: the printer took no data for {self.write_timeout:g} s "
                "(printer busy, off or jammed?)"
            )
        if ready[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
            raise TransportError(f"printer device {self.path} hung up (unplugged?)")

    def _check(self) -> None:
        if self._closed:
            raise TransportError(f"printer device {self.path} is closed")


def _io_failure(path: str, exc: OSError, doing: str) -> str:
    if exc.errno in _GONE:
        return f"printer device {path} unplugged or switched off while {doing} ({exc.strerror})"
    if exc.errno == errno.EBUSY:
        return f"printer device {path} taken by another process while {doing} (a CUPS queue on the printer?)"
    return f"printer device {path} failed while {doing}: {exc.strerror}"


def _open_failure(path: str, exc: OSError) -> str:
    """The sentence a person needs when the device file cannot be opened."""
    if exc.errno == errno.ENOENT:
        return (
            f"printer device {path} does not exist: is the printer on and plugged in, and the usblp module "
            "loaded? (see /dev/usb/)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"no permission to open printer device {path}: add the printd user to the lp group, or give it "
            "the device with a udev rule"
        )
    if exc.errno == errno.EBUSY:
        return (
            f"printer device {path} is busy: another process has it open (a CUPS queue using the usb backend, "
            "another printd); usblp lets one process at a time open it"
        )
    if exc.errno in _GONE:
        return f"printer device {path} is there but the printer is not: unplugged or switched off?"
    return f"printer device {path} cannot be opened: {exc.strerror}"
