"""The berita acara of spoiled blanks destroyed (pemusnahan) or returned (penyerahan), with its annex of blanks."""

from __future__ import annotations

import datetime as dt

from printd.reports.model import Handover, HandoverItem, Office, Person
from printd.reports.pdf.blocks import fields, heading, paragraph, space
from printd.reports.pdf.dates import day_name, local_time, month_name, short_date, short_datetime, tanggal_panjang
from printd.reports.pdf.document import Document
from printd.reports.pdf.labels import categories, category_name
from printd.reports.pdf.signatures import Signature, signatures
from printd.reports.pdf.tables import Column, table
from printd.reports.pdf.words import Lang, check_lang, count_with_words, ordinal_words, terbilang

TEXT = {
    "id": {
        "minutes": "BERITA ACARA",
        "destroyed": "PEMUSNAHAN BLANGKO KTP-el RUSAK DAN INVALID",
        "returned": "PENYERAHAN BLANGKO KTP-el RUSAK DAN INVALID",
        "destroyed_title": "Berita Acara Pemusnahan Blangko KTP-el",
        "returned_title": "Berita Acara Penyerahan Blangko KTP-el",
        "number": "Nomor",
        "opening": "Pada hari ini {day} tanggal {date} bulan {month} tahun {year} ({numeric}), bertempat di {place},"
        " berdasarkan {basis}, kami yang bertanda tangan di bawah ini:",
        "name": "Nama",
        "nip": "NIP",
        "rank": "Pangkat/Golongan",
        "position": "Jabatan",
        "matter_destroyed": "dengan ini menyatakan telah melaksanakan pemusnahan blangko KTP-el rusak dan invalid milik"
        " {office}{station}{through}, dengan rincian sebagai berikut:",
        "matter_returned": "dengan ini menyatakan telah melaksanakan penyerahan blangko KTP-el rusak dan invalid milik"
        " {office}{station}{through}, dengan rincian sebagai berikut:",
        "station": " yang tercatat pada stasiun cetak {station}",
        "through": " sampai dengan tanggal {date}",
        "no": "No.",
        "category": "Kategori",
        "count": "Jumlah",
        "total": "Jumlah",
        "method_destroyed": "Blangko KTP-el tersebut dimusnahkan dengan cara dibakar di {place} hingga tidak dapat"
        " dipergunakan kembali, disaksikan oleh para saksi yang bertanda tangan di bawah ini.",
        "method_returned": "Blangko KTP-el tersebut diserahkan kembali kepada {addressee} untuk ditatausahakan lebih"
        " lanjut, disaksikan oleh para saksi yang bertanda tangan di bawah ini.",
        "annex_note": "Daftar setiap keping blangko beserta nomor UID chip tercantum dalam Lampiran yang merupakan"
        " bagian tidak terpisahkan dari Berita Acara ini.",
        "closing": "Demikian Berita Acara ini dibuat dengan sebenarnya untuk dapat dipergunakan sebagaimana mestinya.",
        "signers_destroyed": "Yang melaksanakan,",
        "signers_returned": "Yang menyerahkan,",
        "witnesses": "Disaksikan oleh:",
        "annex": "LAMPIRAN",
        "annex_list": "Daftar blangko KTP-el rusak dan invalid",
        "date": "Tanggal",
        "spoiled_at": "Tanggal rusak",
        "chip": "UID chip",
        "printer": "Printer",
        "station_col": "Stasiun",
        "job": "Referensi job",
        "officer": "Petugas",
    },
    "en": {
        "minutes": "OFFICIAL REPORT",
        "destroyed": "ON THE DESTRUCTION OF SPOILED AND INVALID e-KTP BLANKS",
        "returned": "ON THE RETURN OF SPOILED AND INVALID e-KTP BLANKS",
        "destroyed_title": "Official Report on the Destruction of e-KTP Blanks",
        "returned_title": "Official Report on the Return of e-KTP Blanks",
        "number": "Number",
        "opening": "On this day, {day}, the {date} of {month} in the year {year} ({numeric}), at {place}, pursuant to"
        " {basis}, we the undersigned:",
        "name": "Name",
        "nip": "NIP",
        "rank": "Rank/Grade",
        "position": "Position",
        "matter_destroyed": "hereby state that we have destroyed the spoiled and invalid e-KTP blanks of"
        " {office}{station}{through}, as follows:",
        "matter_returned": "hereby state that we have handed over the spoiled and invalid e-KTP blanks of"
        " {office}{station}{through}, as follows:",
        "station": " recorded at print station {station}",
        "through": " up to {date}",
        "no": "No.",
        "category": "Category",
        "count": "Count",
        "total": "Total",
        "method_destroyed": "These e-KTP blanks were destroyed by burning at {place} so that they cannot be used again,"
        " witnessed by the undersigned witnesses.",
        "method_returned": "These e-KTP blanks were handed back to {addressee} for further administration,"
        " witnessed by the undersigned witnesses.",
        "annex_note": "Each blank, with its chip UID, is listed in the Annex, which forms an integral part of this"
        " report.",
        "closing": "This report has been drawn up truthfully, to be used as appropriate.",
        "signers_destroyed": "Carried out by,",
        "signers_returned": "Handed over by,",
        "witnesses": "Witnessed by:",
        "annex": "ANNEX",
        "annex_list": "List of spoiled and invalid e-KTP blanks",
        "date": "Date",
        "spoiled_at": "Date spoiled",
        "chip": "Chip UID",
        "printer": "Printer",
        "station_col": "Station",
        "job": "Job reference",
        "officer": "Officer",
    },
}
KINDS = ("destroyed", "returned")


def berita_acara_pdf(
    handover: Handover,
    office: Office,
    lang: Lang = "id",
    *,
    printed_at: dt.datetime | None = None,
) -> bytes:
    """The berita acara and its annex listing every blank, as PDF bytes."""
    lang = check_lang(lang)
    text = TEXT[lang]
    if handover.kind not in KINDS:
        raise ValueError(f"berita acara kind {handover.kind!r}: expected one of {', '.join(KINDS)}")
    kind = handover.kind
    doc = Document(office, text[f"{kind}_title"], lang, station=handover.station, printed_at=printed_at)
    doc.add_page()
    heading(doc, text["minutes"], 14)
    heading(doc, text[kind], 12)
    heading(doc, f"{text['number']}: {handover.number}", 10, bold=False)
    space(doc, 5)
    day = local_time(handover.at, doc.tz).date()
    paragraph(doc, _opening(handover, day, office, lang))
    space(doc, 2)
    for i, person in enumerate(handover.officers, 1):
        fields(doc, _party(person, lang), label_width=36, number=f"{i}.")
        space(doc, 1)
    space(doc, 1)
    station = text["station"].format(station=handover.station) if handover.station else ""
    through = text["through"].format(date=tanggal_panjang(handover.through, lang)) if handover.through else ""
    paragraph(doc, text[f"matter_{kind}"].format(office=office.name, station=station, through=through))
    space(doc, 2)
    _category_table(doc, handover)
    space(doc, 3)
    method = text[f"method_{kind}"].format(place=handover.place, addressee=office.request_addressee)
    paragraph(doc, f"{method} {text['annex_note']}")
    space(doc, 2)
    paragraph(doc, text["closing"])
    space(doc, 6)
    _signatures(doc, text[f"signers_{kind}"], handover.officers)
    if handover.witnesses:
        _signatures(doc, text["witnesses"], handover.witnesses)
    _annex(doc, handover, day)
    return doc.pdf_bytes()


def _opening(handover: Handover, day: dt.date, office: Office, lang: Lang) -> str:
    """The opening: "Pada hari ini Senin tanggal tujuh bulan Desember tahun dua ribu dua puluh enam ..."."""
    return TEXT[lang]["opening"].format(
        day=day_name(day, lang),
        date=terbilang(day.day, lang) if lang == "id" else ordinal_words(day.day, lang),
        month=month_name(day.month, lang),
        year=terbilang(day.year, lang),
        numeric=short_date(day, lang),
        place=handover.place,
        basis=office.legal_basis,
    )


def _party(person: Person, lang: Lang) -> list[tuple[str, str]]:
    text = TEXT[lang]
    values = (person.name, person.nip, person.rank, person.position)
    return [(text[k], v or "-") for k, v in zip(("name", "nip", "rank", "position"), values, strict=True)]


def _category_table(doc: Document, handover: Handover) -> None:
    lang, text = doc.language, TEXT[doc.language]
    counts = handover.per_category()
    rows = [
        [f"{i}.", category_name(c, lang), count_with_words(counts.get(c, 0), lang)]
        for i, c in enumerate(categories([counts]), 1)
    ]
    table(
        doc,
        [Column(text["no"], 0.5, "C"), Column(text["category"], 2.5, "L"), Column(text["count"], 4, "L")],
        rows,
        total=["", text["total"], count_with_words(len(handover.items), lang)],
        size=10,
    )


def _signatures(doc: Document, title: str, people: list[Person]) -> None:
    signatures(doc, [Signature((p.position,) if p.position else (), p) for p in people], title=title)


def _annex(doc: Document, handover: Handover, day: dt.date) -> None:
    """Every blank of the berita acara, one row each, on landscape pages."""
    lang, text = doc.language, TEXT[doc.language]
    doc.add_page(orientation="landscape")
    heading(doc, text["annex"], 12)
    heading(doc, f"{text['minutes']} {text[handover.kind]}", 11)
    space(doc, 2)
    fields(doc, [(text["number"], handover.number), (text["date"], tanggal_panjang(day, lang))], label_width=24)
    space(doc, 2)
    heading(doc, text["annex_list"], 10, align="L")
    space(doc, 1)
    columns = [
        Column(text["no"], 0.7),
        Column(text["spoiled_at"], 1.6, "L"),
        Column(text["category"], 1.9, "L"),
        Column(text["chip"], 1.9, "L"),
        Column(text["printer"], 1.5, "L"),
        Column(text["station_col"], 1.7, "L"),
        Column(text["job"], 2.2, "L"),
        Column(text["officer"], 1.5, "L"),
    ]
    names = {c: category_name(c, lang) for c in categories([handover.per_category()])}

    def row(i: int, item: HandoverItem) -> list[str]:
        when = short_datetime(local_time(item.spoiled_at, doc.tz), lang)
        cells = (item.chip_uid, item.printer, item.station, item.job_ref, item.officer)
        return [f"{i}.", when, names[item.category], *(c or "-" for c in cells)]

    table(
        doc,
        columns,
        (row(i, item) for i, item in enumerate(handover.items, 1)),
        total=["", text["total"], count_with_words(len(handover.items), lang), "", "", "", "", ""],
    )
