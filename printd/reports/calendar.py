"""Working days of an office: which weekdays are off, its holidays, and counting and stepping over them.

Invariants (tested):
- A working day is neither a weekend weekday nor a holiday; at least one weekday is working, so every walk ends.
- ``working_days_between(d, add_working_days(d, n)) == n`` for every date ``d`` and ``n >= 0``.
- ``working_days_back(until, n)`` is ``n`` working days, oldest first, the last of them on or before ``until``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_DAY = dt.timedelta(days=1)


def require_date(name: str, value: object) -> dt.date:
    """``value`` if it is a plain date, else a TypeError naming ``name``."""
    # A datetime is a date too, but it never equals one: a holiday given as a datetime would silently not count.
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime.date (a local date), got {type(value).__name__}")
    return value


def require_count(name: str, value: object) -> int:
    """``value`` if it is an int of 0 or more, else a TypeError or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {value}")
    return value


@dataclass(frozen=True)
class WorkCalendar:
    """An office's working days. ``weekend``: the weekdays off, as ``date.weekday()`` (Monday 0 ... Sunday 6)."""

    weekend: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        weekend = frozenset(self.weekend)
        for day in weekend:
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise ValueError(f"weekend days are weekday numbers 0 (Monday) to 6 (Sunday), got {day!r}")
        if len(weekend) == 7:
            raise ValueError("weekend cannot hold all seven weekdays: there would be no working day")
        holidays = frozenset(self.holidays)
        for holiday in holidays:
            require_date("a holiday", holiday)
        object.__setattr__(self, "weekend", weekend)
        object.__setattr__(self, "holidays", holidays)

    def is_working(self, d: dt.date) -> bool:
        require_date("d", d)
        return d.weekday() not in self.weekend and d not in self.holidays

    def working_days_back(self, until: dt.date, n: int) -> list[dt.date]:
        """The last ``n`` working days up to and including ``until`` (if it is one), oldest first."""
        day = require_date("until", until)
        require_count("n", n)
        days: list[dt.date] = []
        while len(days) < n:
            if self.is_working(day):
                days.append(day)
            day -= _DAY
        days.reverse()
        return days

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """How many working days come after ``start`` up to and including ``end``: 0 when ``end == start``."""
        require_date("start", start)
        require_date("end", end)
        if end < start:
            raise ValueError(f"end ({end}) is before start ({start})")
        weeks, rest = divmod((end - start).days, 7)
        count = weeks * (7 - len(self.weekend))
        day = start + dt.timedelta(days=weeks * 7)
        for _ in range(rest):
            day += _DAY
            count += day.weekday() not in self.weekend
        return count - sum(1 for h in self.holidays if start < h <= end and h.weekday() not in self.weekend)

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``start``; ``start`` itself (working or not) when ``n`` is 0."""
        day = require_date("start", start)
        left = require_count("n", n)
        while left:
            day += _DAY
            left -= self.is_working(day)
        return day
