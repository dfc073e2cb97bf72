"""Opening a file for a person: printd reads job images on a caller's behalf, never beyond what they may read.

printd runs with its own privileges, which cover the spool's kept job files and the station's state. A job that
names an image by path is read only if the person behind it (the control socket's caller, or the owner of a
spooled job file) could read it themselves: every directory on the way searchable and the file readable by the
owner, group or other permission bits that apply to them, as the kernel decides it. Access granted only by an
ACL is not seen, so such a file is refused; the caller can send the image inline (a ``data:`` URI) instead.

The decision is made on what is actually opened, never on a second lookup of the same path: the path is walked
one name at a time from directory descriptors, symbolic links read and followed by the walk itself, each
directory's permission taken from the descriptor the next name is looked up in and the file's from the open
descriptor that is then read. A path changed meanwhile (a link swapped) may change which file is opened, never
which file the decision was made on. Only regular files are read, and an open never blocks (on a pipe).
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path

_READ, _SEARCH = 4, 1
MAX_LINKS = 40  # symbolic links followed in one walk, as the kernel allows
_DIRECTORY = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class ReadForbiddenError(Exception):
    """The person may not reach or read the file, so printd does not read it for them."""


class NotRegularFileError(OSError):
    """The path leads to a pipe, a device or a socket, which printd never reads."""


def group_ids(uid: int, gid: int) -> frozenset[int]:
    """``uid``'s primary group ``gid`` and the supplementary groups the user database gives the user."""
    gids = {gid}
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        pass
    else:
        gids.update(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return frozenset(gids)


@dataclass(frozen=True)
class Reader:
    """A Unix identity: a user id and every group id it holds."""

    uid: int
    gids: frozenset[int]

    @classmethod
    def of(cls, uid: int, gid: int) -> Reader:
        return cls(uid, group_ids(uid, gid))

    def allows(self, st: os.stat_result, bit: int) -> bool:
        """Whether the permission bits of ``st`` give this identity ``bit`` (4 read, 1 search)."""
        if self.uid == 0:
            return True
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid == self.uid:
            return bool((mode >> 6) & bit)
        if st.st_gid in self.gids:
            return bool((mode >> 3) & bit)
        return bool(mode & bit)


def open_regular(path: str | Path, *, reader: Reader | None, reached: Path | None = None) -> int:
    """A descriptor open for reading on the regular file ``path`` leads to; the caller closes it.

    ``reader``: the person the file is read for (None: printd itself, whom the kernel alone judges); raises
    ``ReadForbiddenError`` if they could not open it themselves. ``reached``: a directory the reader is known to
    have reached (it put the job file there): a relative ``path`` starts there, and neither it nor those above it
    need to be searchable by the reader. Raises ``NotRegularFileError`` for a pipe, device or socket,
    ``IsADirectoryError``, ``FileNotFoundError`` (only where the reader may see it) and other ``OSError``s."""
    walk = _Walk(reader, reached)
    try:
        return walk.open(os.fspath(path))
    finally:
        walk.close()


class _Walk:
    """One lookup of a path, name by name as the kernel does it, deciding on the descriptors it uses."""

    def __init__(self, reader: Reader | None, reached: Path | None) -> None:
        self.reader = reader if reader is not None and reader.uid != 0 else None  # None: nothing to check
        self.reached = reached
        self.trusted = _lineage(reached) if self.reader is not None and reached is not None else frozenset()
        self.links = 0
        self.fd = -1

    def open(self, path: str) -> int:
        self._start(path)
        names = deque(path.split("/"))
        while names:
            name = names.popleft()
            if name in ("", "."):
                continue
            self._may_search()
            found = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            if stat.S_ISLNK(found.st_mode):
                self._follow(name, names)
            elif names:
                self._move(os.open(name, _DIRECTORY, dir_fd=self.fd))
            else:
                return self._open_file(name, found)
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))

    def _start(self, path: str) -> None:
        if path.startswith("/"):
            start = "/"
        elif self.reached is not None:
            start = os.fspath(self.reached)  # printd's own directory: its links are printd's configuration
        else:
            raise ValueError("a relative path needs the directory it is relative to")
        self._move(os.open(start, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))

    def close(self) -> None:
        self._move(-1)

    def _move(self, fd: int) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = fd

    def _may_search(self) -> None:
        if self.reader is None:
            return
        st = os.fstat(self.fd)
        if (st.st_dev, st.st_ino) not in self.trusted and not self.reader.allows(st, _SEARCH):
            raise ReadForbiddenError

    def _follow(self, name: str, names: deque[str]) -> None:
        self.links += 1
        if self.links > MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
        target = os.readlink(name, dir_fd=self.fd)
        if not target:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        if target.startswith("/"):
            self._move(os.open("/", _DIRECTORY))
        names.extendleft(reversed(target.split("/")))

    def _open_file(self, name: str, found: os.stat_result) -> int:
        # The type seen before opening only spares a device the open; the descriptor's own decides.
        _check_type(found)
        fd = os.open(name, _FILE, dir_fd=self.fd)
        try:
            opened = os.fstat(fd)
            _check_type(opened)
            if self.reader is not None and not self.reader.allows(opened, _READ):
                raise ReadForbiddenError
        except BaseException:
            os.close(fd)
            raise
        return fd


def _check_type(st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(errno.EINVAL, "not a regular file")


def _lineage(directory: Path) -> frozenset[tuple[int, int]]:
    """The (device, inode) of ``directory`` and of every directory above it, found by path: it is printd's own."""
    real = Path(os.path.realpath(directory))
    return frozenset((st.st_dev, st.st_ino) for st in map(os.stat, (real, *real.parents)))
