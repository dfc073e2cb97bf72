"""Languages: the message catalogs, which language a reader gets, and dates and numbers written in it.

printd speaks Indonesian and English. Messages are marked in the source with ``_()`` (and ``ngettext``), extracted
by Babel into ``printd/locale/printd.pot``; ``printd/locale/id/LC_MESSAGES/printd.po`` is the Indonesian catalog,
compiled to ``printd.mo`` at build (``make locale``), never committed compiled. English is the source language: no
catalog, the marked text itself.

printctl's language comes from the environment (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, in gettext's
order); the dashboard's from the account's setting or the browser's ``Accept-Language``. Numbers and times are
written the reader's way by Babel, except in the C/POSIX locale (or none at all), where they stay plain (``4980``,
``2026-12-06 09:30:00``): what scripts reading printctl under ``LANG=C`` always saw.

Marking: ``_("...")`` translates now; ``N_("...")`` marks a message kept in a table and translated where it is shown;
``NP_("context", "...")`` does the same for a word that needs a context (``pgettext``), such as a machine value
shown as a label (``NP_("job state", "in_doubt")``). Placeholders are named (``{count}``) so a translation may
reorder them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import gettext
import os
from collections.abc import Iterator, Mapping, Sequence
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


def plain_from_environment(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment names no locale, or the C/POSIX one (``LC_ALL``, else ``LANG``): numbers and times
    are then written plain, without a locale's conventions, as a program reading the output expects."""
    env = os.environ if environ is None else environ
    for variable in ("LC_ALL", "LANG"):
        value = env.get(variable, "")
        if value:
            return value.split(".", 1)[0] in ("C", "POSIX")
    return True


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
_plain: contextvars.ContextVar[bool] = contextvars.ContextVar("printd_plain_formats", default=False)


def set_language(language: str, *, plain: bool = False) -> None:
    """Make ``language`` the one ``_()`` answers in, for this context (printctl sets it once at start); ``plain``:
    numbers and times without a locale's conventions (see ``plain_from_environment``)."""
    translation(language)  # fails now, naming the missing catalog, rather than at the first message
    _current.set(language)
    _plain.set(plain)


@contextlib.contextmanager
def speaking(language: str, *, plain: bool | None = None) -> Iterator[None]:
    """``set_language`` for the ``with`` block only; the language before it is back afterwards (``plain``: None
    keeps the current setting)."""
    translation(language)
    token = _current.set(language)
    plain_token = _plain.set(_plain.get() if plain is None else plain)
    try:
        yield
    finally:
        _plain.reset(plain_token)
        _current.reset(token)


def current_language() -> str:
    return _current.get()


def _(message: str) -> str:
    """``message`` in the current language."""
    return translation(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for ``count`` in the current language."""
    return translation(_current.get()).ngettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, as meant in ``context`` (the same English word may need two
    translations)."""
    return translation(_current.get()).pgettext(context, message)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark, translate later")
    """Mark ``message`` for extraction only; it is translated where it is shown."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:  # noqa: N802 (N_ with a context)
    """Mark ``message`` in ``context`` for extraction only; ``pgettext(*marked)`` translates it where it is shown."""
    return context, message


@cache
def locale(language: str) -> babel.Locale:
    """The Babel locale for dates and numbers: Indonesian as written in Indonesia."""
    return babel.Locale.parse("id_ID" if language == "id" else "en_GB")


def format_number(value: float, language: str | None = None) -> str:
    """``12,345`` in English, ``12.345`` in Indonesian; ``12345`` when the reader asked for plain formats (and named
    no ``language``)."""
    if language is None and _plain.get():
        return str(value)
    return babel.numbers.format_decimal(value, locale=locale(language or _current.get()))


def format_date(value: object, language: str | None = None, fmt: str = "medium") -> str:
    """A date (or datetime) as the reader writes it: ``7 Des 2026`` in Indonesian; ``2026-12-07`` when the reader
    asked for plain formats (and named no ``language``)."""
    if language is None and _plain.get() and isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    return babel.dates.format_date(value, format=fmt, locale=locale(language or _current.get()))  # type: ignore[arg-type]


def format_datetime(value: object, language: str | None = None, fmt: str = "medium", tzinfo: object = None) -> str:
    """A moment in the office's zone (``tzinfo``) as the reader writes it: ``6 Des 2026 09.30.00`` in Indonesian;
    ``2026-12-06 09:30:00`` when the reader asked for plain formats (and named no ``language``)."""
    if language is None and _plain.get() and isinstance(value, dt.datetime):
        moment = value.astimezone(tzinfo) if isinstance(tzinfo, dt.tzinfo) else value
        return f"{moment:%Y-%m-%d %H:%M:%S}"
    return babel.dates.format_datetime(
        value,  # type: ignore[arg-type]
        format=fmt,
        tzinfo=tzinfo,  # type: ignore[arg-type]
        locale=locale(language or _current.get()),
    )


def languages_offered() -> Sequence[str]:
    return LANGUAGES
