"""Dashboard accounts: the store's contract on both engines, the users.* methods through a real daemon's socket, and
requests made on behalf of an account (its role applied, ``web:NAME`` recorded as the actor)."""

from __future__ import annotations

import asyncio
import json
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher

from printd.control.client import AsyncControlClient, ControlClient
from printd.errors import PrintdError
from printd.store import SqliteStore, Store
from printd.store import copy as store_copy
from printd.store.accounts import AccountChange, NewAccount
from printd.store.postgres import PostgresStore
from printd.store.schema import MIGRATIONS
from tests import test_roles
from tests.conftest import RefusedError, raw_sql
from tests.daemon_harness import DaemonProcess, SimSpec, toml_value
from tests.postgres import Cluster
from tests.test_roles import Accounts, as_user, data_uri

PASSWORD = "kopi-tubruk-2024"
# One real argon2id hash for the store's tests: the store keeps what it is given, the methods make the hashes.
HASH = PasswordHasher().hash(PASSWORD)
OTHER_HASH = PasswordHasher().hash("teh-manis-dingin")


# ---- the store's contract (both engines) -------------------------------------------------------------------


def test_an_account_is_added_listed_and_read_back_without_its_hash_shown(store: Store) -> None:
    added = store.add_account(NewAccount("rina", "operator", HASH, "id"), "root")
    store.add_account(NewAccount("ahmad.s", "supervisor", HASH), "root")
    assert store.account("rina") == added
    assert (added.role, added.disabled, added.language, added.created_by, added.changed_by) == (
        "operator",
        False,
        "id",
        "root",
        "root",
    )
    assert added.created_at == added.changed_at and abs(added.created_at - time.time()) < 60
    assert [a.name for a in store.list_accounts()] == ["ahmad.s", "rina"]
    shown = added.as_dict()
    assert set(shown) == {
        "name",
        "role",
        "language",
        "disabled",
        "created_at",
        "created_by",
        "changed_at",
        "changed_by",
    }
    assert HASH not in repr(added) and HASH not in str(shown)
    assert store.account("nobody") is None


def test_a_name_is_taken_once_and_follows_the_naming_rule(store: Store) -> None:
    store.add_account(NewAccount("rina", "operator", HASH), "root")
    with pytest.raises(PrintdError) as taken:
        store.add_account(NewAccount("rina", "viewer", OTHER_HASH), "someone")
    assert taken.value.code == "account.exists" and "'rina' exists already" in taken.value.message
    assert store.account("rina").role == "operator"  # type: ignore[union-attr]
    for bad in ("", "-rina", "ri na", "x" * 65, "rina/../root"):
        with pytest.raises(PrintdError) as refused:
            store.add_account(NewAccount(bad, "viewer", HASH), "root")
        assert refused.value.code == "account.invalid", bad
    for account, what in (
        (NewAccount("ani", "admin", HASH), "role"),
        (NewAccount("ani", "viewer", HASH, "fr"), "language"),
        (NewAccount("ani", "viewer", PASSWORD), "argon2id hash"),
    ):
        with pytest.raises(PrintdError, match=what) as refused:
            store.add_account(account, "root")
        assert refused.value.code == "account.invalid" and PASSWORD not in refused.value.message
    assert [a.name for a in store.list_accounts()] == ["rina"]


def test_changes_say_when_and_by_whom_and_a_change_of_nothing_writes_nothing(store: Store) -> None:
    first = store.add_account(NewAccount("rina", "operator", HASH), "root")
    disabled = store.change_account("rina", AccountChange(disabled=True), "web:ahmad")
    assert disabled.disabled and disabled.changed_by == "web:ahmad" and disabled.changed_at >= first.changed_at
    assert store.account("rina") == disabled
    again = store.change_account("rina", AccountChange(disabled=True), "somebody-else")
    assert again == disabled and store.account("rina") == disabled  # nothing to change: who changed it stays
    changed = store.change_account("rina", AccountChange(password_hash=OTHER_HASH, language="en"), "root")
    assert (changed.password_hash, changed.language, changed.disabled) == (OTHER_HASH, "en", True)
    enabled = store.change_account("rina", AccountChange(disabled=False), "root")
    assert not enabled.disabled and enabled.password_hash == OTHER_HASH and enabled.created_by == "root"
    assert store.account("rina") == enabled
    with pytest.raises(PrintdError) as missing:
        store.change_account("nobody", AccountChange(disabled=True), "root")
    assert missing.value.code == "account.not_found"
    with pytest.raises(PrintdError) as plain:
        store.change_account("rina", AccountChange(password_hash="in the clear"), "root")
    assert plain.value.code == "account.invalid" and store.account("rina") == enabled


def test_the_database_itself_refuses_what_an_account_cannot_be(store: Store) -> None:
    store.add_account(NewAccount("rina", "operator", HASH), "root")
    for sql in (
        "UPDATE accounts SET role = 'root'",
        "UPDATE accounts SET password_hash = 'secret'",
        "UPDATE accounts SET language = 'fr'",
        "UPDATE accounts SET disabled = 2",
        "INSERT INTO accounts (name, role, password_hash, created_at, created_by, changed_at, changed_by)"
        " VALUES ('rina', 'viewer', '$argon2id$x', 0, 'x', 0, 'x')",
    ):
        with pytest.raises(RefusedError):
            raw_sql(store, sql)
    assert store.account("rina").role == "operator"  # type: ignore[union-attr]


def test_accounts_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "printd.db"
    store = SqliteStore(path, station="test")
    store.add_account(NewAccount("rina", "viewer", HASH, "en"), "root")
    store.close()
    store = SqliteStore(path, station="test")
    try:
        assert store.account("rina").language == "en"  # type: ignore[union-attr]
        assert raw_sql(store, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    finally:
        store.close()


# ---- printd store copy takes the accounts along ---------------------------------------------------------------


def test_the_copy_into_postgresql_takes_the_files_accounts_and_keeps_the_targets(
    tmp_path: Path, postgres: Cluster
) -> None:
    source = tmp_path / "printd.db"
    store = SqliteStore(source, station="mataram-1")
    store.register_station(["loket-1"], "print-pc", 4242)
    store.add_account(NewAccount("rina", "operator", HASH, "id"), "root")
    disabled = store.add_account(NewAccount("budi", "viewer", HASH), "root")
    disabled = store.change_account("budi", AccountChange(disabled=True), "web:rina")
    store.add_account(NewAccount("ahmad", "supervisor", HASH), "root")  # the target's own 'ahmad' stays
    expected = {a.name: a for a in store.list_accounts()}
    store.close()
    url = postgres.fresh_database()
    office = PostgresStore(url, station="lombok-2")
    theirs = office.add_account(NewAccount("ahmad", "operator", OTHER_HASH), "root")
    office.close()

    result = store_copy.copy_station(source, url)
    assert result.rows["accounts"] == 2
    assert result.accounts_kept == ["ahmad"]
    assert "ahmad" in result.summary() and "kept" in result.summary()
    copied = PostgresStore(url, station="mataram-1")
    try:
        found = {a.name: a for a in copied.list_accounts()}
        assert found == {"rina": expected["rina"], "budi": disabled, "ahmad": theirs}
    finally:
        copied.close()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (3,)


# ---- through a real daemon: the users.* methods and requests on behalf of an account ---------------------------

accounts = test_roles.accounts  # throwaway Unix users and groups (tests/test_roles.py), one per role

ANI_PASSWORD = "sate-lilit-lombok"
NEW_PASSWORD = "ayam-taliwang-pedas"
SECRETS = [ANI_PASSWORD, NEW_PASSWORD, "pendek-9c", "bocor-di-baris-json", "bocor-di-field-asing"]
"""Every password these tests send the daemon: none may reach its log or an error."""
SHOWN = {"name", "role", "language", "disabled", "created_at", "created_by", "changed_at", "changed_by"}


@dataclass
class WebDaemon(DaemonProcess):
    """The test daemon with [control]: the throwaway groups as roles and socket group, and printd-web's users."""

    control: dict[str, Any] = field(default_factory=dict)

    def write_config(self, extra_station: dict[str, Any] | None = None) -> Path:
        path = super().write_config(extra_station)
        lines = [
            "[control]",
            f"socket_group = {toml_value(self.control['socket_group'])}",
            f"web_users = {toml_value(self.control['web_users'])}",
            "[control.roles]",
        ]
        lines += [f"{role} = {toml_value(groups)}" for role, groups in self.control["roles"].items()]
        with path.open("a") as config:
            config.write("\n".join(lines) + "\n")
        return path


@pytest.fixture(scope="module")
def web_user(accounts: Accounts) -> Iterator[pwd.struct_passwd]:
    """printd-web's Unix user: in the socket's group and the viewers' group, as its systemd unit makes it."""
    name = f"pdtweb{accounts.suffix}"
    subprocess.run(
        [
            test_roles._tool("useradd"),
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--no-user-group",
            "--gid",
            accounts.group("sock"),
            "--groups",
            accounts.group("view"),
            name,
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run([test_roles._tool("userdel"), name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def station(accounts: Accounts, web_user: pwd.struct_passwd) -> Iterator[WebDaemon]:
    directory = Path(tempfile.mkdtemp(prefix="printd-accounts-"))  # the test users must reach the socket
    directory.chmod(0o755)
    control = {
        "socket_group": accounts.group("sock"),
        "web_users": [web_user.pw_name],
        "roles": accounts.roles_config(),
    }
    d = WebDaemon(directory, [SimSpec("p1", cards=10)], control=control)
    try:
        d.start()
        with d.client() as root:  # no blanks: the jobs stay queued for the operators' actions
            for ref in ("WEB-1", "WEB-2"):
                root.call("jobs.submit", {"job": {"ref": ref, "front": data_uri(ref)}})
        yield d
    finally:
        d.kill()
        shutil.rmtree(directory, ignore_errors=True)


def rpc(socket_path: str, method: str, params: dict[str, object], on_behalf_of: str | None = None) -> Any:
    """A call as whoever runs it: ``{"result": ...}`` or ``{"error": {code, message, details}}``."""

    def call() -> dict[str, object]:
        with ControlClient(socket_path, timeout=30) as client:
            try:
                return {"result": client.call(method, params, on_behalf_of=on_behalf_of)}
            except PrintdError as err:
                return {"error": {"code": err.code, "message": err.message, "details": err.details}}

    return call


def root_call(station: WebDaemon, method: str, params: dict[str, object], on_behalf_of: str | None = None) -> Any:
    """As root (printd-web's stand-in: root may act for an account too): the result, or the error's dict."""
    reply = rpc(station.socket, method, params, on_behalf_of)()
    return reply.get("result", reply.get("error"))


def add(station: WebDaemon, name: str, role: str, password: str = ANI_PASSWORD) -> None:
    assert root_call(station, "users.add", {"name": name, "role": role, "password": password})["name"] == name


def test_a_supervisor_keeps_accounts_and_viewers_and_operators_may_not(station: WebDaemon, accounts: Accounts) -> None:
    supervisor, who = accounts.users["supervisor"], accounts.user_name("supervisor")

    def as_supervisor(method: str, params: dict[str, object]) -> Any:
        return as_user(supervisor, rpc(station.socket, method, params))

    added = as_supervisor("users.add", {"name": "loket-ani", "role": "operator", "password": ANI_PASSWORD})["result"]
    assert set(added) == SHOWN
    assert (added["name"], added["role"], added["language"], added["disabled"]) == (
        "loket-ani",
        "operator",
        None,
        False,
    )
    assert added["created_by"] == added["changed_by"] == who
    listed = as_supervisor("users.list", {})["result"]
    assert [a for a in listed if a["name"] == "loket-ani"] == [added]
    assert all(set(a) == SHOWN for a in listed)  # never the hash
    disabled = as_supervisor("users.disable", {"name": "loket-ani"})["result"]
    assert disabled["disabled"] is True and disabled["changed_by"] == who
    assert as_supervisor("users.enable", {"name": "loket-ani"})["result"]["disabled"] is False
    assert as_supervisor("users.language", {"name": "loket-ani", "language": "id"})["result"]["language"] == "id"
    assert as_supervisor("users.passwd", {"name": "loket-ani", "password": NEW_PASSWORD})["result"]["name"]
    login = root_call(station, "users.authenticate", {"name": "loket-ani", "password": NEW_PASSWORD})
    assert login == {"name": "loket-ani", "role": "operator", "language": "id"}

    taken = as_supervisor("users.add", {"name": "loket-ani", "role": "viewer", "password": ANI_PASSWORD})["error"]
    assert taken["code"] == "account.exists"
    missing = as_supervisor("users.passwd", {"name": "siapa", "password": NEW_PASSWORD})["error"]
    assert missing["code"] == "account.not_found"
    short = as_supervisor("users.add", {"name": "tamu-1", "role": "viewer", "password": "pendek-9c"})["error"]
    assert short["code"] == "params.invalid" and "at least 10 characters" in short["message"]
    same = as_supervisor("users.add", {"name": "Tamu-Kedua", "role": "viewer", "password": "tamu-kedua"})["error"]
    assert same["code"] == "params.invalid" and "must not be the account's name" in same["message"]
    bad_name = as_supervisor("users.add", {"name": "ani budi", "role": "viewer", "password": ANI_PASSWORD})["error"]
    assert bad_name["code"] == "params.invalid" and "key name" in bad_name["message"]

    before = root_call(station, "users.list", {})
    calls: list[tuple[str, dict[str, object]]] = [
        ("users.list", {}),
        ("users.add", {"name": "penyusup", "role": "supervisor", "password": ANI_PASSWORD}),
        ("users.passwd", {"name": "loket-ani", "password": ANI_PASSWORD}),
        ("users.disable", {"name": "loket-ani"}),
        ("users.enable", {"name": "loket-ani"}),
        ("users.language", {"name": "loket-ani", "language": "en"}),
        ("users.authenticate", {"name": "loket-ani", "password": NEW_PASSWORD}),
    ]
    for caller in ("viewer", "operator"):
        for method, params in calls:
            refused = as_user(accounts.users[caller], rpc(station.socket, method, params))
            assert refused["error"]["code"] == "auth.forbidden", (caller, method)
    assert root_call(station, "users.list", {}) == before


def test_a_login_fails_alike_for_a_wrong_password_a_disabled_account_and_an_unknown_name(
    station: WebDaemon, accounts: Accounts, web_user: pwd.struct_passwd
) -> None:
    add(station, "loket-dewi", "viewer")
    add(station, "loket-eko", "operator")
    root_call(station, "users.disable", {"name": "loket-eko"})

    def login(name: str, password: str) -> Callable[[], Any]:
        def timed() -> Any:
            started = time.perf_counter()
            reply = rpc(station.socket, "users.authenticate", {"name": name, "password": password})()
            return reply | {"seconds": time.perf_counter() - started}

        return timed

    right = as_user(web_user, login("loket-dewi", ANI_PASSWORD))
    assert right["result"] == {"name": "loket-dewi", "role": "viewer", "language": None}
    failures = {
        "wrong password": [as_user(web_user, login("loket-dewi", NEW_PASSWORD)) for _ in range(3)],
        "disabled": [as_user(web_user, login("loket-eko", ANI_PASSWORD)) for _ in range(3)],
        "unknown name": [as_user(web_user, login("tidak-ada", ANI_PASSWORD)) for _ in range(3)],
        "unknown, not a name": [as_user(web_user, login(ANI_PASSWORD + " !", ANI_PASSWORD))],
    }
    answers = {
        (f["error"]["code"], f["error"]["message"], str(f["error"]["details"])) for fs in failures.values() for f in fs
    }
    assert len(answers) == 1 and next(iter(answers))[0] == "auth.login_failed"
    # The same work whatever failed: every failure checks a password against an argon2id hash.
    fastest = {what: min(f["seconds"] for f in fs) for what, fs in failures.items()}
    assert max(fastest.values()) < 2.5 * min(fastest.values()), fastest

    # Only printd-web's user (and root) may check a password, and never on behalf of an account.
    for caller in ("supervisor", "viewer"):
        refused = as_user(accounts.users[caller], login("loket-dewi", ANI_PASSWORD))["error"]
        assert refused["code"] == "auth.forbidden" and "printd-web only" in refused["message"]
    assert (
        root_call(station, "users.authenticate", {"name": "loket-dewi", "password": ANI_PASSWORD})["role"] == "viewer"
    )
    acting = root_call(
        station, "users.authenticate", {"name": "loket-dewi", "password": ANI_PASSWORD}, on_behalf_of="loket-dewi"
    )
    assert acting["code"] == "auth.forbidden" and "on behalf of account 'loket-dewi'" in acting["message"]


def test_root_acts_for_an_account_with_its_role_and_the_actor_is_web_name(station: WebDaemon) -> None:
    add(station, "loket-budi", "operator")
    add(station, "tamu", "viewer")
    add(station, "kepala", "supervisor")

    paused = root_call(station, "printers.pause", {"printer": "p1"}, on_behalf_of="loket-budi")
    assert paused["paused"] is True and paused["pause_reason"] == "paused by web:loket-budi"
    held = root_call(station, "jobs.hold", {"job": "WEB-1"}, on_behalf_of="loket-budi")
    assert held["state"] == "held"
    history = root_call(station, "jobs.get", {"job": "WEB-1"})["history"]
    assert (history[-1]["event"], history[-1]["actor"]) == ("hold", "web:loket-budi")
    assert root_call(station, "jobs.release", {"job": "WEB-1"}, on_behalf_of="loket-budi")["state"] == "queued"
    assert root_call(station, "printers.resume", {"printer": "p1"}, on_behalf_of="loket-budi")["paused"] is False
    store = station.open_store()
    try:
        events = [(e["event"], e["actor"]) for e in store.printer_events("p1")]
        assert events[-2:] == [("paused", "web:loket-budi"), ("resumed", "web:loket-budi")]
    finally:
        store.close()

    # A viewer's account sees, and may do nothing more, whatever root itself may do.
    assert root_call(station, "status", {}, on_behalf_of="tamu")["station"] == station.station
    refused = root_call(station, "jobs.hold", {"job": "WEB-2"}, on_behalf_of="tamu")
    assert refused["code"] == "auth.forbidden"
    assert (refused["details"]["role"], refused["details"]["user"], refused["details"]["required_role"]) == (
        "viewer",
        "web:tamu",
        "operator",
    )
    assert root_call(station, "jobs.get", {"job": "WEB-2"})["state"] == "queued"
    # An account may set its own language, not another's; a supervisor's account keeps accounts, as web:NAME.
    own = root_call(station, "users.language", {"name": "tamu", "language": "en"}, on_behalf_of="tamu")
    assert (own["language"], own["changed_by"]) == ("en", "web:tamu")
    other = root_call(station, "users.language", {"name": "loket-budi", "language": "en"}, on_behalf_of="tamu")
    assert other["code"] == "auth.forbidden" and "may also set its own language" in other["message"]
    assert root_call(station, "users.list", {}, on_behalf_of="loket-budi")["code"] == "auth.forbidden"
    kept = root_call(station, "users.disable", {"name": "tamu"}, on_behalf_of="kepala")
    assert (kept["disabled"], kept["changed_by"]) == (True, "web:kepala")

    # Disabled or unknown: refused before anything is done, and at once (a change empties the daemon's cache).
    disabled = root_call(station, "status", {}, on_behalf_of="tamu")
    assert disabled["code"] == "auth.account_disabled" and "printctl users enable tamu" in disabled["message"]
    unknown = root_call(station, "status", {}, on_behalf_of="siapa-saja")
    assert unknown["code"] == "auth.account_unknown" and unknown["details"] == {"account": "siapa-saja"}
    root_call(station, "users.enable", {"name": "tamu"})
    assert root_call(station, "status", {}, on_behalf_of="tamu")["station"] == station.station


def test_only_printd_webs_user_root_and_printds_own_may_act_for_an_account(
    station: WebDaemon, accounts: Accounts, web_user: pwd.struct_passwd
) -> None:
    add(station, "loket-citra", "operator")
    acting = as_user(web_user, rpc(station.socket, "jobs.hold", {"job": "WEB-2"}, on_behalf_of="loket-citra"))
    assert acting["result"]["state"] == "held"
    history = root_call(station, "jobs.get", {"job": "WEB-2"})["history"]
    assert (history[-1]["event"], history[-1]["actor"]) == ("hold", "web:loket-citra")
    # Without on_behalf_of, printd-web's user is itself: a viewer.
    own = as_user(web_user, rpc(station.socket, "jobs.release", {"job": "WEB-2"}))["error"]
    assert own["code"] == "auth.forbidden" and own["details"]["user"] == web_user.pw_name

    for caller in ("supervisor", "operator"):
        refused = as_user(
            accounts.users[caller], rpc(station.socket, "jobs.release", {"job": "WEB-2"}, on_behalf_of="loket-citra")
        )["error"]
        assert refused["code"] == "auth.forbidden", caller
        assert (
            f"web_users: {web_user.pw_name}" in refused["message"] and accounts.user_name(caller) in refused["message"]
        )
    nobody = as_user(accounts.users["nobody"], rpc(station.socket, "status", {}, on_behalf_of="loket-citra"))["error"]
    assert nobody["code"] == "auth.forbidden" and nobody["details"]["role"] is None
    assert root_call(station, "jobs.get", {"job": "WEB-2"})["state"] == "held"
    assert root_call(station, "jobs.release", {"job": "WEB-2"}, on_behalf_of="loket-citra")["state"] == "queued"


def test_a_malformed_on_behalf_of_is_an_invalid_request(station: WebDaemon) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(station.socket)
        reader = sock.makefile("rb")
        for number, value in enumerate([5, "", "x" * 65, None, ["tamu"], {"name": "tamu"}], start=1):
            request = {"jsonrpc": "2.0", "id": number, "method": "status", "params": {}, "on_behalf_of": value}
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = json.loads(reader.readline())
            assert reply["id"] == number and reply["error"]["code"] == -32600, value
            assert reply["error"]["data"]["code"] == "request.invalid"
            assert "on_behalf_of must be a dashboard account's name" in reply["error"]["message"]
        sock.sendall(b'{"jsonrpc": "2.0", "id": 9, "method": "status", "on_behalf_of": "tamu"}\n')
        assert json.loads(reader.readline())["result"]["station"] == station.station


def test_the_asyncio_client_takes_turns_and_acts_for_an_account(station: WebDaemon) -> None:
    add(station, "loket-fajar", "operator")

    async def run() -> list[Any]:
        async with AsyncControlClient(station.socket, timeout=30) as client:
            calls = [client.call("jobs.get", {"job": ref}, on_behalf_of="loket-fajar") for ref in ("WEB-1", "WEB-2")]
            calls += [client.call("status", {}) for _ in range(4)]
            found: list[Any] = list(await asyncio.gather(*calls))
            found.append(await client.call("printers.pause", {"printer": "p1"}, on_behalf_of="loket-fajar"))
            found.append(await client.call("printers.resume", {"printer": "p1"}, on_behalf_of="loket-fajar"))
            try:
                await client.call("users.list", {}, on_behalf_of="loket-fajar")
            except PrintdError as err:
                found.append(err.code)
            return found

    found = asyncio.run(run())
    assert [job["ref"] for job in found[:2]] == ["WEB-1", "WEB-2"]
    assert all(status["station"] == station.station for status in found[2:6])
    assert found[6]["pause_reason"] == "paused by web:loket-fajar" and found[7]["paused"] is False
    assert found[8] == "auth.forbidden"


def test_no_password_reaches_the_log_or_an_error(station: WebDaemon) -> None:
    """Last: the log by now holds every request of this module, and the bad ones sent here."""
    secret = SECRETS[3]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(station.socket)
        reader = sock.makefile("rb")
        sock.sendall(
            b'{"jsonrpc": "2.0", "id": 1, "method": "users.add", "params": {"password": "' + secret.encode() + b'"\n'
        )
        assert secret not in reader.readline().decode()
    odd = root_call(
        station, "users.add", {"name": "x1", "role": "viewer", "password": SECRETS[4], "pasword": SECRETS[4]}
    )
    assert odd["code"] == "params.invalid" and SECRETS[4] not in odd["message"]
    wrong_type = root_call(station, "users.passwd", {"name": "loket-ani", "password": [SECRETS[4]]})
    assert wrong_type["code"] == "params.invalid" and SECRETS[4] not in wrong_type["message"]
    log = station.log_path.read_text()
    assert "users.added" in log and "users.login_failed" in log  # the log does tell of the accounts
    leaked = [secret for secret in SECRETS if secret in log]
    assert not leaked, "a password reached the daemon's log"
