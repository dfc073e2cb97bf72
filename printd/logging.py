"""Structured logging: JSON lines for journald when stdout is not a terminal, readable lines when it is."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

from printd.terminal import visible


def configure(level: str = "info", *, json: bool | None = None, stream: Any = None) -> None:
    out = stream or sys.stdout
    as_json = (not out.isatty()) if json is None else json
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    if as_json and writes_to_journal(out):
        renderer = JournalPriority(renderer)
    if not as_json:  # JSON escapes control characters itself; a terminal would obey them
        processors.append(_visible_values)
    structlog.configure(
        processors=[*processors, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(logger_name=name)
    return logger


def _visible_values(_: Any, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Text from printers and staff (a printer's answer, a note) shown with its control characters escaped."""
    return {key: visible(value) for key, value in event.items()}


SYSLOG_PRIORITIES = {"critical": 2, "exception": 3, "error": 3, "warning": 4, "info": 6, "debug": 7}
"""structlog's level names -> syslog(3) priorities, which journald reads from a "<N>" line prefix."""


class JournalPriority:
    """Prefixes each rendered line with its syslog priority, "<3>{...}": journald strips it and files the line
    under that PRIORITY=, so `journalctl -p warning -u printd` shows printd's warnings and errors."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, method: str, event: structlog.typing.EventDict) -> str:
        priority = SYSLOG_PRIORITIES.get(str(event.get("level", method)), 6)
        return f"<{priority}>{self._renderer(logger, method, event)}"


def writes_to_journal(stream: Any) -> bool:
    """True when ``stream`` is the journal stream systemd connected (JOURNAL_STREAM=device:inode, systemd.exec(5))."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"
