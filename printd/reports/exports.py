"""The report documents made from the daemon's replies, for every front end (printctl, printd-web): CSV rows and PDF
bytes, in the documents' own words (Indonesian, or English when asked), never the reader's interface language.

``daily_csv``, ``monthly_csv`` and ``handover_csv`` give the rows of a ``reports.daily``, ``reports.monthly`` or
``spoiled.handover_get`` reply (``csv_text`` writes them); ``document_pdf`` turns a reply into one of
``DOCUMENTS``. A reply that is not what the document needs raises ``ValueError`` saying so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from printd.reports import codec
from printd.reports.model import SPOIL_CATEGORIES, BlankRequest, Handover, Movements, Office
from printd.reports.pdf.labels import MOVEMENT_NAMES, category_name
from printd.reports.pdf.words import Lang

DOCUMENTS = ("daily_report", "stock_notice", "monthly_report", "request_letter", "berita_acara")
"""The PDF documents: the day's report and its public notice (``reports.daily``), the month's report
(``reports.monthly``), the request letter (``stock.request``) and a berita acara (``spoiled.handover_get``)."""


def record(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply without what the daemon adds to every report for the documents (the office, its time zone)."""
    return {k: v for k, v in reply.items() if k not in ("office", "timezone")}


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def daily_csv(reply: object, lang: Lang) -> list[list[object]]:
    """The day's row for the station, then a row for each printer and each operator."""
    period = codec.period_from(_reply(reply))
    header = _csv_header(lang, ("date", "scope", "name"))
    rows: list[list[object]] = [
        header,
        [
            period.start.isoformat(),
            "station",
            _reply(reply).get("station"),
            *_csv_values(period.opening, period.movements, period.closing),
        ],
    ]
    for scope, breakdown in (("printer", period.printers), ("operator", period.operators)):
        for name, moved in breakdown.items():
            rows.append([period.start.isoformat(), scope, name, *_csv_values(None, moved, None)])
    return rows


def monthly_csv(reply: object, lang: Lang) -> list[list[object]]:
    """A row a day of the month, then the month's total."""
    report = codec.monthly_from(_reply(reply))
    rows: list[list[object]] = [_csv_header(lang, ("date",))]
    for day in report.days:
        rows.append([day.start.isoformat(), *_csv_values(day.opening, day.movements, day.closing)])
    total = report.month_total
    rows.append([MOVEMENT_NAMES[lang]["total"], *_csv_values(total.opening, total.movements, total.closing)])
    return rows


HANDOVER_COLUMNS: dict[Lang, tuple[str, ...]] = {
    "id": (
        "Nomor berita acara",
        "Jenis",
        "No.",
        "Entri pembukuan",
        "Waktu rusak",
        "Kategori",
        "UID chip",
        "Printer",
        "Stasiun",
        "Referensi permintaan cetak",
    ),
    "en": (
        "Berita acara number",
        "Kind",
        "No.",
        "Ledger event",
        "Spoiled at",
        "Category",
        "Chip UID",
        "Printer",
        "Station",
        "Job reference",
    ),
}
HANDOVER_KINDS: dict[Lang, dict[str, str]] = {
    "id": {"destroyed": "Pemusnahan", "returned": "Penyerahan"},
    "en": {"destroyed": "Destroyed", "returned": "Returned"},
}


def handover_csv(reply: object, lang: Lang) -> list[list[object]]:
    """A berita acara's annex: a row a spoiled blank, its time in the office's zone (the reply's ``timezone``)."""
    found = _reply(reply)
    handover = codec.record_from(record(found), Handover)
    zone = ZoneInfo(str(found.get("timezone") or "UTC"))
    kind = HANDOVER_KINDS[lang].get(handover.kind, handover.kind)
    rows: list[list[object]] = [list(HANDOVER_COLUMNS[lang])]
    for number, item in enumerate(handover.items, start=1):
        spoiled = dt.datetime.fromtimestamp(item.spoiled_at, zone).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(
            [
                handover.number,
                kind,
                number,
                item.ledger_id,
                spoiled,
                category_name(item.category, lang),
                item.chip_uid or "",
                item.printer or "",
                item.station,
                item.job_ref or "",
            ]
        )
    return rows


def document_pdf(document: str, reply: object, lang: Lang) -> bytes:
    """``document`` (one of ``DOCUMENTS``) as PDF, from the daemon's reply to the method that makes it."""
    from printd.reports import pdf  # the document renderers load fonts: only when a PDF is asked for

    found = _reply(reply)
    office = codec.record_from(found.get("office") or {}, Office)
    station = str(found.get("station") or "")
    if document == "daily_report":
        return pdf.daily_report_pdf(codec.period_from(found), office, lang, station=station)
    if document == "stock_notice":
        return pdf.stock_notice_pdf(codec.period_from(found), office, lang, station=station)
    if document == "monthly_report":
        return pdf.monthly_report_pdf(codec.monthly_from(found), office, lang, station=station)
    if document == "request_letter":
        return pdf.request_letter_pdf(codec.record_from(record(found), BlankRequest), office, lang)
    if document == "berita_acara":
        return pdf.berita_acara_pdf(codec.record_from(record(found), Handover), office, lang)
    raise ValueError(f"no document {document!r}; choose one of {', '.join(DOCUMENTS)}")


def _reply(reply: object) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise ValueError("printd sent a reply that is not a report; check that the client and printd are one version")
    return reply


def _csv_header(lang: Lang, first: Sequence[str]) -> list[object]:
    names = MOVEMENT_NAMES[lang]
    keys = ("opening", "received", "transferred_in", "transferred_out", "adjusted", "issued")
    spoils = [f"{names['spoiled']}: {category_name(c, lang)}" for c in SPOIL_CATEGORIES]
    return [*first, *(names[k] for k in keys), *spoils, names["in_doubt"], names["closing"]]


def _csv_values(opening: int | None, moved: Movements, closing: int | None) -> list[object]:
    values = (moved.received, moved.transferred_in, moved.transferred_out, moved.adjusted, moved.issued)
    spoils = [moved.spoiled.get(c, 0) for c in SPOIL_CATEGORIES]
    return ["" if opening is None else opening, *values, *spoils, moved.in_doubt, "" if closing is None else closing]
