"""The printdsim backend wrapper: a small executable for a CUPS backend directory that runs this package."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from drivers.cups.device import SCHEME


def wrapper_script(python: str = sys.executable, pythonpath: str | None = None) -> str:
    """A shell script running ``python -m drivers.cups.backend``; CUPS gives backends a clean environment,
    so the interpreter (and, for a source tree, the import path) is written into it."""
    lines = ["#!/bin/sh", f"# CUPS backend {SCHEME}: printd's simulated card printer (drivers/cups/backend.py)"]
    if pythonpath:
        lines += [f"PYTHONPATH={shlex.quote(pythonpath)}", "export PYTHONPATH"]
    lines.append(f'exec {shlex.quote(python)} -m drivers.cups.backend "$@"')
    return "\n".join(lines) + "\n"


def install_backend(
    backend_dir: Path, *, python: str = sys.executable, pythonpath: str | None = None, as_root: bool = False
) -> Path:
    """Write the wrapper as ``backend_dir/printdsim``. CUPS runs a backend as root when its mode gives
    nothing to group or others (0700), else as its User (0755); either way the file must belong to root
    when the scheduler runs as root, and be writable by its owner only."""
    path = backend_dir / SCHEME
    temporary = path.with_name(f".{SCHEME}.{os.getpid()}")
    temporary.write_text(wrapper_script(python, pythonpath), encoding="utf-8")
    temporary.chmod(0o700 if as_root else 0o755)
    temporary.replace(path)
    return path
