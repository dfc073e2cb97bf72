"""Who may do what, for real: Unix users and groups created for the test, each calling every method of a live
daemon from a process of its own, checked as one table (method by role), with the actor each change records."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import pwd
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from printd.cli import main as printctl_main
from printd.control.auth import Role
from printd.control.client import ControlClient
from printd.control.methods import Dispatcher
from printd.errors import PrintdError
from printd.station import Station
from printd.store import SqliteStore
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec, toml_value, wait_for
from tests.method_roles import ROLE_TABLE

# Callers in the order they try each method: the refused ones first, so the allowed ones find their job as set up.
CALLERS = ("viewer", "nobody", "operator", "supervisor", "root")
CALLER_ROLE: dict[str, Role | None] = {
    "viewer": Role.VIEWER,
    "nobody": None,  # may connect to the socket, has no printd role
    "operator": Role.OPERATOR,
    "supervisor": Role.SUPERVISOR,
    "root": Role.SUPERVISOR,
}
ALLOWED = [c for c in CALLERS if c not in ("viewer", "nobody")]  # the callers any operator method's targets are for

# Tables whose rows a call may add or change; every row a call adds must name the caller as its actor.
TABLES = ("jobs", "job_events", "ledger", "attempts", "printer_events", "accounts")
ACTOR_TABLES = ("job_events", "ledger", "printer_events", "accounts")
ACTOR_COLUMN = {"accounts": "changed_by"}


# ---- real users and groups --------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError(f"{name} is missing; install the passwd package")
    return found


@dataclass
class Accounts:
    """Throwaway groups (one per role, one for socket access) and users; removed again afterwards."""

    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    users: dict[str, pwd.struct_passwd] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

    def group(self, what: str) -> str:
        return f"pdt{what}{self.suffix}"

    def name(self, who: str) -> str:
        return f"pdt{who[:4]}{self.suffix}"

    def create(self) -> None:
        for what in ("view", "oper", "supv", "sock"):
            subprocess.run([_tool("groupadd"), self.group(what)], check=True, capture_output=True)
            self.groups.append(self.group(what))
        member_of = {
            "viewer": ["view"],
            "nobody": [],
            "operator": ["oper"],
            "supervisor": ["supv"],
            "outsider": None,  # not even in the socket's group
        }
        for who, role_groups in member_of.items():
            argv = [_tool("useradd"), "--no-create-home", "--shell", "/usr/sbin/nologin"]
            if role_groups is not None:
                argv += ["--no-user-group", "--gid", self.group("sock")]
                if role_groups:
                    argv += ["--groups", ",".join(self.group(g) for g in role_groups)]
            subprocess.run([*argv, self.name(who)], check=True, capture_output=True)
            self.users[who] = pwd.getpwnam(self.name(who))

    def remove(self) -> None:
        for entry in self.users.values():
            subprocess.run([_tool("userdel"), entry.pw_name], check=False, capture_output=True)
        for name in reversed(self.groups):
            subprocess.run([_tool("groupdel"), name], check=False, capture_output=True)

    def user_name(self, who: str) -> str:
        return "root" if who == "root" else self.users[who].pw_name

    def roles_config(self) -> dict[str, list[str]]:
        return {
            "viewer": [self.group("view")],
            "operator": [self.group("oper")],
            "supervisor": [self.group("supv")],
        }


@pytest.fixture(scope="module")
def accounts() -> Iterator[Accounts]:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the role tests create Unix users and groups: CI must run them as root")
        pytest.skip("creating Unix users and groups needs root (CI runs this as root)")
    made = Accounts()
    try:
        made.create()
        yield made
    finally:
        made.remove()


def as_user(user: pwd.struct_passwd | None, action: Callable[[], object]) -> Any:
    """Run ``action`` in a forked child that is ``user`` (None: stays root), with that user's groups only;
    return what it returned (JSON-able), or raise what it raised, as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the user, act, report through the pipe, _exit
        try:
            os.close(read_end)
            if user is not None:
                os.setgroups(os.getgrouplist(user.pw_name, user.pw_gid))
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
            try:
                payload = msgspec.json.encode({"value": action()})
            except BaseException as exc:
                payload = msgspec.json.encode({"raised": f"{type(exc).__name__}: {exc}"})
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and data, "the child process failed before reporting"
    report = msgspec.json.decode(data)
    if "raised" in report:
        raise AssertionError(f"as {user.pw_name if user else 'root'}: {report['raised']}")
    return report["value"]


def rpc(socket_path: str, method: str, params: dict[str, object]) -> Callable[[], dict[str, object]]:
    def call() -> dict[str, object]:
        with ControlClient(socket_path, timeout=30) as client:
            try:
                return {"result": client.call(method, params)}
            except PrintdError as err:
                return {"error": {"code": err.code, "message": err.message, "details": err.details}}

    return call


def printctl(socket_path: str, *argv: str) -> Callable[[], dict[str, object]]:
    def run() -> dict[str, object]:
        os.environ["COLUMNS"] = "200"
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = printctl_main(["--socket", socket_path, *argv])
            except SystemExit as exc:
                code = int(exc.code or 0)
        return {"code": code, "out": out.getvalue(), "err": err.getvalue()}

    return run


# ---- the daemon -------------------------------------------------------------------------------------


@dataclass
class RolesDaemon(DaemonProcess):
    """The test daemon with a [control] section: the throwaway groups as roles and as the socket's group."""

    control: dict[str, Any] = field(default_factory=dict)

    def write_config(self, extra_station: dict[str, Any] | None = None) -> Path:
        path = super().write_config(extra_station)
        roles = self.control["roles"]
        lines = ["[control]", f"socket_group = {toml_value(self.control['socket_group'])}", "[control.roles]"]
        lines += [f"{role} = {toml_value(groups)}" for role, groups in roles.items()]
        with path.open("a") as config:
            config.write("\n".join(lines) + "\n")
        return path


def snapshot(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}


def changes(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    """Rows added or changed per table, as dicts keyed by column name for the actor tables."""
    out: dict[str, Any] = {}
    for table in TABLES:
        old = set(before[table])
        new = [row for row in after[table] if row not in old]
        if new:
            out[table] = new
    return out


def actors(database: Path, diff: dict[str, Any]) -> set[str]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        found = set()
        for table in ACTOR_TABLES:
            columns = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            found |= {row[columns.index(ACTOR_COLUMN.get(table, "actor"))] for row in diff.get(table, [])}
        return found


def data_uri(text: str) -> str:
    return "data:image/png;base64," + base64.b64encode(card_png(text, size=(508, 324))).decode()


@pytest.fixture(scope="module")
def station(accounts: Accounts) -> Iterator[RolesDaemon]:
    # The socket's directory must be open to the test users; pytest's own temporary directory is root's only.
    directory = Path(tempfile.mkdtemp(prefix="printd-roles-"))
    directory.chmod(0o755)
    # p1 prints the jobs the table needs; its first three cards end in a garbled reply, so in doubt.
    # p2 has an empty feeder: it can be paused and resumed without ever taking a job.
    faults = [f"card {n}: garbled reply" for n in (1, 2, 3)]
    d = RolesDaemon(
        directory,
        [SimSpec("p1", cards=100, faults=faults), SimSpec("p2", cards=0)],
        control={"socket_group": accounts.group("sock"), "roles": accounts.roles_config()},
    )
    try:
        d.start()
        with d.client() as root:
            root.call("stock.receive", {"count": 50, "ref": "DO-SETUP"})
            face = data_uri("ROLE TEST")
            resolve = [f"jobs.resolve-{c}" for c in ALLOWED]
            done = [f"jobs.{m}-{c}" for m in ("reprint", "spoil") for c in ALLOWED]
            for ref in resolve + done:  # FIFO: the resolve targets take cards 1-3
                root.call("jobs.submit", {"job": {"ref": ref, "front": face}})

            def printed() -> bool:
                queue = root.call("status", {})["queue"]  # type: ignore[index]
                return bool(queue["in_doubt"] == 3 and queue["done"] == 6)  # type: ignore[index]

            wait_for(printed, 30, "three jobs in doubt and six printed")
            root.call("printers.pause", {"printer": "p1"})  # from here on, queued jobs stay queued
            for ref in [f"jobs.{m}-{c}" for m in ("cancel", "hold", "release") for c in ALLOWED] + ["notify-1"]:
                root.call("jobs.submit", {"job": {"ref": ref, "front": face}})
            for c in ALLOWED:
                root.call("jobs.hold", {"job": f"jobs.release-{c}"})
            wait_for(lambda: p2_paused(root), 10, "p2 to pause on its empty feeder")
            for c in ACCOUNT_KEEPERS:  # the dashboard accounts the users.* methods change
                root.call("users.add", {"name": f"acct-{c}", "role": "viewer", "password": "setup-password-1"})
        # Once here, so that whatever printctl imports on first use is loaded before a test user (who may not
        # read this checkout) runs it in a forked child.
        assert printctl(d.socket, "status")()["code"] == 0
        yield d
    finally:
        d.kill()
        shutil.rmtree(directory, ignore_errors=True)


def p2_paused(client: ControlClient) -> bool:
    printers = client.call("status", {})["printers"]  # type: ignore[index]
    return bool(next(p for p in printers if p["name"] == "p2")["paused"])  # type: ignore[attr-defined]


def last_card(database: Path, ref: str) -> int | None:
    """The attempt id of job ``ref``'s latest card, as 'printctl job' lists it."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        row = db.execute(
            "SELECT a.id FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.ref = ? ORDER BY a.id DESC", (ref,)
        ).fetchone()
    return None if row is None else int(row[0])


def params_for(method: str, caller: str, database: Path) -> dict[str, object]:
    """Parameters for ``caller``'s call; a refused caller gets the first allowed caller's, still untouched."""
    target = caller if caller in ALLOWED else "operator"
    job = f"{method}-{target}"
    account = f"acct-{caller if caller in ACCOUNT_KEEPERS else ACCOUNT_KEEPERS[0]}"
    if method in ("jobs.get", "jobs.cancel", "jobs.hold", "jobs.release", "jobs.reprint"):
        return {"job": "jobs.reprint-operator" if method == "jobs.get" else job}
    return {
        "status": {},
        "stock.summary": {},
        "jobs.list": {"limit": 5},
        "spoiled.list": {},
        "jobs.submit": {"job": {"ref": f"submit-{caller}", "front": data_uri(caller)}},
        "jobs.submit_batch": {"jobs": [{"ref": f"batch-{caller}-{n}", "front": data_uri(caller)} for n in (1, 2)]},
        "jobs.spoil": {
            "job": job,
            "attempt": last_card(database, job) if method == "jobs.spoil" else None,
            "category": "damaged",
            "detail": "laminate peeled at inspection",
        },
        "jobs.resolve": {"job": job, "resolution": "printed", "note": "the card is in the output hopper"},
        "printers.pause": {"printer": "p2"},
        "printers.resume": {"printer": "p2"},
        "printers.reconcile": {"printer": "p1"},
        "stock.receive": {"count": 10, "ref": f"DO-{caller}"},
        "stock.adjust": {"count": -1, "reason": f"miscounted delivery, found by {caller}"},
        # no other station runs on this database: past the role check, the transfer is refused and moves nothing
        "stock.transfer": {"count": 1, "to": "van", "ref": f"TR-{caller}"},
        "stock.transfers": {},
        "stock.history": {"limit": 5},
        "station.info": {},
        "reports.daily": {},
        "reports.monthly": {},
        "stock.forecast": {},
        "stock.request": {},
        "spoiled.pending": {},
        "spoiled.handovers": {},
        "spoiled.handover_get": {"number": "BA-NONE"},
        "station.metrics": {},
        "users.list": {},
        "users.add": {"name": f"new-{caller}", "role": "viewer", "password": "a-long-password"},
        "users.passwd": {"name": account, "password": "another-long-password"},
        "users.disable": {"name": account},
        "users.enable": {"name": account},  # the account users.disable disabled just before
        "users.language": {"name": account, "language": "en"},
        "users.authenticate": {"name": account, "password": "not-the-password"},
        # nothing is spoiled before 2000: past the role check, the booking itself is refused and changes nothing
        "spoiled.handover": {
            "kind": "destroyed",
            "number": f"BA-{caller}",
            "through": "2000-01-01",
            "officers": [{"name": "Kepala Bidang"}],
        },
    }[method]


# Methods whose allowed call is refused after the role check (it would need data this scenario does not have).
REFUSED_AFTER_THE_ROLE_CHECK = {
    "stock.transfer": "station.not_found",
    "spoiled.handover": "handover.nothing_pending",
    "spoiled.handover_get": "handover.not_found",
}


# The callers whose users.* calls change an account (supervisors); the others try the first one's, untouched.
ACCOUNT_KEEPERS = ("supervisor", "root")
# users.language and users.authenticate are open to every role at the socket and decide in the method: the role a
# Unix caller needs for users.language (a dashboard account may set its own, tests/test_accounts.py), and for
# users.authenticate printd-web's user only (root here, whose wrong password fails the login).
DECIDED_IN_THE_METHOD = {"users.language": Role.SUPERVISOR}
READS_ONLY = {"users.list"}


def expected_outcome(method: str, needed: Role, caller: str) -> str:
    role = CALLER_ROLE[caller]
    if method == "users.authenticate":
        return "auth.login_failed" if caller == "root" else "forbidden"
    if role is None or role < DECIDED_IN_THE_METHOD.get(method, needed):
        return "forbidden"
    return REFUSED_AFTER_THE_ROLE_CHECK.get(method, "allowed")


# ---- the tests --------------------------------------------------------------------------------------


def test_the_table_covers_every_method(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "printd.db")
    try:
        dispatcher = Dispatcher(store, Station(store, []), "roles")
        declared = {name: dispatcher.required_role(name) for name in dispatcher.methods}
    finally:
        store.close()
    missing = sorted(set(declared) - set(ROLE_TABLE))
    assert not missing, f"methods with no row in ROLE_TABLE (add them, with the role DESIGN.md gives): {missing}"
    assert declared == ROLE_TABLE


def test_every_method_against_every_role(station: RolesDaemon, accounts: Accounts) -> None:
    observed: dict[str, dict[str, str]] = {}
    expected: dict[str, dict[str, str]] = {}
    for method, needed in ROLE_TABLE.items():
        observed[method], expected[method] = {}, {}
        required = DECIDED_IN_THE_METHOD.get(method, needed)
        for caller in CALLERS:
            role = CALLER_ROLE[caller]
            expected[method][caller] = expected_outcome(method, needed, caller)
            user = None if caller == "root" else accounts.users[caller]
            before = snapshot(station.database)
            reply = as_user(user, rpc(station.socket, method, params_for(method, caller, station.database)))
            if method == "printers.resume" and "result" in reply:
                with station.client() as root:  # p2 finds its feeder still empty and pauses itself again
                    wait_for(lambda: p2_paused(root), 10, "p2 to pause again")
            diff = changes(before, snapshot(station.database))
            where = f"{method} as {caller}"
            if "error" in reply:
                error = reply["error"]
                observed[method][caller] = "forbidden" if error["code"] == "auth.forbidden" else error["code"]
                assert not diff, f"{where} was refused but changed {diff}"
                if error["code"] == "auth.forbidden" and (method != "users.authenticate" or role is None):
                    details = error["details"]
                    asked = needed if role is None else required  # the socket refuses a caller with no role itself
                    assert details["required_role"] == asked.label, where
                    assert details["role"] == (role.label if role else None), where
                    assert details["user"] == accounts.user_name(caller), where
                    granting = [accounts.group(g) for g in ("view", "oper", "supv")][int(asked) - 1 :]
                    assert details["groups"] == granting, where
                    assert f"group {granting[0]!r}" in error["message"], where
                continue
            observed[method][caller] = "allowed"
            if required is Role.VIEWER or method in READS_ONLY:
                assert not diff, f"{where} only reads, yet changed {diff}"
                continue
            assert diff, f"{where} was answered but changed nothing"
            expected_actors = {accounts.user_name(caller)} | ({"printd"} if method == "printers.resume" else set())
            assert actors(station.database, diff) == expected_actors, where
    assert observed == expected

    # Each change names the user behind it, in the job's history and in the ledger.
    store = station.open_store()
    try:
        for caller in ALLOWED:
            name = accounts.user_name(caller)
            for ref, event in ((f"jobs.cancel-{caller}", "cancel"), (f"jobs.resolve-{caller}", "resolve_printed")):
                history = store.job_history(store.get_job(ref).id)
                assert (history[-1]["event"], history[-1]["actor"]) == (event, name)
            history = store.job_history(store.get_job(f"submit-{caller}").id)
            assert (history[0]["event"], history[0]["actor"]) == ("submit", name)
            ledger = [e for e in store.ledger_events() if e["actor"] == name]
            kinds = sorted(str(e["kind"]) for e in ledger)
            stock = {
                "operator": [],
                "supervisor": ["adjusted", "received"],
                "root": ["adjusted", "received", "received"],
            }[caller]
            assert kinds == sorted([*stock, "reconciled", "resolved", "spoiled"])
            assert [e["category"] for e in ledger if e["kind"] == "spoiled"] == ["damaged"]
            assert any(e["actor"] == name and e["event"] == "resumed" for e in store.printer_events("p2"))
        assert_ledger_consistent(store)
        balance = store.balance()
    finally:
        store.close()
    truth, _ = station.physical_truth("p1")
    assert truth.balanced and truth.in_reject_box == 0 and truth.in_printer == 0
    # Nine blanks left p1's feeder: three in doubt resolved as printed, six printed; three spoiled at inspection.
    assert truth.cards_fed == truth.in_hopper == 9
    assert (balance.issued, balance.spoiled, balance.in_doubt) == (6, 3, 0)


def test_notifications_are_authorized_too(station: RolesDaemon, accounts: Accounts) -> None:
    def notify_then_ask(method: str, params: dict[str, object]) -> Callable[[], object]:
        def run() -> object:
            with ControlClient(station.socket, timeout=30) as client:
                client.notify(method, params)
                try:  # answered in order: when this is answered, the notification was handled
                    return client.call("jobs.get", {"job": "notify-1"})
                except PrintdError as err:
                    return err.code

        return run

    before = snapshot(station.database)
    assert as_user(accounts.users["nobody"], notify_then_ask("jobs.cancel", {"job": "notify-1"})) == "auth.forbidden"
    seen = as_user(accounts.users["viewer"], notify_then_ask("jobs.cancel", {"job": "notify-1"}))
    assert seen["state"] == "queued"
    assert not changes(before, snapshot(station.database))
    seen = as_user(accounts.users["operator"], notify_then_ask("jobs.hold", {"job": "notify-1"}))
    assert seen["state"] == "held"
    assert (seen["history"][-1]["event"], seen["history"][-1]["actor"]) == ("hold", accounts.user_name("operator"))


def test_printctl_says_which_role_and_group(station: RolesDaemon, accounts: Accounts) -> None:
    viewer, nobody = accounts.user_name("viewer"), accounts.user_name("nobody")
    ran = as_user(accounts.users["viewer"], printctl(station.socket, "stock", "receive", "5", "--ref", "DO-X"))
    assert ran["code"] == 1 and ran["out"] == ""
    assert f"this needs the supervisor role and you ({viewer}) have the viewer role" in ran["err"]
    assert f"usermod -aG {accounts.group('supv')} {viewer}" in ran["err"]

    ran = as_user(accounts.users["nobody"], printctl(station.socket, "status"))
    assert ran["code"] == 1 and ran["out"] == ""
    assert f"this needs the viewer role and you ({nobody}) have no printd role" in ran["err"]
    assert f"usermod -aG {accounts.group('view')} {nobody}" in ran["err"]

    ran = as_user(accounts.users["nobody"], printctl(station.socket, "--json", "jobs"))
    assert ran["code"] == 1
    assert msgspec.json.decode(ran["out"])["error"]["code"] == "auth.forbidden"

    ran = as_user(accounts.users["outsider"], printctl(station.socket, "status"))
    assert ran["code"] == 3 and "permission denied" in ran["err"] and "socket's group" in ran["err"]

    ran = as_user(accounts.users["viewer"], printctl(station.socket, "status"))
    assert ran["code"] == 0 and "p1" in ran["out"] and "paused by root" in ran["out"]


def test_printd_reads_an_image_file_only_if_the_caller_may(station: RolesDaemon, accounts: Accounts) -> None:
    operator = accounts.users["operator"]
    faces = Path(tempfile.mkdtemp(prefix="printd-faces-"))  # pytest's tmp_path is root's only: none may search it
    faces.chmod(0o755)
    private, own = faces / "root-only.png", faces / "operators.png"
    for path in (private, own):
        path.write_bytes(card_png("FACE"))
    private.chmod(0o600)  # root's: the operator cannot open it, printd (root here) could
    os.chown(own, operator.pw_uid, operator.pw_gid)
    own.chmod(0o600)
    before = snapshot(station.database)
    refused = as_user(operator, rpc(station.socket, "jobs.submit", {"job": {"ref": "peek-1", "front": str(private)}}))
    error = refused["error"]
    assert (
        error["code"] == "job.image_forbidden" and "you may not read the front image file yourself" in error["message"]
    )
    batch = as_user(
        operator, rpc(station.socket, "jobs.submit_batch", {"jobs": [{"ref": "peek-2", "front": str(private)}]})
    )
    assert [r["error"]["code"] for r in batch["result"]["rejected"]] == ["job.image_forbidden"]
    assert not changes(before, snapshot(station.database))
    accepted = as_user(operator, rpc(station.socket, "jobs.submit", {"job": {"ref": "own-1", "front": str(own)}}))
    shutil.rmtree(faces)
    assert accepted["result"]["state"] == "queued"
