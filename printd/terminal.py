"""Text for a person's terminal: control and format characters shown as escapes, as the JSON logs show them.

A reply can carry text that staff typed or a client sent (a QC detail, a resolve note, a printer's answer). Printed
raw, an escape sequence in it could move the cursor, rewrite or hide rows of a table, or change the window title;
a bidirectional override could reorder what a supervisor reads. Every character that is not printable is shown as
``\\uXXXX`` instead.
"""

from __future__ import annotations


def visible_text(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def visible(value: object) -> object:
    """``value`` (a decoded JSON reply) with every string in it, keys included, made ``visible_text``."""
    if isinstance(value, str):
        return visible_text(value)
    if isinstance(value, dict):
        return {visible(k): visible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [visible(v) for v in value]
    return value


def visible_json(text: str) -> str:
    """Encoded JSON with every character that is not printable written as a JSON escape: the same value for a
    program, and nothing a terminal obeys. Line breaks between the JSON's lines stay (none is inside a string)."""
    if text.replace("\n", "").isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\n" else _json_escape(ch) for ch in text)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
