"""Who is calling: the peer's kernel credentials, their user name and the role their groups grant."""

from __future__ import annotations

import enum
import grp
import os
import pwd
import socket
import struct
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from printd.errors import PrintdError
from printd.file_access import Reader, group_ids


class Role(enum.IntEnum):
    """What a caller may do; a higher role includes everything below it."""

    VIEWER = 1
    OPERATOR = 2
    SUPERVISOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Role:
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"unknown role {label!r}; expected viewer, operator or supervisor") from None


RolesConfig = Mapping[str, Sequence[str]]
"""Role label → names of the Unix groups that grant it, as in the ``[control.roles]`` config table."""

DEFAULT_ROLES: RolesConfig = {
    "viewer": ["printd"],
    "operator": ["printd-operator"],
    "supervisor": ["printd-admin"],
}

GroupLookup = Callable[[int, int], Collection[str]]
"""(uid, gid) → names of every group the user is in."""


class PeerCredentials(NamedTuple):
    pid: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Caller:
    """The person (or program) behind a request. ``role`` None: known to the kernel, granted nothing."""

    uid: int
    gid: int
    pid: int
    user: str
    role: Role | None
    gids: frozenset[int] = frozenset()
    """Every group the caller holds, looked up once for the connection (empty: only ``gid`` is known)."""
    acts_for_accounts: bool = False
    """The Unix user may act on behalf of dashboard accounts: root, printd's own user, ``[control] web_users``."""
    account: str | None = None
    """The dashboard account a request is made on behalf of; ``user`` is then ``web:NAME``, ``role`` the account's."""

    def reader(self) -> Reader:
        """The caller as a reader of files: printd reads a file for them only if they may read it themselves."""
        return Reader(self.uid, self.gids | {self.gid})


_UCRED = struct.Struct("3i")


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """The connected peer's pid, uid and gid as the kernel recorded them at ``connect()``."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid, uid, gid)


def actor_name(uid: int) -> str:
    """The user name for ``uid``, or ``uid:N`` when the user database has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def user_groups(uid: int, gid: int) -> frozenset[str]:
    """Names of the caller's primary group ``gid`` and of the user's groups in the user database."""
    names = set()
    for g in group_ids(uid, gid):
        try:
            names.add(grp.getgrgid(g).gr_name)
        except KeyError:
            continue
    return frozenset(names)


def parse_roles(config: RolesConfig) -> dict[Role, tuple[str, ...]]:
    """Check a roles table; raises ``ValueError`` naming the bad key."""
    parsed: dict[Role, tuple[str, ...]] = {role: () for role in Role}
    for label, groups in config.items():
        role = Role.from_label(label)
        if isinstance(groups, str) or not all(isinstance(g, str) and g for g in groups):
            raise ValueError(f"roles.{label} must be a list of group names")
        parsed[role] = tuple(groups)
    return parsed


def resolve_role(
    uid: int,
    gid: int,
    roles_config: RolesConfig = DEFAULT_ROLES,
    *,
    group_lookup: GroupLookup = user_groups,
    daemon_uid: int | None = None,
) -> Role | None:
    """Root and the daemon's own user are supervisors; anyone else gets the highest role a group grants."""
    if uid == 0 or uid == (os.geteuid() if daemon_uid is None else daemon_uid):
        return Role.SUPERVISOR
    roles = parse_roles(roles_config)
    groups = set(group_lookup(uid, gid))
    for role in sorted(Role, reverse=True):
        if groups.intersection(roles[role]):
            return role
    return None


def groups_granting(role: Role, roles_config: RolesConfig = DEFAULT_ROLES) -> list[str]:
    """The groups that grant ``role``: its own first, then those of higher roles."""
    roles = parse_roles(roles_config)
    out: list[str] = []
    for r in sorted(Role):
        if r >= role:
            out.extend(g for g in roles[r] if g not in out)
    return out


def forbidden(
    method: str | None, needed: Role, caller: Caller, roles_config: RolesConfig = DEFAULT_ROLES
) -> PrintdError:
    """The ``auth.forbidden`` answer, naming the group an administrator should add the caller to.

    ``method`` None: the request is not one a caller without a role may be told anything about.
    """
    groups = groups_granting(needed, roles_config)
    has = f"has the {caller.role.label} role" if caller.role else "has no printd role"
    if groups:
        fix = f"ask an administrator to add {caller.user} to group {groups[0]!r} and log in again"
    else:
        fix = "no group grants it in the configuration, so only root can do this"
    what = f"{method[:64]} needs" if method is not None else "printd answers only callers with"
    return PrintdError(
        "auth.forbidden",
        f"{what} the {needed.label} role and {caller.user} {has}; {fix}.",
        {
            "method": None if method is None else method[:64],
            "required_role": needed.label,
            "role": caller.role.label if caller.role else None,
            "user": caller.user,
            "groups": groups,
        },
    )
