"""Test helper: systemd's command-line tools, required under CI=true (Debian package: systemd), else skipped."""

from __future__ import annotations

import os
import shutil

import pytest


def systemd_tool(name: str) -> str:
    """The path of ``name``; fails under CI=true when it is missing, skips otherwise."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed: install the Debian package systemd (apt-get install systemd)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
