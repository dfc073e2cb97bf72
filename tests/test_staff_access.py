"""What staff may do beside the socket's methods, with real users and groups over a live daemon: the spool
submits a job file only for an owner who holds the role ``jobs.submit`` needs, and no user can take every one of
the socket's connections."""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import select
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import test_roles
from tests.daemon_harness import SimSpec, wait_for
from tests.test_roles import Accounts, RolesDaemon, as_user, data_uri, rpc

accounts = test_roles.accounts


@pytest.fixture(scope="module")
def station(accounts: Accounts) -> Iterator[RolesDaemon]:
    directory = Path(tempfile.mkdtemp(prefix="printd-staff-"))
    directory.chmod(0o755)  # the test users must reach the socket and the spool
    spool = directory / "spool"
    spool.mkdir()
    os.chown(spool, 0, grp.getgrnam(accounts.group("oper")).gr_gid)
    spool.chmod(0o3730)  # as printd.tmpfiles makes it: operators drop files, nobody lists them
    d = RolesDaemon(
        directory,
        [SimSpec("p1", cards=10)],
        control={"socket_group": accounts.group("sock"), "roles": accounts.roles_config()},
    )
    try:
        d.start()
        with d.client() as root:
            root.call("stock.receive", {"count": 10, "ref": "DO-STAFF"})
        yield d
    finally:
        d.kill()
        shutil.rmtree(directory, ignore_errors=True)


def drop(spool: Path, name: str, job: dict[str, object]) -> Callable[[], str]:
    """Place a job file as the README says: written under a dot name, then renamed."""

    def run() -> str:
        partial = spool / f".{name}.tmp"
        try:
            partial.write_text(json.dumps(job))
        except PermissionError:
            return "EACCES"
        partial.rename(spool / name)
        return "placed"

    return run


def test_the_spool_submits_only_for_owners_with_the_operator_role(station: RolesDaemon, accounts: Accounts) -> None:
    spool = station.directory / "spool"
    operator, viewer = accounts.users["operator"], accounts.users["viewer"]
    assert as_user(operator, drop(spool, "operator.json", {"ref": "spool-op", "front": data_uri("OP")})) == "placed"
    assert as_user(viewer, drop(spool, "viewer.json", {"ref": "spool-view", "front": data_uri("V")})) == "EACCES"
    # A viewer's file that got in all the same (a spool made by hand with the old permissions) is refused too.
    smuggled = spool / "viewer.json"
    smuggled.write_text(json.dumps({"ref": "spool-view", "front": data_uri("V")}))
    os.chown(smuggled, viewer.pw_uid, viewer.pw_gid)
    wait_for(lambda: not any(spool.glob("*.json")), 20, "both files to be taken")
    assert (spool / "done" / "operator.json").exists()
    text = (spool / "rejected" / "viewer.json.error.txt").read_text()
    assert "auth.forbidden" in text and "needs the operator role" in text
    assert f"{viewer.pw_name} has the viewer role" in text and repr(accounts.group("oper")) in text
    with station.client() as root:
        wait_for(lambda: root.call("jobs.get", {"job": "spool-op"})["state"] == "done", 20, "the operator's card")  # type: ignore[index]
        refs = [j["ref"] for j in root.call("jobs.list", {})]  # type: ignore[attr-defined,index]
    assert refs == ["spool-op"]
    store = station.open_store()
    try:
        history = store.job_history(store.get_job("spool-op").id)
    finally:
        store.close()
    assert history[0]["actor"] == operator.pw_name
    assert station.physical_truth("p1")[0].in_hopper == 1


def answered_at_once(connections: list[socket.socket]) -> list[dict[str, object] | None]:
    """The error each connection was sent before a second's quiet (None: nothing, it is still being served)."""
    data = {s: b"" for s in connections}
    open_ = list(connections)
    while open_ and (ready := select.select(open_, [], [], 1.0)[0]):
        for s in ready:
            chunk = s.recv(65536)
            data[s] += chunk
            if not chunk:
                open_.remove(s)
    return [json.loads(data[s].splitlines()[0])["error"] if data[s] else None for s in connections]


@contextlib.contextmanager
def held_open(user: pwd.struct_passwd, path: str, count: int) -> Iterator[list[dict[str, object] | None]]:
    """``count`` connections ``user`` opens and leaves idle until the block ends, from a child process of that
    user; yields what each was told at once."""
    report_r, report_w = os.pipe()
    release_r, release_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the user, connect, report, wait for the parent to let go
        status = 1
        try:
            os.close(report_r)
            os.close(release_w)
            os.setgroups(os.getgrouplist(user.pw_name, user.pw_gid))
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            connections = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(count)]
            for s in connections:
                s.connect(path)
            os.write(report_w, json.dumps(answered_at_once(connections)).encode())
            os.close(report_w)
            os.read(release_r, 1)
            status = 0
        finally:
            os._exit(status)
    os.close(report_w)
    os.close(release_r)
    try:
        with os.fdopen(report_r, "rb") as report:
            yield json.loads(report.read() or b"null")
    finally:
        os.close(release_w)
        assert os.waitpid(pid, 0)[1] == 0, "the child holding the connections failed"


def test_one_user_cannot_take_every_connection(station: RolesDaemon, accounts: Accounts) -> None:
    viewer = accounts.users["viewer"]
    with held_open(viewer, station.socket, 64) as told:  # 64: the default max_clients, every slot there is
        for who in ("operator", "nobody"):  # served: answered, or told what their role does not allow
            reply = as_user(accounts.users[who], rpc(station.socket, "status", {}))
            assert reply.get("result") or reply["error"]["code"] == "auth.forbidden", (who, reply)
        with station.client() as root:
            assert root.call("status", {})
        again = as_user(viewer, rpc(station.socket, "status", {}))["error"]
        assert told is not None
        refused = [t for t in told if t is not None]
        assert len(told) - len(refused) == 16  # a quarter of max_clients, the default per user
        assert {t["data"]["code"] for t in refused} == {"server.busy"}  # type: ignore[index]
        assert refused[0]["data"]["setting"] == "max_clients_per_user"  # type: ignore[index]
    assert again["code"] == "server.busy" and again["details"]["limit"] == 16
    assert again["details"]["user"] == viewer.pw_name and viewer.pw_name in again["message"]
    assert "max_clients_per_user" in again["message"]
    assert as_user(viewer, rpc(station.socket, "status", {}))["result"]  # the connections closed: served again
