"""What printctl shows: rich tables for people (every daemon string made safe first) or JSON, and its exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import msgspec
from rich.console import Console
from rich.text import Text

from printd.terminal import visible, visible_json, visible_text

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

_json = msgspec.json.Encoder()

Renderer = Callable[[Console, object], None]


class UsageError(Exception):
    """The command line or an input file it names cannot be used (exit 2)."""


@dataclass
class Output:
    """Where printctl writes: a rich console for people, raw JSON for programs."""

    json: bool
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    console: Console = field(init=False)

    def __post_init__(self) -> None:
        self.console = Console(file=self.out, highlight=False)

    def emit_json(self, value: object) -> None:
        self.out.write(visible_json(msgspec.json.format(_json.encode(value), indent=2).decode()) + "\n")

    def show(self, render: Renderer, reply: object) -> None:
        """Render a reply for people, every string in it made safe for the terminal first."""
        render(self.console, visible(reply))

    def error(self, message: str) -> None:
        self.err.write(f"printctl: {visible_text(message)}\n")


def cell(value: object) -> Text:
    if value is None or value == "":
        return Text("-", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, list):
        return Text(visible_text(", ".join(str(v) for v in value)) or "-")
    return Text(visible_text(str(value)))


def get(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, dict) else None


def dict_rows(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
