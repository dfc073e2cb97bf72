"""Structured logging: JSON lines for journald when stdout is not a terminal, readable lines when it is."""

from __future__ import annotations

import logging
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
