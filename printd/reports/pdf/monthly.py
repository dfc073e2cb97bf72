"""The monthly usage report (laporan penggunaan blangko KTP-el): a row a day, the month's spoils, the signature."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from printd.reports.model import MonthlyReport, Office, StockPeriod
from printd.reports.pdf.blocks import fields, heading, paragraph, space
from printd.reports.pdf.dates import day_name, month_year, short_date, tanggal_panjang
from printd.reports.pdf.document import Document
from printd.reports.pdf.labels import MOVEMENT_NAMES, categories, category_name
from printd.reports.pdf.signatures import Signature, signatures
from printd.reports.pdf.stock import identity_line, identity_terms
from printd.reports.pdf.tables import Column, table
from printd.reports.pdf.words import Lang, check_lang, format_number, format_percent

TEXT = {
    "id": {
        "title": "Laporan Penggunaan Blangko KTP-el",
        "heading": "LAPORAN PENGGUNAAN BLANGKO KTP-el",
        "month": "Bulan",
        "office": "Instansi",
        "station": "Stasiun cetak",
        "unit": "Satuan",
        "blanks": "keping",
        "a": "A. Penggunaan blangko per hari",
        "b": "B. Blangko rusak/invalid per kategori",
        "date": "Tanggal",
        "category": "Kategori",
        "count": "Jumlah (keping)",
        "share": "Persentase dari blangko terpakai",
        "used": "Blangko terpakai (dicetak + rusak/invalid)",
    },
    "en": {
        "title": "e-KTP Blank Usage Report",
        "heading": "e-KTP BLANK USAGE REPORT",
        "month": "Month",
        "office": "Office",
        "station": "Print station",
        "unit": "Unit",
        "blanks": "blanks",
        "a": "A. Blanks used by day",
        "b": "B. Spoiled blanks by category",
        "date": "Date",
        "category": "Category",
        "count": "Count (blanks)",
        "share": "Share of blanks used",
        "used": "Blanks used (issued + spoiled)",
    },
}
SUMMARY_HEIGHT = 60.0  # mm: the spoil summary and the signature beside it, kept on one page


def monthly_report_pdf(
    report: MonthlyReport,
    office: Office,
    lang: Lang = "id",
    *,
    station: str = "",
    printed_at: dt.datetime | None = None,
) -> bytes:
    """The month's usage report as PDF bytes, signed by the head of office."""
    lang = check_lang(lang)
    text = TEXT[lang]
    doc = Document(office, text["title"], lang, station=station, printed_at=printed_at, orientation="landscape")
    total = report.month_total
    cats = categories([total.movements.spoiled, *(d.movements.spoiled for d in report.days)])
    doc.add_page()
    heading(doc, text["heading"], 13)
    space(doc, 2)
    about = [(text["month"], month_year(report.year, report.month, lang)), (text["office"], office.name)]
    if station:
        about.append((text["station"], station))
    fields(doc, [*about, (text["unit"], text["blanks"])])
    space(doc, 3)
    heading(doc, text["a"], 11, align="L")
    space(doc, 1)
    names = MOVEMENT_NAMES[lang]
    keys = ("opening", "received", "transferred_in", "transferred_out", "issued")
    columns = [
        Column(text["date"], 1.6, "L"),
        *(Column(names[k]) for k in keys),
        *(Column(category_name(c, lang)) for c in cats),
        *(Column(names[k]) for k in ("in_doubt", "adjusted", "closing")),
    ]
    rows = [[_day(d.start, lang), *_figures(d, cats, lang)] for d in report.days]
    table(doc, columns, rows, total=[names["total"], *_figures(total, cats, lang)], size=7.5)
    space(doc, 2)
    heading(doc, identity_line(total, lang), 10, align="L")
    paragraph(doc, identity_terms(lang), 8, align="L")
    space(doc, 4)
    if doc.get_y() + SUMMARY_HEIGHT > doc.page_break_trigger:
        doc.add_page(same=True)
    top = doc.get_y()
    heading(doc, text["b"], 11, align="L")
    space(doc, 1)
    _spoil_summary(doc, total, cats)
    bottom = doc.get_y()
    doc.set_y(top)  # the head of office signs beside the summary, on its right
    place = f"{office.city}, " if office.city else ""
    signed = f"{place}{tanggal_panjang(doc.printed.date(), lang)}"
    signatures(doc, [Signature((signed, office.head.position), office.head)])
    doc.set_y(max(bottom, doc.get_y()))
    return doc.pdf_bytes()


def _day(date: dt.date, lang: Lang) -> str:
    return f"{day_name(date, lang)[:3]}, {short_date(date, lang)}"


def _figures(period: StockPeriod, cats: Sequence[str], lang: Lang) -> list[str]:
    m = period.movements
    counts = [
        period.opening,
        m.received,
        m.transferred_in,
        m.transferred_out,
        m.issued,
        *(m.spoiled.get(c, 0) for c in cats),
        m.in_doubt,
        m.adjusted,
        period.closing,
    ]
    return [format_number(n, lang) for n in counts]


def _spoil_summary(doc: Document, total: StockPeriod, cats: Sequence[str]) -> None:
    lang, text = doc.language, TEXT[doc.language]
    m = total.movements
    used = m.issued + m.spoiled_total

    def share(n: int) -> str:
        return format_percent(n / used, lang) if used else "-"

    rows = [
        [category_name(c, lang), format_number(m.spoiled.get(c, 0), lang), share(m.spoiled.get(c, 0))] for c in cats
    ]
    table(
        doc,
        [Column(text["category"], 3, "L"), Column(text["count"], 1.2), Column(text["share"], 1.2)],
        rows,
        total=[MOVEMENT_NAMES[lang]["total"], format_number(m.spoiled_total, lang), share(m.spoiled_total)],
        size=9,
        width=doc.epw / 2,
    )
    paragraph(doc, f"{text['used']}: {format_number(used, lang)} {text['blanks']}", 8, align="L")
