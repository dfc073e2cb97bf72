"""Running text of the documents: headings, paragraphs, labelled fields and numbered points."""

from __future__ import annotations

from collections.abc import Sequence

from printd.reports.pdf.document import FAMILY, Document, line_height

SIZE = 10.0
NUMBER_WIDTH = 7.0  # mm: "1." before a point


def heading(doc: Document, text: str, size: float = 12.0, *, align: str = "C", bold: bool = True) -> None:
    doc.set_font(FAMILY, "B" if bold else "", size)
    doc.multi_cell(0, line_height(size), text, align=align, new_x="LMARGIN", new_y="NEXT")


def paragraph(doc: Document, text: str, size: float = SIZE, *, align: str = "J") -> None:
    doc.set_font(FAMILY, "", size)
    doc.multi_cell(0, line_height(size), text, align=align, new_x="LMARGIN", new_y="NEXT")


def space(doc: Document, mm: float = 3.0) -> None:
    doc.set_y(doc.get_y() + mm)


def fields(
    doc: Document,
    pairs: Sequence[tuple[str, str]],
    *,
    label_width: float = 32.0,
    number: str = "",
    size: float = SIZE,
) -> None:
    """``label : value`` lines, the colons aligned and a long value wrapped under itself; ``number`` before all."""
    doc.set_font(FAMILY, "", size)
    lh = line_height(size)
    indent = NUMBER_WIDTH if number else 0.0
    for i, (label, value) in enumerate(pairs):
        doc.set_x(doc.l_margin)
        if number:
            doc.cell(indent, lh, number if i == 0 else "")
        doc.cell(label_width, lh, label)
        doc.cell(4, lh, ":")
        doc.multi_cell(doc.epw - indent - label_width - 4, lh, value, align="L", new_x="LMARGIN", new_y="NEXT")


def numbered(doc: Document, number: str, text: str, *, size: float = SIZE) -> None:
    """A point with a hanging indent: "1." then its text."""
    doc.set_font(FAMILY, "", size)
    lh = line_height(size)
    doc.cell(NUMBER_WIDTH, lh, number)
    doc.multi_cell(doc.epw - NUMBER_WIDTH, lh, text, align="J", new_x="LMARGIN", new_y="NEXT")
