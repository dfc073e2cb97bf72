"""Dates and times as the documents write them, in the office's local time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from printd.reports.pdf.words import Lang

DAYS = {
    "id": ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "id": (
        "Januari", "Februari", "Maret", "April", "Mei", "Juni",
        "Juli", "Agustus", "September", "Oktober", "November", "Desember",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip


def day_name(date: dt.date, lang: Lang = "id") -> str:
    return DAYS[lang][date.weekday()]


def month_name(month: int, lang: Lang = "id") -> str:
    return MONTHS[lang][month - 1]


def month_year(year: int, month: int, lang: Lang = "id") -> str:
    """The month and year: "Desember 2026"."""
    return f"{month_name(month, lang)} {year}"


def tanggal_panjang(date: dt.date, lang: Lang = "id", *, weekday: bool = False) -> str:
    """The date written out: "7 Desember 2026", or with ``weekday`` "Senin, 7 Desember 2026"."""
    text = f"{date.day} {month_year(date.year, date.month, lang)}"
    return f"{day_name(date, lang)}, {text}" if weekday else text


def short_date(date: dt.date, lang: Lang = "id") -> str:
    """The date in figures: "07-12-2026" (Indonesian), "2026-12-07" (English, unambiguous)."""
    return date.strftime("%d-%m-%Y") if lang == "id" else date.isoformat()


def period_text(start: dt.date, end: dt.date, lang: Lang = "id") -> str:
    """One day written out with its weekday, or "from s.d. to"."""
    if start == end:
        return tanggal_panjang(start, lang, weekday=True)
    joint = "s.d." if lang == "id" else "to"
    return f"{tanggal_panjang(start, lang)} {joint} {tanggal_panjang(end, lang)}"


def zone(name: str) -> ZoneInfo:
    """The office's time zone by its IANA name ("Asia/Makassar")."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"office time zone {name!r} is not an IANA time zone name such as Asia/Makassar") from e


def local_time(epoch: float, tz: ZoneInfo) -> dt.datetime:
    """A UTC epoch as the local wall-clock time."""
    return dt.datetime.fromtimestamp(epoch, tz)


def short_datetime(moment: dt.datetime, lang: Lang = "id") -> str:
    """The date and time in figures: "07-12-2026 14:03"."""
    return f"{short_date(moment.date(), lang)} {moment:%H:%M}"
