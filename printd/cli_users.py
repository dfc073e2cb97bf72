"""printctl users: the dashboard's accounts (printd-web's logins), kept by supervisors over the control socket.

A password is asked for twice on the terminal (never echoed), or read from the first line of standard input with
--password-stdin (for scripts); it is checked by printd (at least 10 characters, not the account's name) and sent
nowhere else. The name is checked here first, so a password is never typed for a name printd would refuse.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from printd.cli_output import EXIT_OK, Output, UsageError, cell, dict_rows, get
from printd.control.client import ControlClient
from printd.i18n import N_, _
from printd.store.accounts import LANGUAGES, MAX_NAME_LENGTH, NAME_PATTERN, ROLES

Add = Callable[..., argparse.ArgumentParser]

LANGUAGE_NAMES = {"id": N_("Indonesian"), "en": N_("English")}
_NAME = re.compile(NAME_PATTERN)


def _account_name(text: str) -> str:
    if len(text) > MAX_NAME_LENGTH or not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            _(
                "expected an account name of 1 to {limit} letters, digits, '.', '_' or '-', beginning with a letter"
                " or a digit"
            ).format(limit=MAX_NAME_LENGTH)
        )
    return text


def add_user_commands(add: Add, commands: Any) -> None:
    """Register ``users add|passwd|disable|enable|list|language``."""
    users = add(
        "users",
        _(
            "Dashboard accounts (printd-web): list them, add one, change its password or language, disable or"
            " enable it (supervisor)."
        ),
        commands,
    )
    actions = users.add_subparsers(dest="users_command", metavar="SUBCOMMAND", required=True)
    name_help = _("the account's name, as staff type it to log in to the dashboard")
    stdin_help = _("read the password from the first line of standard input instead of asking for it twice")

    new = add(
        "add",
        _(
            "Add a dashboard account with a role: viewer (sees the station), operator (also pauses printers and acts"
            " on jobs), supervisor (also books stock and keeps accounts). The password is asked for twice."
        ),
        actions,
    )
    new.add_argument("name", type=_account_name, metavar="NAME", help=name_help)
    new.add_argument("--role", required=True, choices=ROLES, help=_("what the account may do on the dashboard"))
    new.add_argument(
        "--language", choices=LANGUAGES, help=_("the dashboard's language for it (default: the browser's)")
    )
    new.add_argument("--password-stdin", action="store_true", help=stdin_help)

    passwd = add("passwd", _("Give a dashboard account a new password (asked for twice)."), actions)
    passwd.add_argument("name", type=_account_name, metavar="NAME", help=name_help)
    passwd.add_argument("--password-stdin", action="store_true", help=stdin_help)

    for command, what in (
        ("disable", _("Disable a dashboard account: it can no longer log in or act; nothing of it is deleted.")),
        ("enable", _("Enable a disabled dashboard account again.")),
    ):
        add(command, what, actions).add_argument("name", type=_account_name, metavar="NAME", help=name_help)

    add("list", _("List the dashboard accounts: role, language, disabled, when and by whom last changed."), actions)

    language = add("language", _("Set the dashboard's language for an account."), actions)
    language.add_argument("name", type=_account_name, metavar="NAME", help=name_help)
    language.add_argument("language", choices=LANGUAGES, metavar="LANGUAGE", help=_("id (Indonesian) or en (English)"))


# ---- commands ------------------------------------------------------------------------------------------------


def users(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    command = args.users_command
    if command == "list":
        reply = client.call("users.list", {})
        if out.json:
            out.emit_json(reply)
        else:
            out.show(render_accounts, reply)
        return EXIT_OK
    if command == "add":
        password = _password(args.name, args.password_stdin)
        params: dict[str, object] = {
            "name": args.name,
            "role": args.role,
            "password": password,
            "language": args.language,
        }
        done = _("Added dashboard account {name} ({role}).").format(name=args.name, role=args.role)
    elif command == "passwd":
        params = {"name": args.name, "password": _password(args.name, args.password_stdin)}
        done = _("Changed the password of dashboard account {name}.").format(name=args.name)
    elif command == "disable":
        params = {"name": args.name}
        done = _("Disabled dashboard account {name}: it can no longer log in or act.").format(name=args.name)
    elif command == "enable":
        params = {"name": args.name}
        done = _("Enabled dashboard account {name}.").format(name=args.name)
    else:
        params = {"name": args.name, "language": args.language}
        done = _("Dashboard account {name} now reads the dashboard in {language}.").format(
            name=args.name, language=_(LANGUAGE_NAMES[args.language])
        )
    reply = client.call(f"users.{command}", params)
    if out.json:
        out.emit_json(reply)
    else:
        out.console.print(Text(done))
    return EXIT_OK


def _password(name: str, from_stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice without echo."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise UsageError(_("no password on standard input: give it as the first line; nothing was changed"))
        return password
    try:
        first = getpass.getpass(_("New password for {name}: ").format(name=name))
        second = getpass.getpass(_("The same password again: "))
    except EOFError:
        raise UsageError(_("no password was typed; nothing was changed")) from None
    if first != second:
        raise UsageError(_("the two passwords differ; nothing was changed, try again"))
    return first


# ---- rendering for people ------------------------------------------------------------------------------------


def render_accounts(console: Console, accounts: object) -> None:
    rows = dict_rows(accounts)
    if not rows:
        console.print(Text(_("No dashboard accounts yet; a supervisor adds one with 'printctl users add'.")))
        return
    table = Table(
        _("Name"),
        _("Role"),
        _("Language"),
        _("Disabled"),
        _("Changed at"),
        _("Changed by"),
        title=_("Dashboard accounts"),
    )
    for account in rows:
        language = get(account, "language")
        table.add_row(
            cell(account.get("name")),
            cell(account.get("role")),
            Text(_(LANGUAGE_NAMES[language]))
            if isinstance(language, str) and language in LANGUAGE_NAMES
            else cell(None),
            Text(_("yes"), style="bold red") if account.get("disabled") else Text(_("no")),
            cell(account.get("changed_at")),
            cell(account.get("changed_by")),
        )
    console.print(table)
