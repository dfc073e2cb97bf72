"""The daily public notice of blanks available, posted at the counter against illegal fees."""

from __future__ import annotations

import datetime as dt

from printd.reports.model import Office, StockPeriod
from printd.reports.pdf.blocks import heading, space
from printd.reports.pdf.dates import tanggal_panjang
from printd.reports.pdf.document import FAMILY, Document, line_height
from printd.reports.pdf.words import Lang, check_lang, format_number

TEXT = {
    "id": {
        "title": "Pengumuman Stok Blangko KTP-el",
        "notice": "PENGUMUMAN",
        "subject": "STOK BLANGKO KTP-el",
        "available": "Blangko KTP-el tersedia",
        "blanks": "keping",
        "issued": "KTP-el dicetak pada tanggal ini",
        "free": "Pelayanan KTP-el tidak dipungut biaya",
    },
    "en": {
        "title": "e-KTP Blank Stock Notice",
        "notice": "NOTICE",
        "subject": "e-KTP BLANK STOCK",
        "available": "e-KTP blanks available",
        "blanks": "blanks",
        "issued": "e-KTP cards printed on this date",
        "free": "The e-KTP service is free of charge",
    },
}
FIGURE_SIZE = 120.0  # points; smaller only if the figure would not fit the width


def stock_notice_pdf(
    report: StockPeriod,
    office: Office,
    lang: Lang = "id",
    *,
    station: str = "",
    printed_at: dt.datetime | None = None,
) -> bytes:
    """One page for the public: the blanks available at the end of ``report``'s last day, in very large figures."""
    lang = check_lang(lang)
    text = TEXT[lang]
    doc = Document(office, text["title"], lang, station=station, printed_at=printed_at)
    doc.set_auto_page_break(False)
    doc.add_page()
    space(doc, 8)
    heading(doc, text["notice"], 30)
    heading(doc, text["subject"], 24)
    space(doc, 3)
    heading(doc, office.name, 14, bold=False)
    space(doc, 6)
    heading(doc, tanggal_panjang(report.end, lang, weekday=True), 20)
    space(doc, 12)
    heading(doc, text["available"], 20, bold=False)
    _figure(doc, format_number(report.closing, lang))
    heading(doc, text["blanks"], 24, bold=False)
    space(doc, 12)
    heading(doc, text["issued"], 14, bold=False)
    heading(doc, format_number(report.movements.issued, lang), 36)
    space(doc, 14)
    _boxed(doc, text["free"], 22)
    return doc.pdf_bytes()


def _figure(doc: Document, figure: str) -> None:
    doc.set_font(FAMILY, "B", FIGURE_SIZE)
    size = min(FIGURE_SIZE, FIGURE_SIZE * (doc.epw - 4) / doc.get_string_width(figure))
    doc.set_font(FAMILY, "B", size)
    doc.cell(0, line_height(size) * 0.85, figure, align="C", new_x="LMARGIN", new_y="NEXT")


def _boxed(doc: Document, text: str, size: float) -> None:
    doc.set_font(FAMILY, "B", size)
    doc.set_line_width(0.8)
    doc.multi_cell(0, line_height(size) * 1.4, text, border=1, align="C", padding=3, new_x="LMARGIN", new_y="NEXT")
