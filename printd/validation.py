"""Turning msgspec validation errors into messages that name the key first and never quote a value."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

_REWORDED = {
    "Object contains unknown field": "unknown key",
}


def explain(exc: msgspec.ValidationError, *, whole: str = "(top level)", hints: Mapping[str, str] | None = None) -> str:
    """``Expected `int`, got `str` - at `$.printer[0].cards``` → ``key printer[0].cards: Expected `int`...``."""
    message = str(exc)
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        return message
    for old, new in _REWORDED.items():
        text = text.replace(old, new)
    key = where.rstrip("`").removeprefix("$").lstrip(".") or whole
    if hints and key in hints and text.startswith("Expected `str`"):
        text = hints[key]
    elif text.startswith("Expected `str` matching regex"):
        text = "has characters that are not allowed here"  # the pattern means nothing to a person
    return f"key {key}: {text}"
