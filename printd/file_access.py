"""Whether a person may read a file: printd reads job images on a caller's behalf, never beyond what they may read.

printd runs with its own privileges, which cover the spool's kept job files and the station's state. A job that
names an image by path is read only if the person behind it (the control socket's caller, or the owner of a
spooled job file) could read it themselves: every directory on the way searchable and the file readable by the
owner, group or other permission bits that apply to them, as the kernel decides it. Access granted only by an
ACL is not seen, so such a file is refused; the caller can send the image inline (a ``data:`` URI) instead.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

_READ, _SEARCH = 4, 1


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

    def may_read(self, path: Path, reached: Path | None = None) -> bool:
        """True if this identity could open ``path`` for reading (links followed, as ``open`` would), or could
        at least see that it does not exist (the read then says it is missing). ``reached``: a directory this
        identity is known to have reached (it put the job file there): it and those above it are not checked."""
        if self.uid == 0:
            return True
        base = None if reached is None else Path(os.path.abspath(reached))
        known = set() if base is None else {base, *base.parents}
        target = Path(os.path.realpath(path))
        try:
            # top down, the directories of the path as named and then of the file it leads to
            for end in (Path(os.path.abspath(path)), target):
                for directory in reversed(end.parents):
                    if directory in known:
                        continue
                    if not self._allows(os.stat(directory), _SEARCH):
                        return False
            return self._allows(os.stat(target), _READ)
        except FileNotFoundError:  # below directories it may search: it could see that much itself
            return True
        except OSError:
            return False

    def _allows(self, st: os.stat_result, bit: int) -> bool:
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid == self.uid:
            return bool((mode >> 6) & bit)
        if st.st_gid in self.gids:
            return bool((mode >> 3) & bit)
        return bool(mode & bit)
