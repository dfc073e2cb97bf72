"""Numbers as the documents write them: grouped digits ("6.000") and words ("tiga puluh empat")."""

from __future__ import annotations

from typing import Literal

from num2words import num2words

Lang = Literal["id", "en"]
LANGS: tuple[Lang, ...] = ("id", "en")


def check_lang(lang: str) -> Lang:
    for known in LANGS:
        if lang == known:
            return known
    raise ValueError(f"document language {lang!r}: expected one of {', '.join(LANGS)}")


def format_number(n: int, lang: Lang = "id") -> str:
    """``6000`` as ``6.000`` (Indonesian) or ``6,000`` (English)."""
    text = f"{n:,}"
    return text.replace(",", ".") if lang == "id" else text


def format_decimal(x: float, lang: Lang = "id", places: int = 1) -> str:
    """``1234.5`` as ``1.234,5`` (Indonesian) or ``1,234.5`` (English)."""
    text = f"{x:,.{places}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "id" else text


def format_percent(share: float, lang: Lang = "id") -> str:
    """``0.017`` as ``1,7%`` or ``1.7%``."""
    return f"{format_decimal(100 * share, lang)}%"


def terbilang(n: int, lang: Lang = "id") -> str:
    """``n`` in words: ``terbilang(34)`` is "tiga puluh empat"."""
    return str(num2words(n, lang=lang))


def ordinal_words(n: int, lang: Lang = "id") -> str:
    """``7`` as "ketujuh" or "seventh"."""
    return str(num2words(n, lang=lang, to="ordinal"))


def numerals_and_words(n: int, lang: Lang = "id") -> str:
    """The number and, in brackets, its words: "34 (tiga puluh empat)"."""
    return f"{format_number(n, lang)} ({terbilang(n, lang)})"


def count_with_words(n: int, lang: Lang = "id") -> str:
    """A count of blanks in numerals and words: "34 (tiga puluh empat) keping", "34 (thirty-four) blanks"."""
    unit = "keping" if lang == "id" else ("blank" if n == 1 else "blanks")
    return f"{numerals_and_words(n, lang)} {unit}"
