"""The stock identity, checked and written out, as the daily and monthly reports print it."""

from __future__ import annotations

from printd.reports.model import StockPeriod
from printd.reports.pdf.words import Lang, format_number

MINUS = "\u2212"
IDENTITY = {
    "id": f"Stok akhir = stok awal + masuk {MINUS} keluar",
    "en": f"Closing stock = opening stock + in {MINUS} out",
}
TERMS = {
    "id": "Masuk = diterima + mutasi masuk + penyesuaian; keluar = mutasi keluar + dicetak + rusak/invalid"
    " + belum pasti.",
    "en": "In = received + transferred in + adjusted; out = transferred out + issued + spoiled + in doubt.",
}
UNBALANCED = {"id": "tidak seimbang, selisih", "en": "does not balance, difference"}


def identity_line(period: StockPeriod, lang: Lang = "id") -> str:
    """The identity with the period's figures, ticked when it holds, else crossed with the difference."""
    m = period.movements
    figures = (
        f"{_n(period.closing, lang)} = {_n(period.opening, lang)} + {_n(m.inflow, lang)} {MINUS} {_n(m.outflow, lang)}"
    )
    if period.balanced:
        return f"{IDENTITY[lang]}: {figures} ✓"
    difference = period.closing - (period.opening + m.inflow - m.outflow)
    return f"{IDENTITY[lang]}: {figures} ✗ ({UNBALANCED[lang]} {format_number(difference, lang)})"


def identity_terms(lang: Lang = "id") -> str:
    return TERMS[lang]


def _n(n: int, lang: Lang) -> str:
    return format_number(n, lang) if n >= 0 else f"({format_number(n, lang)})"
