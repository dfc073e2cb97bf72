"""What staff may do beside the socket's methods, with real users and groups over a live daemon: the spool
submits a job file only for an owner who holds the role ``jobs.submit`` needs."""

from __future__ import annotations

import grp
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import test_roles
from tests.daemon_harness import SimSpec, wait_for
from tests.test_roles import Accounts, RolesDaemon, as_user, data_uri

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
