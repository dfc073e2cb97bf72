"""The letter requesting blanks (permintaan blangko KTP-el): stock, recent use, backlog, forecast, quantity."""

from __future__ import annotations

import datetime as dt

from printd.reports.model import BlankRequest, Forecast, MonthUsage, Office
from printd.reports.pdf.blocks import NUMBER_WIDTH, fields, numbered, paragraph, space
from printd.reports.pdf.dates import month_name, month_year, tanggal_panjang
from printd.reports.pdf.document import Document
from printd.reports.pdf.labels import MOVEMENT_NAMES
from printd.reports.pdf.signatures import Signature, signatures
from printd.reports.pdf.tables import Column, table
from printd.reports.pdf.words import (
    Lang,
    check_lang,
    count_with_words,
    format_decimal,
    format_number,
    format_percent,
    numerals_and_words,
)

TEXT = {
    "id": {
        "title": "Permintaan Blangko KTP-el",
        "number": "Nomor",
        "nature": "Sifat",
        "urgent": "Segera",
        "ordinary": "Biasa",
        "attachment": "Lampiran",
        "subject": "Perihal",
        "to": "Yth.",
        "greeting": "Dengan hormat,",
        "opening": "Dalam rangka menjamin kelancaran pelayanan pencetakan KTP-el bagi penduduk, bersama ini kami"
        " sampaikan kondisi ketersediaan blangko KTP-el pada {office} sebagai berikut:",
        "stock": "Sisa stok blangko KTP-el per tanggal {date} sebanyak {count}.",
        "months": "Penerimaan dan penggunaan blangko KTP-el dalam beberapa bulan terakhir:",
        "month": "Bulan",
        "so_far": "s.d. {date}",
        "backlog": "Data perekaman siap cetak (PRR) yang belum dicetak sebanyak {count} data, yang memerlukan"
        " sekitar {blanks} keping blangko dengan memperhitungkan tingkat kerusakan {rate}.",
        "use": "Rata-rata penggunaan blangko sebanyak {use} keping per hari kerja.",
        "days": "Dengan sisa stok tersebut, blangko diperkirakan cukup untuk {days} hari kerja",
        "days_backlog": ", atau {days} hari kerja apabila seluruh PRR dicetak lebih dahulu.",
        "days_short": ", dan tidak mencukupi untuk mencetak seluruh PRR.",
        "no_use": "Penggunaan harian belum dapat dihitung karena belum ada pemakaian blangko yang tercatat.",
        "reorder": "Dengan waktu tunggu pengiriman sekitar {lead} hari kerja, titik pemesanan kembali adalah {point}"
        " keping.",
        "method": "Metode perhitungan: {method}",
        "request": "Sehubungan dengan hal tersebut, kami mohon kiranya dapat diberikan tambahan blangko KTP-el"
        " sebanyak {count}.",
        "reason": "Pertimbangan permintaan: {reason}",
        "closing": "Demikian permohonan ini kami sampaikan. Atas perhatian dan kerja samanya, kami ucapkan terima"
        " kasih.",
    },
    "en": {
        "title": "Request for e-KTP Blanks",
        "number": "Number",
        "nature": "Classification",
        "urgent": "Urgent",
        "ordinary": "Ordinary",
        "attachment": "Attachment",
        "subject": "Subject",
        "to": "To:",
        "greeting": "Dear Sir or Madam,",
        "opening": "To keep the e-KTP printing service running for residents, we report the state of the e-KTP blank"
        " stock at {office} as follows:",
        "stock": "Blanks on hand on {date}: {count}.",
        "months": "Blanks received and used in recent months:",
        "month": "Month",
        "so_far": "to {date}",
        "backlog": "Print-ready records (PRR) waiting to be printed: {count}, needing about {blanks} blanks at the"
        " spoil rate of {rate}.",
        "use": "Average use: {use} blanks per working day.",
        "days": "At this rate the stock lasts {days} working days",
        "days_backlog": ", or {days} working days if all PRR are printed first.",
        "days_short": ", and is not enough to print all PRR.",
        "no_use": "Daily use cannot be measured yet: no use of blanks has been recorded.",
        "reorder": "With a delivery lead time of about {lead} working days, the reorder point is {point} blanks.",
        "method": "Method: {method}",
        "request": "We therefore request an additional {count}.",
        "reason": "Reason for the request: {reason}",
        "closing": "Thank you for your attention.",
    },
}
UNFILLED = "." * 30  # the letter's number, for the secretariat to fill in by hand


def request_letter_pdf(
    request: BlankRequest,
    office: Office,
    lang: Lang = "id",
    *,
    number: str = "",
    printed_at: dt.datetime | None = None,
) -> bytes:
    """The request letter to ``office.request_addressee``, signed by the head of office."""
    lang = check_lang(lang)
    text = TEXT[lang]
    doc = Document(office, text["title"], lang, station=request.station, printed_at=printed_at)
    forecast = request.forecast
    doc.add_page()
    place = f"{office.city}, " if office.city else ""
    paragraph(doc, f"{place}{tanggal_panjang(request.date, lang)}", align="R")
    space(doc, 3)
    urgent = request.on_hand <= forecast.reorder_point
    fields(
        doc,
        [
            (text["number"], number or UNFILLED),
            (text["nature"], text["urgent"] if urgent else text["ordinary"]),
            (text["attachment"], "-"),
            (text["subject"], text["title"]),
        ],
        label_width=26,
    )
    space(doc, 5)
    paragraph(doc, f"{text['to']} {office.request_addressee}", align="L")
    space(doc, 5)
    paragraph(doc, text["greeting"], align="L")
    space(doc, 2)
    paragraph(doc, text["opening"].format(office=office.name))
    space(doc, 2)
    stock = text["stock"].format(
        date=tanggal_panjang(request.date, lang), count=count_with_words(request.on_hand, lang)
    )
    numbered(doc, "1.", stock)
    numbered(doc, "2.", text["months"])
    space(doc, 1)
    _months_table(doc, request)
    space(doc, 2)
    numbered(doc, "3.", _backlog(forecast, lang))
    numbered(doc, "4.", _outlook(forecast, lang))
    space(doc, 2)
    paragraph(doc, text["request"].format(count=count_with_words(request.quantity, lang)))
    if request.reason:
        paragraph(doc, text["reason"].format(reason=request.reason))
    space(doc, 2)
    paragraph(doc, text["closing"])
    space(doc, 6)
    signatures(doc, [Signature((office.head.position,), office.head)])
    return doc.pdf_bytes()


def _months_table(doc: Document, request: BlankRequest) -> None:
    lang, names = doc.language, MOVEMENT_NAMES[doc.language]

    def row(usage: MonthUsage) -> list[str]:
        label = month_year(usage.year, usage.month, lang)
        if (usage.year, usage.month) == (request.date.year, request.date.month):
            day = f"{request.date.day} {month_name(request.date.month, lang)}"
            label += f" ({TEXT[lang]['so_far'].format(date=day)})"
        counts = (usage.received, usage.issued, usage.spoiled, usage.issued + usage.spoiled)
        return [label, *(format_number(n, lang) for n in counts)]

    doc.set_left_margin(doc.l_margin + NUMBER_WIDTH)
    table(
        doc,
        [Column(TEXT[lang]["month"], 2.4, "L")] + [Column(names[k]) for k in ("received", "issued", "spoiled", "used")],
        [row(usage) for usage in request.months],
        size=9,
    )
    doc.set_left_margin(doc.l_margin - NUMBER_WIDTH)


def _backlog(forecast: Forecast, lang: Lang) -> str:
    return TEXT[lang]["backlog"].format(
        count=numerals_and_words(sum(forecast.backlog.values()), lang),
        blanks=format_number(forecast.backlog_blanks, lang),
        rate=format_percent(forecast.spoil_rate, lang),
    )


def _outlook(forecast: Forecast, lang: Lang) -> str:
    """Daily use, how long the stock lasts with and without the backlog, the reorder point and the method."""
    text = TEXT[lang]
    parts = [text["use"].format(use=format_decimal(forecast.daily_use, lang))]
    if forecast.days_left is None:
        parts.append(text["no_use"])
    else:
        lasts = text["days"].format(days=format_decimal(forecast.days_left, lang))
        after = forecast.days_left_with_backlog
        if after is None or not any(forecast.backlog.values()):
            lasts += "."
        elif after > 0:
            lasts += text["days_backlog"].format(days=format_decimal(after, lang))
        else:
            lasts += text["days_short"]
        parts.append(lasts)
    point = format_number(forecast.reorder_point, lang)
    parts.append(text["reorder"].format(lead=forecast.params.lead_time_days, point=point))
    method = forecast.method_id if lang == "id" and forecast.method_id else forecast.method
    parts.append(text["method"].format(method=method))
    return " ".join(parts)
