"""Reading printd's replies defensively: a field of the wrong type is taken as absent, never trusted or raised on.

The pages render whatever printd answers; a reply from another version, or a field that is null, must show as a dash,
not break the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def rows(value: object) -> list[Mapping[str, Any]]:
    """The objects of a list (anything else in it is left out); not a list: none."""
    return [row for row in value if isinstance(row, Mapping)] if isinstance(value, list) else []


def text(value: object) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def integer(value: object) -> int | None:
    """An integer (a boolean is not one), or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(value: object) -> float | None:
    """An integer or a float as a float (a boolean is not one), or None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
