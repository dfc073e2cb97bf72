"""Who is calling: kernel credentials, user names, and roles from group membership."""

from __future__ import annotations

import grp
import os
import socket

import pytest

from printd.control.auth import (
    Caller,
    Role,
    actor_name,
    forbidden,
    groups_granting,
    parse_roles,
    peer_credentials,
    resolve_role,
    user_groups,
)

DAEMON = 990
GROUPS = {
    1001: {"alice", "printd"},
    1002: {"budi", "printd", "printd-operator"},
    1003: {"citra", "printd-admin", "cdrom"},
    1004: {"dewi", "plugdev"},
}


def lookup(uid: int, gid: int) -> set[str]:
    return GROUPS.get(uid, set())


def role(uid: int, config: dict[str, list[str]] | None = None) -> Role | None:
    if config is None:
        return resolve_role(uid, uid, group_lookup=lookup, daemon_uid=DAEMON)
    return resolve_role(uid, uid, config, group_lookup=lookup, daemon_uid=DAEMON)


def test_roles_are_ordered() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.SUPERVISOR
    assert Role.from_label("operator") is Role.OPERATOR
    with pytest.raises(ValueError, match="unknown role 'admin'"):
        Role.from_label("admin")


def test_roles_by_group_the_highest_wins() -> None:
    assert role(1001) is Role.VIEWER
    assert role(1002) is Role.OPERATOR
    assert role(1003) is Role.SUPERVISOR
    assert role(1004) is None
    assert role(4242) is None


def test_root_and_the_daemon_user_are_supervisors() -> None:
    assert role(0) is Role.SUPERVISOR
    assert role(DAEMON) is Role.SUPERVISOR


def test_configured_groups() -> None:
    config = {"viewer": ["plugdev"], "operator": ["cdrom"], "supervisor": []}
    assert role(1004, config) is Role.VIEWER
    assert role(1003, config) is Role.OPERATOR
    assert role(1002, config) is None


def test_bad_roles_config_names_the_key() -> None:
    with pytest.raises(ValueError, match="admin"):
        parse_roles({"admin": ["wheel"]})
    with pytest.raises(ValueError, match=r"roles\.viewer"):
        parse_roles({"viewer": "printd"})


def test_groups_granting_a_role() -> None:
    assert groups_granting(Role.VIEWER) == ["printd", "printd-operator", "printd-admin"]
    assert groups_granting(Role.SUPERVISOR) == ["printd-admin"]
    assert groups_granting(Role.SUPERVISOR, {"supervisor": []}) == []


def test_forbidden_names_the_group() -> None:
    caller = Caller(1001, 1001, 55, "alice", Role.VIEWER)
    err = forbidden("stock.receive", Role.SUPERVISOR, caller)
    assert err.code == "auth.forbidden" and err.rpc_number == -32001
    assert "'printd-admin'" in err.message and "alice" in err.message
    assert err.details == {
        "method": "stock.receive",
        "required_role": "supervisor",
        "role": "viewer",
        "user": "alice",
        "groups": ["printd-admin"],
    }
    nobody = forbidden("status", Role.VIEWER, Caller(1004, 1004, 56, "dewi", None), {"supervisor": []})
    assert "only root" in nobody.message and nobody.details["role"] is None


def test_forbidden_without_a_role_names_no_method() -> None:
    dewi = Caller(1004, 1004, 56, "dewi", None)
    err = forbidden(None, Role.VIEWER, dewi)
    assert err.message == (
        "printd answers only callers with the viewer role and dewi has no printd role; "
        "ask an administrator to add dewi to group 'printd' and log in again."
    )
    assert err.details["method"] is None and err.details["groups"] == ["printd", "printd-operator", "printd-admin"]
    long_name = forbidden("x" * 10_000, Role.OPERATOR, dewi)
    assert len(str(long_name.details["method"])) == 64 and len(long_name.message) < 300


def test_peer_credentials_of_a_real_socket() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_credentials(a) == (os.getpid(), os.getuid(), os.getgid())


def test_user_names_and_groups_of_the_current_user() -> None:
    uid, gid = os.getuid(), os.getgid()
    assert actor_name(uid) != f"uid:{uid}"
    assert actor_name(2**31 - 7) == f"uid:{2**31 - 7}"
    assert grp.getgrgid(gid).gr_name in user_groups(uid, gid)
    assert user_groups(2**31 - 7, gid) == {grp.getgrgid(gid).gr_name}
