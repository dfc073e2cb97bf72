"""Test helper: a real component the tests need (a scheduler, a database server) fails the run under CI=true when it
is missing, and is skipped, with the reason, elsewhere."""

from __future__ import annotations

import os

import pytest


def require_component(what: str, reason: str | None) -> None:
    """``reason``: why ``what`` cannot run here, or None when it can."""
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {what} cannot run: {reason}", pytrace=False)
    pytest.skip(reason)
