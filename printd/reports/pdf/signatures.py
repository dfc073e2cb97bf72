"""Signature blocks: who signs, a space to sign in, then name, rank and NIP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from printd.reports.model import Person
from printd.reports.pdf.document import FAMILY, Document, line_height, wrap

SIZE = 10.0
SIGNING_SPACE = 20.0  # mm left blank for the signature and stamp
BLANK = "(" + "." * 40 + ")"


@dataclass(frozen=True)
class Signature:
    above: tuple[str, ...]  # the lines over the signing space: place and date, position
    person: Person


def signatures(doc: Document, blocks: Sequence[Signature], *, title: str = "", columns: int = 2) -> None:
    """Blocks side by side, ``columns`` to a row, no row split by a page break.

    A lone signer signs on the right; a lone block in a last row is centred. ``title`` ("Disaksikan oleh:") is
    centred above the blocks and kept on the page of their first row.
    """
    lh = line_height(SIZE)
    width = doc.epw / columns
    rows = [blocks[i : i + columns] for i in range(0, len(blocks), columns)]
    doc.set_font(FAMILY, "", SIZE)
    for n, row in enumerate(rows):
        above = [[line for text in b.above for line in wrap(doc, text, width)] for b in row]
        below = [_below(b.person) for b in row]
        signing = max(len(a) for a in above) * lh + SIGNING_SPACE  # the names of one row on one line
        height = signing + max(len(b) for b in below) * lh
        heading = [("", title), ("", "")] if title and n == 0 else []
        if doc.get_y() + height + len(heading) * lh > doc.page_break_trigger:
            doc.add_page(same=True)
        _centred(doc, heading, doc.l_margin, doc.epw)
        top = doc.get_y()
        lone = len(row) == 1 and columns > 1
        left = doc.l_margin + ((columns - 1) * width if len(blocks) == 1 else (doc.epw - width) / 2 if lone else 0)
        for i, (lines_above, lines_below) in enumerate(zip(above, below, strict=True)):
            x = left + i * width
            doc.set_y(top)
            _centred(doc, [("", line) for line in lines_above], x, width)
            doc.set_y(top + signing)
            _centred(doc, lines_below, x, width)
        doc.set_xy(doc.l_margin, top + height + lh)


def _centred(doc: Document, lines: Sequence[tuple[str, str]], x: float, width: float) -> None:
    for style, line in lines:
        doc.set_font(FAMILY, style, SIZE)
        doc.set_x(x)
        doc.cell(width, line_height(SIZE), line, align="C", new_x="LEFT", new_y="NEXT")
    doc.set_font(FAMILY, "", SIZE)


def _below(person: Person) -> list[tuple[str, str]]:
    """The lines under the signing space, with their font style (bold and underlined for the name)."""
    lines = [("BU", person.name) if person.name else ("", BLANK)]
    if person.rank:
        lines.append(("", person.rank))
    if person.nip or not person.name:
        lines.append(("", f"NIP. {person.nip or '.' * 30}"))
    return lines
