"""What the reports say, as plain frozen data: folds produce these, renderers (table, CSV, JSON, PDF) only show them.

Counts are blanks. Every time is UTC (an epoch float or an aware datetime); dates are the station's local dates.
The identity each stock report satisfies: ``closing = opening + inflow - outflow`` (see ``Movements``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# The records a berita acara is made of live with the store (it books them); they are part of this model too.
from printd.store.records import Handover, HandoverItem, Person

SPOIL_CATEGORIES = ("print_failed", "encode_failed", "damaged", "data_changed", "test_print")
"""The order categories are shown in; the first four are the official ones for invalid e-KTP blanks."""


@dataclass(frozen=True)
class Movements:
    """Blanks moving in and out of the stock on hand over a period, and what became of the ones taken.

    ``issued``: good cards (direct, or an in-doubt card found good) less cards rejected at inspection.
    ``spoiled``: by category, direct spoils, in-doubt cards found spoiled and cards rejected at inspection.
    ``in_doubt``: the net change of cards whose fate is open (booked less settled; may be negative).
    So ``issued + spoiled + in_doubt`` is exactly what the printers took from the stock, net of blanks an in-doubt
    settlement found never fed.
    """

    received: int = 0
    transferred_in: int = 0
    transferred_out: int = 0
    adjusted: int = 0
    issued: int = 0
    spoiled: dict[str, int] = field(default_factory=dict)
    in_doubt: int = 0

    @property
    def spoiled_total(self) -> int:
        return sum(self.spoiled.values())

    @property
    def inflow(self) -> int:
        """Into the stock on hand: deliveries, transfers in and adjustments (signed)."""
        return self.received + self.transferred_in + self.adjusted

    @property
    def outflow(self) -> int:
        """Out of the stock on hand: transfers out and the blanks printers took."""
        return self.transferred_out + self.issued + self.spoiled_total + self.in_doubt


@dataclass(frozen=True)
class StockPeriod:
    """One station's stock over a period (a local day or month): opening + inflow - outflow = closing."""

    start: dt.date
    end: dt.date  # inclusive, the last local date of the period
    opening: int
    movements: Movements
    closing: int
    printers: dict[str, Movements] = field(default_factory=dict)
    operators: dict[str, Movements] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.closing == self.opening + self.movements.inflow - self.movements.outflow


@dataclass(frozen=True)
class MonthlyReport:
    """The monthly usage report (laporan penggunaan blangko): one row a local day, and the month."""

    year: int
    month: int
    days: list[StockPeriod]
    month_total: StockPeriod


@dataclass(frozen=True)
class ForecastParams:
    window_days: int = 20  # working days of history the use is measured over
    lead_time_days: int = 20  # working days from a request to the blanks on hand
    service_level: float = 0.95  # the chance of not running out before a delivery arrives
    delivery_unit: int = 100  # blanks come in boxes of this many; a request is rounded up to it
    fill_ratio: float = 1.0  # the share of a request that offices report receiving (0.2-0.5 when rationed)


@dataclass(frozen=True)
class DayUse:
    """Blanks the printers took on one working day (issued + spoiled), from the ledger."""

    date: dt.date
    issued: int
    spoiled: int
    out_of_stock: bool = False  # no blanks on hand all day: its zero use says nothing about demand

    @property
    def used(self) -> int:
        return self.issued + self.spoiled


@dataclass(frozen=True)
class Forecast:
    on_hand: int
    daily_use: float  # blanks a working day
    spoil_rate: float  # spoiled / used over the window
    backlog: dict[str, int]  # jobs waiting (queued + held), by priority
    backlog_blanks: int  # blanks the backlog needs at the spoil rate
    days_left: float | None  # working days of stock at daily_use; None: no use measured
    days_left_with_backlog: float | None  # after printing the backlog first
    reorder_point: int  # lead-time use + safety stock
    request: int  # recommended quantity, rounded up to the delivery unit (0: none needed)
    method: str  # one sentence: how daily_use was measured and why that way
    params: ForecastParams = field(default_factory=ForecastParams)
    as_of: dt.date | None = None
    method_id: str = ""  # ``method`` in Indonesian, for the official documents
    method_kind: str = ""  # "regular" | "intermittent" | "none": which rule measured daily_use
    expected_delivery: int = 0  # blanks the request should bring at the fill ratio (the request states the need)
    expected_delivery_days: float | None = None  # working days of use that expected delivery covers; None: no use


@dataclass(frozen=True)
class MonthUsage:
    year: int
    month: int
    received: int
    issued: int
    spoiled: int


@dataclass(frozen=True)
class BlankRequest:
    """The request letter for more blanks (permintaan blangko KTP-el)."""

    station: str
    date: dt.date
    on_hand: int
    months: list[MonthUsage]  # the last three full months and the current one so far, oldest first
    forecast: Forecast
    quantity: int
    reason: str = ""


@dataclass(frozen=True)
class Office:
    """Who the documents are from, as ``[documents]`` in the configuration says."""

    name: str = "Dinas Kependudukan dan Pencatatan Sipil"
    city: str = ""
    address: str = ""
    legal_basis: str = (
        "Surat Edaran Menteri Dalam Negeri Nomor 470.13/11176/SJ tanggal 13 Desember 2018 tentang Penatausahaan"
        " KTP-el Rusak atau Invalid"
    )
    head: Person = field(default_factory=lambda: Person("", "", "", "Kepala Dinas"))
    request_addressee: str = "Direktur Jenderal Kependudukan dan Pencatatan Sipil Kementerian Dalam Negeri"
    timezone: str = "Asia/Jakarta"


__all__ = [
    "SPOIL_CATEGORIES",
    "BlankRequest",
    "DayUse",
    "Forecast",
    "ForecastParams",
    "Handover",
    "HandoverItem",
    "MonthUsage",
    "MonthlyReport",
    "Movements",
    "Office",
    "Person",
    "StockPeriod",
]
