"""An A4 page frame: embedded fonts, the office and title on top, station, page x of y and print time below."""

from __future__ import annotations

import datetime as dt

from fpdf import FPDF

from printd.reports.model import Office
from printd.reports.pdf.dates import short_datetime, zone
from printd.reports.pdf.fonts import font_files
from printd.reports.pdf.words import Lang, check_lang
from printd.terminal import visible_text

FAMILY = "DejaVu"
MARGIN = 15.0
BODY_TOP = 25.0
FOOTER_SPACE = 18.0


def line_height(size: float) -> float:
    """The distance between lines of ``size``-point text, in millimetres."""
    return size * 0.48


def wrap(doc: FPDF, text: str, width: float) -> list[str]:
    """``text`` in the current font, broken into the lines a ``width``-wide cell shows."""
    if doc.get_string_width(text) <= width - 2 * doc.c_margin:
        return [text]
    lines = doc.multi_cell(width, 1, text, dry_run=True, output="LINES")
    assert isinstance(lines, list)
    return [str(line) for line in lines] or [""]


class Document(FPDF):
    """One document of the office. ``language``, ``tz``, ``office`` and ``printed`` (local) are there for its text.

    ``printed_at`` (an aware datetime, by default now) is the time the footer shows and the file records.
    """

    def __init__(
        self,
        office: Office,
        title: str,
        lang: str,
        *,
        station: str = "",
        printed_at: dt.datetime | None = None,
        orientation: str = "portrait",
    ) -> None:
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self.language: Lang = check_lang(lang)
        self.office = office
        self.tz = zone(office.timezone)
        moment = printed_at or dt.datetime.now(dt.UTC)
        if moment.tzinfo is None:
            raise ValueError("printed_at must be an aware datetime (UTC or with its offset)")
        self.printed = moment.astimezone(self.tz)
        self.doc_title = title
        self.station = station
        regular, bold = font_files()
        self.add_font(FAMILY, "", str(regular))
        self.add_font(FAMILY, "B", str(bold))
        self.set_margins(MARGIN, BODY_TOP, MARGIN)
        self.set_auto_page_break(True, margin=FOOTER_SPACE)
        self.alias_nb_pages()
        self.set_creation_date(moment)
        self.set_title(title)
        self.set_author(office.name)
        self.set_creator("printd")
        self.set_lang("id-ID" if self.language == "id" else "en")

    def header(self) -> None:
        self.set_xy(MARGIN, 10)
        self.set_font(FAMILY, "B", 9)
        self.cell(self.epw * 0.6, 4.5, self.office.name)
        self.set_font(FAMILY, "", 9)
        self.cell(0, 4.5, self.doc_title, align="R", new_x="LMARGIN", new_y="NEXT")
        if self.office.address:
            self.set_font(FAMILY, "", 7.5)
            self.cell(0, 3.8, self.office.address, new_x="LMARGIN", new_y="NEXT")
        self.set_line_width(0.3)
        self.line(MARGIN, self.get_y() + 1, self.w - MARGIN, self.get_y() + 1)
        self.set_y(BODY_TOP)

    def footer(self) -> None:
        en = self.language == "en"
        page = f"Page {self.page_no()} of {{nb}}" if en else f"Halaman {self.page_no()} dari {{nb}}"
        printed = f"{'Printed' if en else 'Dicetak'} {short_datetime(self.printed, self.language)} {self.printed:%Z}"
        y = self.h - 13
        self.set_line_width(0.2)
        self.line(MARGIN, y, self.w - MARGIN, y)
        self.set_xy(MARGIN, y + 1.5)
        self.set_font(FAMILY, "", 7.5)
        third = self.epw / 3
        self.cell(third, 4, self.station)
        self.cell(third, 4, page, align="C")
        self.cell(third, 4, printed, align="R")

    def normalize_text(self, text: str) -> str:
        # Text typed by staff (names, references) is shown with control and bidirectional characters escaped, as
        # printctl shows it, so nothing in it can reorder or hide what a document says.
        return super().normalize_text(visible_text(text))

    def pdf_bytes(self) -> bytes:
        return bytes(self.output())
