"""Charts drawn on the server as SVG: cards issued and spoiled a day, and blanks on hand at each day's end.

No script and no inline style (the pages' Content-Security-Policy allows neither): shapes carry classes that
printd.css colours, and presentation attributes only for geometry. Every text is given by the caller, already
in the reader's language; numbers and dates come formatted the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from printd.reports.model import MonthlyReport

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 36  # margins for the axis labels


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One local day of a station's stock report, as the charts draw it."""

    day: dt.date
    issued: int
    spoiled: int
    closing: int


def days_of(reports: Sequence[MonthlyReport], first: dt.date, last: dt.date) -> list[DayFigures]:
    """The days ``first``..``last`` from monthly reports (oldest first); days the reports do not hold are left out."""
    found = {
        period.start: DayFigures(period.start, period.movements.issued, period.movements.spoiled_total, period.closing)
        for report in reports
        for period in report.days
    }
    return [found[day] for day in sorted(found) if first <= day <= last]


def _frame(
    title: str,
    top: int,
    number: Callable[[int], str],
    body: list[str],
    days: Sequence[DayFigures],
    day_label: Callable[[dt.date], str],
) -> str:
    """The chart's box: title, three grid lines with their values, dates under the axis, then ``body``."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(number(round(top * fraction)))}</text>"
        )
    if days:
        step = max(1, len(days) // 6)  # at most about seven dates under the axis
        slot = plot_w / len(days)
        for index in range(0, len(days), step):
            x = LEFT + slot * (index + 0.5)
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                f"{escape(day_label(days[index].day))}</text>"
            )
    parts.extend(body)
    parts.append("</svg>")
    return "".join(parts)


def cards_chart(
    days: Sequence[DayFigures],
    *,
    title: str,
    issued_label: str,
    spoiled_label: str,
    number: Callable[[int], str],
    day_label: Callable[[dt.date], str],
) -> str:
    """Stacked bars a day: issued (below) and spoiled (above); each bar's tooltip gives the day's figures."""
    top = _axis_top(max((d.issued + d.spoiled for d in days), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(days))
    width = max(1.0, slot * 0.7)
    body = []
    for index, day in enumerate(days):
        x = LEFT + slot * index + (slot - width) / 2
        issued_h = plot_h * day.issued / top
        spoiled_h = plot_h * day.spoiled / top
        tip = f"{day_label(day.day)}: {issued_label} {number(day.issued)}, {spoiled_label} {number(day.spoiled)}"
        body.append(f"<g><title>{escape(tip)}</title>")
        body.append(
            f'<rect class="issued" x="{x:.1f}" y="{TOP + plot_h - issued_h:.1f}" width="{width:.1f}"'
            f' height="{issued_h:.1f}"/>'
        )
        if day.spoiled:
            body.append(
                f'<rect class="spoiled" x="{x:.1f}" y="{TOP + plot_h - issued_h - spoiled_h:.1f}" width="{width:.1f}"'
                f' height="{spoiled_h:.1f}"/>'
            )
        body.append("</g>")
    return _frame(title, top, number, body, days, day_label)


def stock_chart(
    days: Sequence[DayFigures],
    *,
    title: str,
    on_hand_label: str,
    number: Callable[[int], str],
    day_label: Callable[[dt.date], str],
    reorder_point: int | None = None,
    reorder_label: str = "",
) -> str:
    """A line of blanks on hand at each day's end, and the reorder point as a dashed line when known."""
    top = _axis_top(max([d.closing for d in days] + [reorder_point or 0], default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(days))
    points = [(LEFT + slot * (i + 0.5), TOP + plot_h * (1 - d.closing / top)) for i, d in enumerate(days)]
    body = []
    if reorder_point is not None:
        y = TOP + plot_h * (1 - reorder_point / top)
        body.append(
            f'<g><title>{escape(reorder_label)}: {escape(number(reorder_point))}</title><line class="reorder"'
            f' x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/></g>'
        )
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline class="on-hand" points="{path}"/>')
        for (x, y), day in zip(points, days, strict=True):
            tip = f"{day_label(day.day)}: {on_hand_label} {number(day.closing)}"
            body.append(f'<g><title>{escape(tip)}</title><circle class="on-hand" cx="{x:.1f}" cy="{y:.1f}" r="3"/></g>')
    return _frame(title, top, number, body, days, day_label)


def _axis_top(value: int) -> int:
    """The axis' top: the first of 1, 2, 5, 10, 20, 50... at or above ``value``."""
    top = 1
    while top < value:
        for factor in (2, 5 / 2, 2):  # 1 → 2 → 5 → 10 → 20 → 50 ...
            top = int(top * factor)
            if top >= value:
                return top
    return top
