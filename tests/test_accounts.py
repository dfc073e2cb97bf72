"""Dashboard accounts: the store's contract on both engines, the users.* methods through a real daemon's socket, and
requests made on behalf of an account (its role applied, ``web:NAME`` recorded as the actor)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher

from printd.errors import PrintdError
from printd.store import SqliteStore, Store
from printd.store import copy as store_copy
from printd.store.accounts import AccountChange, NewAccount
from printd.store.postgres import PostgresStore
from tests.conftest import RefusedError, raw_sql
from tests.postgres import Cluster

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


def test_accounts_survive_a_reopen_at_schema_version_7(tmp_path: Path) -> None:
    path = tmp_path / "printd.db"
    store = SqliteStore(path, station="test")
    store.add_account(NewAccount("rina", "viewer", HASH, "en"), "root")
    store.close()
    store = SqliteStore(path, station="test")
    try:
        assert store.account("rina").language == "en"  # type: ignore[union-attr]
        assert raw_sql(store, "PRAGMA user_version") == [(7,)]
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
