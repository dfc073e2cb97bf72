"""Test helper: a real component the tests need (a scheduler, a database server) fails the run under CI=true when it
is missing, and is skipped, with the reason, elsewhere; a component's process is stopped as a service manager would."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest


def require_component(what: str, reason: str | None) -> None:
    """``reason``: why ``what`` cannot run here, or None when it can."""
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {what} cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM, then wait ``timeout`` seconds before SIGKILL; nothing if it already ended."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
