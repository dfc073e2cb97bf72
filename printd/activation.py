"""Socket activation: the listening control socket systemd hands over ($LISTEN_FDS, $LISTEN_PID)."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import MutableMapping

SD_LISTEN_FDS_START = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


class ActivationError(Exception):
    """systemd passed sockets, but none printd can serve; the message says what was passed and what to fix."""


def inherited_fds(environ: MutableMapping[str, str] | None = None, pid: int | None = None) -> list[int]:
    """The file descriptors passed to this process, and the variables removed so no child inherits them.

    Like sd_listen_fds(3): only when $LISTEN_PID names this process; each descriptor is made close-on-exec.
    """
    env = os.environ if environ is None else environ
    owner, count = env.get("LISTEN_PID", ""), env.get("LISTEN_FDS", "")
    for name in _VARIABLES:
        env.pop(name, None)
    if not owner or not count:
        return []
    try:
        if int(owner) != (os.getpid() if pid is None else pid):
            return []
        n = int(count)
    except ValueError:
        return []
    fds = list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + max(n, 0)))
    for fd in fds:
        with contextlib.suppress(OSError):
            os.set_inheritable(fd, False)
    return fds


def control_socket(fds: list[int], expected_path: str | None = None) -> socket.socket | None:
    """The listening Unix stream socket among ``fds`` (the one bound to ``expected_path`` if several are).

    None when no descriptor was passed. The descriptors not taken are closed.
    """
    if not fds:
        return None
    candidates: list[socket.socket] = []
    seen: list[str] = []
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                seen.append(f"fd {fd}: not a socket")
                os.close(fd)
                continue
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            seen.append(f"fd {fd}: {exc.strerror or exc}")
            continue
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 0
        if sock.family == socket.AF_UNIX and sock.type == socket.SOCK_STREAM and listening:
            candidates.append(sock)
        else:
            seen.append(f"fd {fd}: {sock.family.name} {sock.type.name}{'' if listening else ' (not listening)'}")
            sock.close()
    if not candidates:
        raise ActivationError(
            "systemd passed no listening Unix stream socket ("
            + "; ".join(seen)
            + "); printd.socket needs ListenStream= with a socket path"
        )
    chosen = next((s for s in candidates if bound_path(s) == expected_path), candidates[0])
    for sock in candidates:
        if sock is not chosen:
            sock.close()
    return chosen


def bound_path(sock: socket.socket) -> str:
    """Where a passed socket listens, for the log (an abstract or unnamed socket shows as such)."""
    name = sock.getsockname()
    if isinstance(name, str) and name:
        return name
    if isinstance(name, bytes) and name:
        return "@" + name.lstrip(b"\0").decode(errors="replace")
    return "(unnamed)"
