"""The users.* control methods: dashboard accounts kept by supervisors, the login check printd-web asks for, and the
role of the account a request is made on behalf of.

Rules:
- Rule 1: a password is hashed (argon2id) or checked here and goes nowhere else: no log line, no error, no reply.
- Rule 2: a wrong name, a disabled account and a wrong password get one answer, ``auth.login_failed``, in about the
  same time: a name with no account is checked against a dummy hash made with the same parameters.
- Rule 3: only root, printd's own user and printd-web's users (``[control] web_users``) may check a password, and
  never on behalf of an account.
- Rule 4: argon2 runs in the handler's thread, at most ``MAX_HASHING`` at once: each takes 64 MiB for its moment.
- Rule 5: the role of an account acted for is read through a cache of ``ACCOUNT_CACHE_SECONDS``, emptied by every
  change made here; a change made by another station's printd is seen within that time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from printd.control.auth import DEFAULT_ROLES, Caller, Role, RolesConfig, forbidden
from printd.errors import PrintdError, invalid_params
from printd.logging import get_logger
from printd.store import Store
from printd.store.accounts import (
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    Account,
    AccountChange,
    NewAccount,
    exists,
    not_found,
    valid_name,
)

log = get_logger("printd.control")

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_HASHING = 2
ACCOUNT_CACHE_SECONDS = 2.0
MAX_CACHED = 1024

AccountName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]
Password = Annotated[str, msgspec.Meta(max_length=MAX_PASSWORD)]
Language = Literal["id", "en"]


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    pass


class NameParams(msgspec.Struct, forbid_unknown_fields=True):
    name: AccountName


class AddParams(msgspec.Struct, forbid_unknown_fields=True):
    name: AccountName
    role: Literal["viewer", "operator", "supervisor"]
    password: Password
    language: Language | None = None


class PasswordParams(msgspec.Struct, forbid_unknown_fields=True):
    name: AccountName
    password: Password


class LanguageParams(msgspec.Struct, forbid_unknown_fields=True):
    name: AccountName
    language: Language


class LoginParams(msgspec.Struct, forbid_unknown_fields=True):
    # Any string up to the limits: a name that breaks the naming rule is a failed login like any other.
    name: Annotated[str, msgspec.Meta(max_length=MAX_NAME_LENGTH)]
    password: Password


Handler = Callable[[Any, Caller], object]


def check_password(method: str, name: str, password: str) -> None:
    """Rule 1: the error names the rule the password breaks, never the password."""
    if len(password) < MIN_PASSWORD:
        raise invalid_params(
            f"{method}: a password must be at least {MIN_PASSWORD} characters long; choose a longer one",
            rule="min_length",
            min_length=MIN_PASSWORD,
        )
    if password.casefold() == name.casefold():
        raise invalid_params(f"{method}: the password must not be the account's name; choose another", rule="not_name")


class UserMethods:
    """Handlers over the store's accounts; ``acting_role`` serves the control server's ``on_behalf_of``."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.roles: RolesConfig = DEFAULT_ROLES
        """The ``[control.roles]`` table, to name the group an administrator should grant (set by the daemon)."""
        self._hasher = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
        self._hashing = threading.BoundedSemaphore(MAX_HASHING)
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()
        self._clock = clock
        self._cache: dict[str, tuple[float, Account | None]] = {}
        self._cache_lock = threading.Lock()

    def table(self) -> dict[str, tuple[Role, type[msgspec.Struct], Handler]]:
        view, sup = Role.VIEWER, Role.SUPERVISOR
        return {
            "users.list": (sup, NoParams, self.list_accounts),
            "users.add": (sup, AddParams, self.add),
            "users.passwd": (sup, PasswordParams, self.passwd),
            "users.disable": (sup, NameParams, self.disable),
            "users.enable": (sup, NameParams, self.enable),
            # Any role may ask: a supervisor for any account, anyone else only on behalf of the account itself.
            "users.language": (view, LanguageParams, self.language),
            # Any role may ask: the handler lets only printd-web's user (and root, and printd's own) through.
            "users.authenticate": (view, LoginParams, self.authenticate),
        }

    # ---- acting for an account (the control server's on_behalf_of) ---------------------------------------

    def acting_role(self, name: str) -> Role:
        """The role of account ``name`` for a request made on its behalf; ``auth.account_unknown`` or
        ``auth.account_disabled`` when it may not act."""
        account = self._cached(name) if valid_name(name) else None
        if account is None:
            raise PrintdError(
                "auth.account_unknown",
                f"there is no dashboard account {name!r} to act for; a supervisor adds one with 'printctl users add'",
                {"account": name},
            )
        if account.disabled:
            raise PrintdError(
                "auth.account_disabled",
                f"dashboard account {name!r} is disabled; a supervisor can enable it ('printctl users enable {name}')",
                {"account": name},
            )
        return Role.from_label(account.role)

    def _cached(self, name: str) -> Account | None:
        now = self._clock()
        with self._cache_lock:
            hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        account = self.store.account(name)
        with self._cache_lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[name] = (now + ACCOUNT_CACHE_SECONDS, account)
        return account

    def _changed(self, account: Account) -> dict[str, object]:
        with self._cache_lock:
            self._cache.clear()
        return account.as_dict()

    # ---- supervisors' methods ------------------------------------------------------------------------------

    def list_accounts(self, _: NoParams, __: Caller) -> list[dict[str, object]]:
        return [account.as_dict() for account in self.store.list_accounts()]

    def add(self, params: AddParams, caller: Caller) -> dict[str, object]:
        check_password("users.add", params.name, params.password)
        if self.store.account(params.name) is not None:  # refused before the hash is paid for; the store re-checks
            raise exists(params.name)
        new = NewAccount(params.name, params.role, self._hash(params.password), params.language)
        account = self.store.add_account(new, caller.user)
        log.info("users.added", account=account.name, role=account.role, actor=caller.user)
        return self._changed(account)

    def passwd(self, params: PasswordParams, caller: Caller) -> dict[str, object]:
        check_password("users.passwd", params.name, params.password)
        if self.store.account(params.name) is None:
            raise not_found(params.name)
        change = AccountChange(password_hash=self._hash(params.password))
        account = self.store.change_account(params.name, change, caller.user)
        log.info("users.password_changed", account=account.name, actor=caller.user)
        return self._changed(account)

    def disable(self, params: NameParams, caller: Caller) -> dict[str, object]:
        return self._set_disabled(params.name, True, caller)

    def enable(self, params: NameParams, caller: Caller) -> dict[str, object]:
        return self._set_disabled(params.name, False, caller)

    def _set_disabled(self, name: str, disabled: bool, caller: Caller) -> dict[str, object]:
        account = self.store.change_account(name, AccountChange(disabled=disabled), caller.user)
        log.info("users.disabled" if disabled else "users.enabled", account=account.name, actor=caller.user)
        return self._changed(account)

    def language(self, params: LanguageParams, caller: Caller) -> dict[str, object]:
        own = caller.account is not None and caller.account == params.name
        if not own and (caller.role is None or caller.role < Role.SUPERVISOR):
            refused = forbidden("users.language", Role.SUPERVISOR, caller, self.roles)
            said = f"{refused.message} A dashboard account may also set its own language."
            raise PrintdError(refused.code, said, refused.details)
        account = self.store.change_account(params.name, AccountChange(language=params.language), caller.user)
        return self._changed(account)

    # ---- printd-web's login --------------------------------------------------------------------------------

    def authenticate(self, params: LoginParams, caller: Caller) -> dict[str, object]:
        """Rules 2 and 3: ``{name, role, language}`` for the right password of an enabled account."""
        if not caller.acts_for_accounts or caller.account is not None:
            log.info("control.forbidden", user=caller.user, method="users.authenticate", role=None)
            who = f"a request on behalf of account {caller.account!r}" if caller.account else caller.user
            raise PrintdError(
                "auth.forbidden",
                "users.authenticate checks passwords for printd-web only: its Unix user ([control] web_users), root"
                f" and printd's own user may ask, not on behalf of an account; {who} may not.",
                {"method": "users.authenticate", "user": caller.user},
            )
        dummy = self._dummy_hash()
        account = self.store.account(params.name) if valid_name(params.name) else None
        matched = self._verify(dummy if account is None else account.password_hash, params.password)
        if account is None or account.disabled or not matched:
            # The name may be a password typed in the wrong box: it is not logged.
            log.info("users.login_failed", known=account is not None, by=caller.user)
            raise PrintdError(
                "auth.login_failed",
                "the account name or the password is wrong, or the account is disabled; try again, or ask a"
                " supervisor to check the account (printctl users list)",
            )
        log.info("users.login", account=account.name, by=caller.user)
        return {"name": account.name, "role": account.role, "language": account.language}

    # ---- argon2 ----------------------------------------------------------------------------------------------

    def _hash(self, password: str) -> str:
        with self._hashing:
            return self._hasher.hash(password)

    def _verify(self, password_hash: str, password: str) -> bool:
        with self._hashing:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    def _dummy_hash(self) -> str:
        """Made once, at the first login, whatever its name: no first login of an unknown name is the slower."""
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._hash(secrets.token_urlsafe(24))
            return self._dummy
