"""The server-drawn SVG charts: well-formed, proportional, escaped, and free of script and inline style."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from printd.reports.model import MonthlyReport, Movements, StockPeriod
from printd.web.charts import HEIGHT, DayFigures, cards_chart, days_of, stock_chart

SVG = "{http://www.w3.org/2000/svg}"


def period(day: dt.date, issued: int, spoiled: int, closing: int) -> StockPeriod:
    moved = Movements(issued=issued, spoiled={"print_failed": spoiled} if spoiled else {})
    return StockPeriod(day, day, closing + issued + spoiled, moved, closing)


def month(year: int, number: int, days: list[StockPeriod]) -> MonthlyReport:
    total = StockPeriod(days[0].start, days[-1].end, days[0].opening, Movements(), days[-1].closing)
    return MonthlyReport(year, number, days, total)


def label(day: dt.date) -> str:
    return f"{day.day}/{day.month}"


def test_days_come_from_both_months_in_order_within_the_window() -> None:
    november = month(2026, 11, [period(dt.date(2026, 11, d), d, 0, 1000 - d) for d in range(1, 31)])
    december = month(2026, 12, [period(dt.date(2026, 12, d), 10 * d, 1, 900) for d in range(1, 8)])
    days = days_of([december, november], dt.date(2026, 11, 28), dt.date(2026, 12, 3))
    assert [d.day.isoformat() for d in days] == [
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
        "2026-12-03",
    ]
    assert days[3] == DayFigures(dt.date(2026, 12, 1), 10, 1, 900)


def test_bars_are_proportional_and_texts_escaped() -> None:
    days = [
        DayFigures(dt.date(2026, 12, d), issued, spoiled, 0)
        for d, (issued, spoiled) in enumerate([(40, 10), (0, 0), (90, 10)], 1)
    ]
    svg = cards_chart(
        days,
        title="Kartu <dicetak> & rusak",
        issued_label="dicetak",
        spoiled_label="rusak",
        number=str,
        day_label=label,
    )
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "Kartu <dicetak> & rusak"  # type: ignore[union-attr]
    issued = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "issued"]
    spoiled = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "spoiled"]
    assert len(issued) == 3 and len(spoiled) == 2  # a day without spoils draws no empty bar
    heights = [float(r.get("height", "0")) for r in issued]
    assert heights[1] == 0 and abs(heights[2] / heights[0] - 90 / 40) < 0.01
    tips = [t.text for t in root.iter(f"{SVG}title")]
    assert "1/12: dicetak 40, rusak 10" in tips
    for element in root.iter():
        assert "style" not in element.attrib and not element.tag.endswith("script")


def test_stock_line_and_reorder_point_share_one_scale() -> None:
    days = [DayFigures(dt.date(2026, 12, d), 0, 0, closing) for d, closing in enumerate([1800, 1200, 600], 1)]
    svg = stock_chart(
        days, title="Stok", on_hand_label="sisa", number=str, day_label=label, reorder_point=1000, reorder_label="titik"
    )
    root = ET.fromstring(svg)
    circles = [float(c.get("cy", "0")) for c in root.iter(f"{SVG}circle")]
    reorder = next(line for line in root.iter(f"{SVG}line") if line.get("class") == "reorder")
    assert circles[0] < float(reorder.get("y1", "0")) < circles[2] < HEIGHT  # 1800 above the 1000 line, 600 below
    grid_values = [t.text for t in root.iter(f"{SVG}text")][:3]
    assert grid_values == ["0", "1000", "2000"]


def test_no_days_still_draws_an_empty_chart() -> None:
    root = ET.fromstring(cards_chart([], title="t", issued_label="i", spoiled_label="s", number=str, day_label=label))
    assert not list(root.iter(f"{SVG}rect"))
