"""Dashboard accounts: who may log in to printd-web, with which role and language, and the SQL of their table.

Accounts are not ledger data: a row is changed in place (its password, disabled flag or language) and says when
and by whom it was created and last changed. The store holds a password's argon2id hash only, never the password;
the hash is made and checked by the control methods (printd/control/user_methods.py). A change that changes
nothing (disabling a disabled account) writes nothing, so the row keeps who last really changed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from printd.errors import PrintdError
from printd.store.records import iso
from printd.store.sql import Db, lock_key

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""The rule of every printd name (stations, printers): letters, digits, '.', '_' and '-', not first."""
MAX_NAME_LENGTH = 64
ROLES = ("viewer", "operator", "supervisor")
LANGUAGES = ("id", "en")
HASH_PREFIX = "$argon2id$"

_NAME = re.compile(NAME_PATTERN)
_COLUMNS = "name, role, password_hash, disabled, language, created_at, created_by, changed_at, changed_by"


@dataclass(frozen=True)
class Account:
    """A dashboard account as stored. ``as_dict`` is what may be shown: everything but the hash."""

    name: str
    role: str
    password_hash: str = field(repr=False)
    disabled: bool
    language: str | None
    created_at: float
    created_by: str
    changed_at: float
    changed_by: str

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "language": self.language,
            "disabled": self.disabled,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "changed_at": iso(self.changed_at),
            "changed_by": self.changed_by,
        }


@dataclass(frozen=True)
class NewAccount:
    name: str
    role: str
    password_hash: str = field(repr=False)
    language: str | None = None


@dataclass(frozen=True)
class AccountChange:
    """What to change of an account; None leaves that part as it is."""

    password_hash: str | None = field(default=None, repr=False)
    disabled: bool | None = None
    language: str | None = None


def valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and _NAME.fullmatch(name) is not None


def check_name(name: str) -> None:
    if not valid_name(name):
        raise PrintdError(
            "account.invalid",
            f"an account name is 1 to {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', beginning with a letter or"
            " a digit; choose another name",
        )


def _check(role: str | None, password_hash: str | None, language: str | None) -> None:
    if role is not None and role not in ROLES:
        raise PrintdError("account.invalid", f"an account's role is one of {', '.join(ROLES)}")
    if language is not None and language not in LANGUAGES:
        raise PrintdError("account.invalid", f"an account's language is one of {', '.join(LANGUAGES)}")
    if password_hash is not None and not password_hash.startswith(HASH_PREFIX):
        # A fault of the caller, never of a person: the store keeps argon2id hashes and nothing else.
        raise PrintdError("account.invalid", "the store keeps an argon2id hash of a password, never anything else")


def exists(name: str) -> PrintdError:
    return PrintdError(
        "account.exists",
        f"dashboard account {name!r} exists already; change it with 'printctl users passwd' or 'printctl users"
        " enable', or choose another name",
        {"account": name},
    )


def not_found(name: str) -> PrintdError:
    return PrintdError(
        "account.not_found",
        f"there is no dashboard account {name!r}; 'printctl users list' shows them",
        {"account": name},
    )


def _account(row: Any) -> Account:
    name, role, password_hash, disabled, language, created_at, created_by, changed_at, changed_by = row
    return Account(name, role, password_hash, bool(disabled), language, created_at, created_by, changed_at, changed_by)


def get(db: Db, name: str, *, for_update: bool = False) -> Account | None:
    lock = db.dialect.for_update if for_update else ""
    row = db.execute(f"SELECT {_COLUMNS} FROM accounts WHERE name = ?{lock}", (name,)).fetchone()
    return None if row is None else _account(row)


def listed(db: Db) -> list[Account]:
    return [_account(row) for row in db.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY name")]


def add(db: Db, new: NewAccount, actor: str, now: float) -> Account:
    """Create the account; refused (``account.exists``) when the name is taken, whatever the rest says."""
    check_name(new.name)
    _check(new.role, new.password_hash, new.language)
    lock_key(db, f"account:{new.name}")  # two stations adding one name at once: the second sees the first
    if get(db, new.name) is not None:
        raise exists(new.name)
    account = Account(new.name, new.role, new.password_hash, False, new.language, now, actor, now, actor)
    db.execute(
        f"INSERT INTO accounts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            account.name,
            account.role,
            account.password_hash,
            0,
            account.language,
            account.created_at,
            account.created_by,
            account.changed_at,
            account.changed_by,
        ),
    )
    return account


def change(db: Db, name: str, what: AccountChange, actor: str, now: float) -> Account:
    """Apply ``what`` to the account; ``account.not_found`` when there is none of that name."""
    _check(None, what.password_hash, what.language)
    found = get(db, name, for_update=True)
    if found is None:
        raise not_found(name)
    password_hash = found.password_hash if what.password_hash is None else what.password_hash
    disabled = found.disabled if what.disabled is None else what.disabled
    language = found.language if what.language is None else what.language
    if (password_hash, disabled, language) == (found.password_hash, found.disabled, found.language):
        return found
    db.execute(
        "UPDATE accounts SET password_hash = ?, disabled = ?, language = ?, changed_at = ?, changed_by = ?"
        " WHERE name = ?",
        (password_hash, int(disabled), language, now, actor, name),
    )
    return Account(name, found.role, password_hash, disabled, language, found.created_at, found.created_by, now, actor)
