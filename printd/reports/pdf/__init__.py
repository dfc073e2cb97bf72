"""The office's documents as PDF: daily and monthly stock reports, the stock notice, requests, berita acara.

The renderers are imported when first used (PEP 562): they load fpdf2, which would otherwise cost every printctl
command a third of a second, though most never write a PDF; ``printd.reports.pdf.labels`` and ``.words`` stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from printd.reports.pdf.berita_acara import berita_acara_pdf
    from printd.reports.pdf.daily import daily_report_pdf
    from printd.reports.pdf.dates import tanggal_panjang
    from printd.reports.pdf.fonts import MissingFontsError
    from printd.reports.pdf.monthly import monthly_report_pdf
    from printd.reports.pdf.notice import stock_notice_pdf
    from printd.reports.pdf.request_letter import request_letter_pdf
    from printd.reports.pdf.words import format_number, terbilang

_WHERE = {
    "berita_acara_pdf": "berita_acara",
    "daily_report_pdf": "daily",
    "tanggal_panjang": "dates",
    "MissingFontsError": "fonts",
    "monthly_report_pdf": "monthly",
    "stock_notice_pdf": "notice",
    "request_letter_pdf": "request_letter",
    "format_number": "words",
    "terbilang": "words",
}

__all__ = [
    "MissingFontsError",
    "berita_acara_pdf",
    "daily_report_pdf",
    "format_number",
    "monthly_report_pdf",
    "request_letter_pdf",
    "stock_notice_pdf",
    "tanggal_panjang",
    "terbilang",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
