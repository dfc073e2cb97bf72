"""Languages: the message catalogs, which language a reader gets, and dates and numbers written in it.

printd speaks Indonesian and English. Messages are marked in the source with ``_()`` (and ``ngettext``), extracted
by Babel into ``printd/locale/printd.pot``; ``printd/locale/id/LC_MESSAGES/printd.po`` is the Indonesian catalog,
compiled to ``printd.mo`` at build (``make locale``), never committed compiled. English is the source language: no
catalog, the marked text itself.

printctl's language comes from the environment (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, in gettext's
order); the dashboard's from the account's setting or the browser's ``Accept-Language``.
"""

from __future__ import annotations

import contextvars
import gettext
import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import babel
import babel.dates
import babel.numbers

DOMAIN = "printd"
LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"
LANGUAGES = ("id", "en")
"""Every language printd speaks; the first is what an Indonesian office gets when nothing says otherwise."""


class CatalogMissingError(Exception):
    """A language printd speaks has no compiled catalog: the installation was not built with ``make locale``."""


@cache
def translation(language: str) -> gettext.NullTranslations:
    """The messages of ``language`` (one of ``LANGUAGES``); English is the source text itself."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    if language not in LANGUAGES:
        raise ValueError(f"printd does not speak {language!r}; it speaks {', '.join(LANGUAGES)}")
    try:
        return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])
    except FileNotFoundError:
        raise CatalogMissingError(
            f"the {language} messages are not compiled ({LOCALE_DIR}/{language}/LC_MESSAGES/{DOMAIN}.mo is missing);"
            " run 'make locale' (pybabel compile) or reinstall printd"
        ) from None


def _primary(tag: str) -> str:
    """``id_ID.UTF-8`` → ``id``; ``en-US`` → ``en``; ``C`` → ``c``."""
    return tag.split(".", 1)[0].split("@", 1)[0].replace("-", "_").split("_", 1)[0].strip().lower()


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """printctl's language: the first of gettext's variables that is set decides; a language printd does not
    speak, ``C`` or ``POSIX`` gives English (gettext's own rule)."""
    env = os.environ if environ is None else environ
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(variable, "")
        if not value:
            continue
        for tag in value.split(":") if variable == "LANGUAGE" else [value]:
            language = _primary(tag)
            if language in LANGUAGES:
                return language
        return SOURCE_LANGUAGE
    return SOURCE_LANGUAGE


def from_accept_language(header: str | None, default: str = LANGUAGES[0]) -> str:
    """The dashboard's language from the browser's ``Accept-Language``: the highest-weighted one printd speaks."""
    if not header:
        return default
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:32]):
        tag, _, rest = item.strip().partition(";")
        weight = 1.0
        if rest.strip().startswith("q="):
            try:
                weight = float(rest.strip()[2:])
            except ValueError:
                continue
        language = _primary(tag)
        if language in LANGUAGES and weight > 0:
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else default


_current: contextvars.ContextVar[str] = contextvars.ContextVar("printd_language", default=SOURCE_LANGUAGE)


def set_language(language: str) -> None:
    """Make ``language`` the one ``_()`` answers in, for this context (printctl sets it once at start)."""
    translation(language)  # fails now, naming the missing catalog, rather than at the first message
    _current.set(language)


def current_language() -> str:
    return _current.get()


def _(message: str) -> str:
    """``message`` in the current language."""
    return translation(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for ``count`` in the current language."""
    return translation(_current.get()).ngettext(singular, plural, count)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark, translate later")
    """Mark ``message`` for extraction only; it is translated where it is shown."""
    return message


@cache
def locale(language: str) -> babel.Locale:
    """The Babel locale for dates and numbers: Indonesian as written in Indonesia."""
    return babel.Locale.parse("id_ID" if language == "id" else "en_GB")


def format_number(value: float, language: str | None = None) -> str:
    """``12,345`` in English, ``12.345`` in Indonesian."""
    return babel.numbers.format_decimal(value, locale=locale(language or _current.get()))


def format_date(value: object, language: str | None = None, fmt: str = "medium") -> str:
    """A date (or datetime) as the reader writes it: ``7 Des 2026`` in Indonesian."""
    return babel.dates.format_date(value, format=fmt, locale=locale(language or _current.get()))  # type: ignore[arg-type]


def format_datetime(value: object, language: str | None = None, fmt: str = "medium", tzinfo: object = None) -> str:
    """A moment in the office's zone (``tzinfo``) as the reader writes it."""
    return babel.dates.format_datetime(
        value,  # type: ignore[arg-type]
        format=fmt,
        tzinfo=tzinfo,  # type: ignore[arg-type]
        locale=locale(language or _current.get()),
    )


def languages_offered() -> Sequence[str]:
    return LANGUAGES
