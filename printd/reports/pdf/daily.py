"""The daily stock report: the station's movements of blanks, then each printer's and each operator's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from printd.reports.model import Movements, Office, StockPeriod
from printd.reports.pdf.blocks import fields, heading, paragraph, space
from printd.reports.pdf.dates import period_text
from printd.reports.pdf.document import Document
from printd.reports.pdf.labels import MOVEMENT_NAMES, categories, category_name
from printd.reports.pdf.stock import identity_line, identity_terms
from printd.reports.pdf.tables import Column, table
from printd.reports.pdf.words import Lang, check_lang, format_number

TEXT = {
    "id": {
        "title": "Laporan Harian Stok Blangko KTP-el",
        "heading": "LAPORAN HARIAN STOK BLANGKO KTP-el",
        "date": "Tanggal",
        "station": "Stasiun cetak",
        "unit": "Satuan",
        "blanks": "keping",
        "item": "Uraian",
        "detail": "Rincian",
        "count": "Jumlah",
        "spoiled_total": "Jumlah rusak/invalid",
        "a": "A. Stasiun cetak",
        "b": "B. Per printer",
        "c": "C. Per petugas",
        "printer": "Printer",
        "operator": "Petugas",
        "none": "Tidak ada pemakaian blangko tercatat.",
    },
    "en": {
        "title": "Daily e-KTP Blank Stock Report",
        "heading": "DAILY e-KTP BLANK STOCK REPORT",
        "date": "Date",
        "station": "Print station",
        "unit": "Unit",
        "blanks": "blanks",
        "item": "Item",
        "detail": "Detail",
        "count": "Count",
        "spoiled_total": "Total spoiled",
        "a": "A. Print station",
        "b": "B. By printer",
        "c": "C. By operator",
        "printer": "Printer",
        "operator": "Operator",
        "none": "No use of blanks recorded.",
    },
}


def daily_report_pdf(
    report: StockPeriod,
    office: Office,
    lang: Lang = "id",
    *,
    station: str = "",
    printed_at: dt.datetime | None = None,
) -> bytes:
    """The day's (or period's) stock report as PDF bytes."""
    lang = check_lang(lang)
    text, names = TEXT[lang], MOVEMENT_NAMES[lang]
    doc = Document(office, text["title"], lang, station=station, printed_at=printed_at)
    parts = [*report.printers.values(), *report.operators.values()]
    cats = categories([report.movements.spoiled, *(m.spoiled for m in parts)])
    doc.add_page()
    heading(doc, text["heading"], 13)
    space(doc, 3)
    about = [(text["date"], period_text(report.start, report.end, lang))]
    if station:
        about.append((text["station"], station))
    fields(doc, [*about, (text["unit"], text["blanks"])])
    space(doc, 4)
    heading(doc, text["a"], 11, align="L")
    space(doc, 1)
    table(
        doc,
        [Column(text["item"], 3, "L"), Column(text["detail"], 1), Column(text["count"], 1)],
        _station_rows(report, cats, lang),
        total=[names["closing"], "", format_number(report.closing, lang)],
        size=9,
    )
    space(doc, 2)
    heading(doc, identity_line(report, lang), 10, align="L")
    paragraph(doc, identity_terms(lang), 8, align="L")
    for title, who, per in (("b", "printer", report.printers), ("c", "operator", report.operators)):
        space(doc, 5)
        heading(doc, text[title], 11, align="L")
        space(doc, 1)
        if per:
            _use_table(doc, text[who], per, cats)
        else:
            paragraph(doc, text["none"])
    return doc.pdf_bytes()


def _station_rows(report: StockPeriod, cats: Sequence[str], lang: Lang) -> list[list[str]]:
    """Item, detail, count: each movement in turn, the spoils by category as the detail of their total."""
    names = MOVEMENT_NAMES[lang]
    m = report.movements

    def line(label: str, count: int) -> list[str]:
        return [label, "", format_number(count, lang)]

    rows = [line(names["opening"], report.opening)]
    rows += [line(names[k], getattr(m, k)) for k in ("received", "transferred_in", "transferred_out", "issued")]
    rows.append([f"{names['spoiled']}:", "", ""])
    rows += [[f"    {category_name(c, lang)}", format_number(m.spoiled.get(c, 0), lang), ""] for c in cats]
    rows.append(line(f"    {TEXT[lang]['spoiled_total']}", m.spoiled_total))
    rows += [line(names[k], getattr(m, k)) for k in ("in_doubt", "adjusted")]
    return rows


def _use_table(doc: Document, first: str, per: Mapping[str, Movements], cats: Sequence[str]) -> None:
    """What each printer or operator took from the stock, and a total row."""
    lang, names = doc.language, MOVEMENT_NAMES[doc.language]
    columns = [
        Column(first, 2.2, "L"),
        Column(names["issued"]),
        *(Column(category_name(c, lang)) for c in cats),
        Column(names["in_doubt"]),
        Column(names["adjusted"]),
        Column(names["used"]),
    ]
    figures = {name: _use_figures(m, cats) for name, m in sorted(per.items())}
    totals = [sum(column) for column in zip(*figures.values(), strict=True)]
    table(
        doc,
        columns,
        [[name, *(format_number(f, lang) for f in row)] for name, row in figures.items()],
        total=[names["total"], *(format_number(f, lang) for f in totals)],
    )


def _use_figures(m: Movements, cats: Sequence[str]) -> list[int]:
    return [
        m.issued,
        *(m.spoiled.get(c, 0) for c in cats),
        m.in_doubt,
        m.adjusted,
        m.issued + m.spoiled_total + m.in_doubt,
    ]
