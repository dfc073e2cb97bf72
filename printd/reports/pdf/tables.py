"""Ruled tables that break across pages, their header row repeated on each page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from printd.reports.pdf.document import FAMILY, Document, line_height, wrap

PAD = 0.9  # mm between the rules and the text


@dataclass(frozen=True)
class Column:
    header: str
    weight: float = 1.0  # the column's share of the width
    align: str = "R"


def table(
    doc: Document,
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    total: Sequence[str] | None = None,
    size: float = 8.0,
    width: float | None = None,
) -> None:
    """Rows of text under ``columns``, wrapped where a cell is too narrow; ``total`` is a last row in bold.

    The table is ``width`` wide (the whole width between the margins by default).
    """
    _Table(doc, columns, size, width or doc.epw).draw(rows, total)


class _Table:
    # Cells are placed with text() and ruled with line(): a cell() per cell costs ten times as much, and an annex
    # of 10,000 blanks has 80,000 cells.

    def __init__(self, doc: Document, columns: Sequence[Column], size: float, width: float) -> None:
        self.doc, self.size = doc, size
        self.lh = line_height(size)
        self.aligns = [c.align for c in columns]
        self.char_widths: dict[str, dict[str, float]] = {"": {}, "B": {}}
        doc.set_font(FAMILY, "B", size)
        self.widths = _widths(doc, columns, width)
        self.edges = [doc.l_margin]
        for w in self.widths:
            self.edges.append(self.edges[-1] + w)
        self.head = [self.lines(c.header, w, "B") for c, w in zip(columns, self.widths, strict=True)]
        self.top = 0.0  # where the table starts on the current page

    def draw(self, rows: Iterable[Sequence[str]], total: Sequence[str] | None) -> None:
        doc = self.doc
        if doc.get_y() + self.height(self.head) + self.lh + 2 * PAD > doc.page_break_trigger:
            doc.add_page(same=True)
        self.header()
        doc.set_font(FAMILY, "", self.size)
        for cells in rows:
            self.row([self.lines(t, w, "") for t, w in zip(cells, self.widths, strict=True)], "")
        if total is not None:
            doc.set_font(FAMILY, "B", self.size)
            self.row([self.lines(t, w, "B") for t, w in zip(total, self.widths, strict=True)], "B")
            doc.set_font(FAMILY, "", self.size)
        self.rule_columns()

    def header(self) -> None:
        doc = self.doc
        doc.set_font(FAMILY, "B", self.size)
        doc.set_fill_color(225)
        self.top = doc.get_y()
        doc.set_line_width(0.2)
        doc.line(self.edges[0], self.top, self.edges[-1], self.top)
        doc.rect(self.edges[0], self.top, self.edges[-1] - self.edges[0], self.height(self.head), style="F")
        self.place(self.head, ["C"] * len(self.head))

    def row(self, cells: list[list[str]], style: str) -> None:
        doc = self.doc
        if doc.get_y() + self.height(cells) > doc.page_break_trigger:
            self.rule_columns()
            doc.add_page(same=True)
            self.header()
            doc.set_font(FAMILY, style, self.size)
        self.place(cells, self.aligns)

    def place(self, cells: list[list[str]], aligns: Sequence[str]) -> None:
        """The text of one row, then the rule under it."""
        doc, lh = self.doc, self.lh
        y, h = doc.get_y(), self.height(cells)
        style = doc.font_style
        for lines, x, w, align in zip(cells, self.edges, self.widths, aligns, strict=False):
            top = y + (h - len(lines) * lh) / 2
            for i, line in enumerate(lines):
                free = w - self.width(line, style)
                left = x + (free / 2 if align == "C" else free - doc.c_margin if align == "R" else doc.c_margin)
                doc.text(left, top + i * lh + lh / 2 + 0.3 * doc.font_size, line)
        doc.line(self.edges[0], y + h, self.edges[-1], y + h)
        doc.set_xy(doc.l_margin, y + h)

    def rule_columns(self) -> None:
        for x in self.edges:
            self.doc.line(x, self.top, x, self.doc.get_y())

    def lines(self, text: str, width: float, style: str) -> list[str]:
        if self.width(text, style) <= width - 2 * self.doc.c_margin:
            return [text]
        return wrap(self.doc, text, width)

    def width(self, text: str, style: str) -> float:
        """The width of ``text`` in the table's font, from each character's width (fpdf2 sums them the same way)."""
        known = self.char_widths[style]
        total = 0.0
        for ch in text:
            w = known.get(ch)
            if w is None:
                current = self.doc.font_style
                self.doc.set_font(FAMILY, style, self.size)
                w = known[ch] = self.doc.get_string_width(ch)
                self.doc.set_font(FAMILY, current, self.size)
            total += w
        return total

    def height(self, cells: Sequence[Sequence[str]]) -> float:
        return max(len(cell) for cell in cells) * self.lh + 2 * PAD


def _widths(doc: Document, columns: Sequence[Column], width: float) -> list[float]:
    """Widths by weight, except that a column is never narrower than its header's longest word (in bold)."""
    least = [max(doc.get_string_width(w) for w in c.header.split()) + 2 * doc.c_margin + 0.5 for c in columns]
    fixed: set[int] = set()
    while True:
        free = width - sum(least[i] for i in fixed)
        weight = sum(c.weight for i, c in enumerate(columns) if i not in fixed)
        widths = [least[i] if i in fixed else c.weight * free / weight for i, c in enumerate(columns)]
        narrow = {i for i, w in enumerate(widths) if i not in fixed and w < least[i]}
        if not narrow:
            return widths
        fixed |= narrow
