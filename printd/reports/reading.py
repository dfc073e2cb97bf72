"""Reports read through the store's interface and folded in the station's time zone (days are local days)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from typing import Protocol
from zoneinfo import ZoneInfo

from printd.reports.model import DayUse, MonthlyReport, Movements, StockPeriod
from printd.reports.stock import grouped_movements, local_date, local_span, on_hand_change, period_of, stock_period
from printd.store.ledger_reads import PeriodReads


class ReportSource(Protocol):
    """The part of the store the reports read (every engine provides it)."""

    def period_reads(self, start: float, end: float, *, rows: bool = True) -> PeriodReads: ...

    def backlog_by_priority(self) -> dict[str, int]: ...


def opening(reads: PeriodReads) -> int:
    """Stock on hand when the period read began: the fold of every event before it."""
    return sum(on_hand_change(group) for group in reads.before)


def stock_between(
    source: ReportSource, start: dt.date, end: dt.date, zone: ZoneInfo, *, breakdown: bool = True
) -> StockPeriod:
    """The station's stock over the local dates ``start`` to ``end`` (inclusive); ``breakdown``: per printer and
    per operator too (read event by event), else from the events grouped by quarter hour."""
    first, after = local_span(start, end, zone)
    reads = source.period_reads(first, after, rows=breakdown)
    if breakdown:
        return stock_period(reads.rows, opening(reads), start, end)
    return period_of(start, end, opening(reads), grouped_movements(group for _, group in reads.quarters))


def monthly(source: ReportSource, year: int, month: int, zone: ZoneInfo) -> MonthlyReport:
    """The month's report: one ``StockPeriod`` a local day, each opening where the day before closed."""
    start = dt.date(year, month, 1)
    end = dt.date(year, month, calendar.monthrange(year, month)[1])
    days = [start + dt.timedelta(days=n) for n in range(end.day)]
    reads = source.period_reads(*local_span(start, end, zone), rows=False)
    periods = [period_of(day, day, at_start, moved) for day, moved, at_start in _by_day(reads, days, zone)]
    whole = grouped_movements(group for _, group in reads.quarters)
    return MonthlyReport(year, month, periods, period_of(start, end, periods[0].opening, whole))


def day_uses(source: ReportSource, days: list[dt.date], zone: ZoneInfo) -> list[DayUse]:
    """Issued and spoiled blanks on each of ``days`` (local dates, oldest first), as the stock reports count them.

    A day that began with no blank on hand and received none is marked ``out_of_stock``: nothing printed then
    says nothing about demand."""
    if not days:
        return []
    reads = source.period_reads(*local_span(days[0], days[-1], zone), rows=False)
    return [
        DayUse(day, moved.issued, moved.spoiled_total, out_of_stock=at_start <= 0 and not moved.received)
        for day, moved, at_start in _by_day(reads, days, zone)
    ]


def _by_day(reads: PeriodReads, days: list[dt.date], zone: ZoneInfo) -> Iterator[tuple[dt.date, Movements, int]]:
    """Each of ``days`` (ascending) with its movements and the stock on hand when it began; the events of days in
    between (a day off) move the stock too."""
    groups = [(local_date(quarter, zone), group) for quarter, group in reads.quarters]
    stock, index = opening(reads), 0
    for day in days:
        while index < len(groups) and groups[index][0] < day:
            stock += on_hand_change(groups[index][1])
            index += 1
        at_start, todays = stock, []
        while index < len(groups) and groups[index][0] == day:
            todays.append(groups[index][1])
            stock += on_hand_change(groups[index][1])
            index += 1
        yield day, grouped_movements(todays), at_start
