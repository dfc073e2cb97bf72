"""Reports as JSON for the control socket and scripts, and back into the report records (for the documents).

Keys are English and stable; dates are local ISO dates, times UTC ISO 8601. Every spoil category appears in
``spoiled``, zero or not, so a script or a spreadsheet sees the same columns every day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import msgspec

from printd.reports.model import (
    SPOIL_CATEGORIES,
    BlankRequest,
    Forecast,
    Handover,
    MonthlyReport,
    Movements,
    StockPeriod,
)

_MOVEMENT_KEYS = ("received", "transferred_in", "transferred_out", "adjusted", "issued", "in_doubt")
T = TypeVar("T")


def movements_json(moved: Movements) -> dict[str, Any]:
    out: dict[str, Any] = {key: getattr(moved, key) for key in _MOVEMENT_KEYS}
    out["spoiled"] = {category: moved.spoiled.get(category, 0) for category in SPOIL_CATEGORIES} | {
        category: n for category, n in moved.spoiled.items() if category not in SPOIL_CATEGORIES
    }
    return out


def movements_from(obj: dict[str, Any]) -> Movements:
    spoiled = {str(k): int(v) for k, v in dict(obj["spoiled"]).items() if v}
    return Movements(spoiled=spoiled, **{key: int(obj[key]) for key in _MOVEMENT_KEYS})


def period_json(period: StockPeriod, *, breakdown: bool = True) -> dict[str, Any]:
    """A day (``date``) or a longer period (``start``/``end``): opening, the movements, closing, and the check."""
    out: dict[str, Any] = (
        {"date": period.start.isoformat()}
        if period.start == period.end
        else {"start": period.start.isoformat(), "end": period.end.isoformat()}
    )
    out |= {"opening": period.opening} | movements_json(period.movements) | {"closing": period.closing}
    out["balanced"] = period.balanced
    if breakdown:
        out["printers"] = {name: movements_json(m) for name, m in period.printers.items()}
        out["operators"] = {name: movements_json(m) for name, m in period.operators.items()}
    return out


def period_from(obj: dict[str, Any]) -> StockPeriod:
    start = dt.date.fromisoformat(obj.get("date") or obj["start"])
    end = dt.date.fromisoformat(obj.get("date") or obj["end"])
    return StockPeriod(
        start,
        end,
        int(obj["opening"]),
        movements_from(obj),
        int(obj["closing"]),
        {name: movements_from(m) for name, m in dict(obj.get("printers") or {}).items()},
        {name: movements_from(m) for name, m in dict(obj.get("operators") or {}).items()},
    )


def monthly_json(report: MonthlyReport) -> dict[str, Any]:
    return {
        "month": f"{report.year:04d}-{report.month:02d}",
        "days": [period_json(day, breakdown=False) for day in report.days],
        "total": period_json(report.month_total),
    }


def monthly_from(obj: dict[str, Any]) -> MonthlyReport:
    year, month = (int(part) for part in str(obj["month"]).split("-"))
    return MonthlyReport(year, month, [period_from(d) for d in obj["days"]], period_from(obj["total"]))


def record_json(record: Forecast | Handover | BlankRequest) -> dict[str, Any]:
    out = msgspec.to_builtins(record)
    assert isinstance(out, dict)
    return out


def record_from(obj: object, kind: type[T]) -> T:
    """A Forecast, Handover or BlankRequest back from its JSON (``ValueError`` if it is not one)."""
    try:
        return msgspec.convert(obj, kind)
    except msgspec.ValidationError as exc:
        raise ValueError(f"printd sent a {kind.__name__} this printctl cannot read ({exc}); update printctl") from None
