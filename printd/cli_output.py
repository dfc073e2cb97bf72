"""What printctl shows: rich tables for people (every daemon string made safe first) or JSON, and its exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import msgspec
from rich.console import Console
from rich.text import Text

from printd.cli_labels import Labels, label
from printd.i18n import _, format_datetime, format_number
from printd.terminal import visible, visible_json, visible_text

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

_json = msgspec.json.Encoder()

Renderer = Callable[[Console, object], None]


class UsageError(Exception):
    """The command line or an input file it names cannot be used (exit 2)."""


def date_argument(text: str) -> str:
    """An argparse type: a real date written YYYY-MM-DD (the station's local date)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise argparse.ArgumentTypeError(_("expected a date as YYYY-MM-DD, got {text}").format(text=repr(text)))
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{text} is not a real date").format(text=repr(text))) from None
    return text


@dataclass
class Output:
    """Where printctl writes: a rich console for people, raw JSON for programs."""

    json: bool
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    zone: Callable[[], ZoneInfo | None] = lambda: None
    """The station's time zone (asked of the daemon once, when a table first shows a time); None: show UTC."""
    console: Console = field(init=False)

    def __post_init__(self) -> None:
        self.console = Console(file=self.out, highlight=False)

    def emit_json(self, value: object) -> None:
        self.out.write(visible_json(msgspec.json.format(_json.encode(value), indent=2).decode()) + "\n")

    def show(self, render: Renderer, reply: object) -> None:
        """Render a reply for people: every string made safe for the terminal, every UTC time in local time."""
        render(self.console, local_times(visible(reply), self.zone))

    def error(self, message: str) -> None:
        self.err.write(f"printctl: {visible_text(message)}\n")


def cell(value: object) -> Text:
    """A value as a table shows it: ``-`` for nothing, yes/no, a list joined; ids and names as they are."""
    if value is None or value == "":
        return Text("-", style="dim")
    if isinstance(value, bool):
        return Text(_("yes") if value else _("no"))
    if isinstance(value, list):
        return Text(visible_text(", ".join(str(v) for v in value)) or "-")
    return Text(visible_text(str(value)))


def quantity(value: object) -> Text:
    """A number of things (blanks, cards, jobs) written the reader's way: ``4980`` plain, ``4.980`` in Indonesian."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Text(format_number(value))
    return cell(value)


def labelled(labels: Labels, value: object) -> Text:
    """A machine value (a job state, a priority...) shown through its label."""
    if value is None or value == "":
        return cell(value)
    if isinstance(value, list):
        return Text(visible_text(", ".join(label(labels, v) for v in value)) or "-")
    return Text(visible_text(label(labels, value)))


def get(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, dict) else None


def dict_rows(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


_UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)")


def local_times(value: object, zone: Callable[[], ZoneInfo | None]) -> object:
    """``value`` with every UTC ISO time (``2026-12-06T01:30:00.000Z``) written in the station's zone as a person
    reads it (``2026-12-06 09:30:00 WITA`` plain, ``6 Des 2026 09.30.00 WITA`` in Indonesian); the zone is asked for
    only if there is a time to convert."""
    if isinstance(value, str):
        if not _UTC_TIME.fullmatch(value):
            return value
        found = zone()
        if found is None:
            return value
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(found)
        return f"{format_datetime(moment, tzinfo=found)} {moment.tzname()}"
    if isinstance(value, dict):
        return {k: local_times(v, zone) for k, v in value.items()}
    if isinstance(value, list):
        return [local_times(v, zone) for v in value]
    return value
