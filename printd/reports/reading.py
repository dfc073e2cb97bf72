"""Reports read through the store's interface and folded in the station's time zone (days are local days)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from typing import Protocol
from zoneinfo import ZoneInfo

from printd.reports.model import DayUse, MonthlyReport, StockPeriod
from printd.reports.stock import Tally, local_date, local_span, on_hand_before, on_hand_change, stock_period
from printd.store.ledger_reads import LedgerRow, LedgerSum, PeriodReads


class ReportSource(Protocol):
    """The part of the store the reports read (every engine provides it)."""

    def period_reads(self, start: float, end: float, *, rows: bool = True) -> PeriodReads: ...

    def use_by_quarter_hour(self, start: float, end: float) -> list[tuple[float, LedgerSum]]: ...

    def backlog_by_priority(self) -> dict[str, int]: ...


def stock_between(source: ReportSource, start: dt.date, end: dt.date, zone: ZoneInfo) -> StockPeriod:
    """The station's stock over the local dates ``start`` to ``end`` (inclusive)."""
    first, after = local_span(start, end, zone)
    reads = source.period_reads(first, after)
    return stock_period(reads.rows, on_hand_before(reads.balance_now, reads.since_start), start, end)


def monthly(source: ReportSource, year: int, month: int, zone: ZoneInfo) -> MonthlyReport:
    """The month's report: one ``StockPeriod`` a local day, each opening where the day before closed."""
    start = dt.date(year, month, 1)
    end = dt.date(year, month, calendar.monthrange(year, month)[1])
    first, after = local_span(start, end, zone)
    reads = source.period_reads(first, after)
    by_day: dict[dt.date, list[LedgerRow]] = defaultdict(list)
    for row in reads.rows:
        by_day[local_date(row.at, zone)].append(row)
    opening = on_hand_before(reads.balance_now, reads.since_start)
    days: list[StockPeriod] = []
    for offset in range(end.day):
        day = start + dt.timedelta(days=offset)
        days.append(stock_period(by_day.get(day, []), days[-1].closing if days else opening, day, day))
    return MonthlyReport(year, month, days, stock_period(reads.rows, opening, start, end))


def day_uses(source: ReportSource, days: list[dt.date], zone: ZoneInfo) -> list[DayUse]:
    """Issued and spoiled blanks on each of ``days`` (local dates, oldest first), as the stock reports count them.

    A day that began with no blank on hand and received none is marked ``out_of_stock``: nothing printed then
    says nothing about demand."""
    if not days:
        return []
    first, after = local_span(days[0], days[-1], zone)
    reads = source.period_reads(first, after, rows=False)
    groups = [(local_date(q, zone), g) for q, g in sorted(source.use_by_quarter_hour(first, after), key=lambda x: x[0])]
    stock, index, uses = on_hand_before(reads.balance_now, reads.since_start), 0, []
    for day in days:
        while index < len(groups) and groups[index][0] < day:  # a day off between working days moves stock too
            stock += on_hand_change(groups[index][1])
            index += 1
        at_start, tally = stock, Tally()
        while index < len(groups) and groups[index][0] == day:
            group = groups[index][1]
            tally.add(group.kind, group.count, group.resolution, group.from_issued, None, group.events)
            stock += on_hand_change(group)
            index += 1
        moved = tally.frozen()
        uses.append(DayUse(day, moved.issued, moved.spoiled_total, out_of_stock=at_start <= 0 and not moved.received))
    return uses
