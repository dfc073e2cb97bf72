"""The Jinja2 environment: templates under printd/web/templates, autoescaped, translated per render.

Every text in a template is marked (``{% trans %}``, ``_()``); jinja2's i18n extension calls printd.i18n's gettext,
which answers in the language set with ``i18n.speaking(language)`` around a render, so one environment serves readers
of both languages at once. Dates and numbers go through Babel filters in that language and the office's time zone
(``[station] timezone``): ``{{ n|number }}``, ``{{ n|signed }}`` (with its sign), ``{{ iso|datetime }}``,
``{{ iso|clock }}``, ``{{ day|date }}`` (a local date), ``{{ seconds|duration }}``; a value missing is shown as
``NONE`` (an en dash). ``{{ ref|job_url }}`` is a job's page. printd's own sentences (a pause reason, an alert) are
said again in the reader's language with printd.cli_errors, printctl's vocabulary: ``{{ text|pause_reason }}``,
``{{ facts|alert }}``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import babel.dates
import jinja2

from printd import cli_errors, i18n
from printd.web import display, tables

NONE = "\u2013"


def parse_time(value: object) -> dt.datetime | None:
    """An ISO time from printd (``2026-12-07T02:40:28.079Z``) or epoch seconds → an aware datetime; else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def environment(zone: ZoneInfo) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("printd.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n._, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]

    def number(value: object) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return i18n.format_number(value, i18n.current_language())
        return NONE

    def datetime(value: object, fmt: str = "medium") -> str:
        moment = parse_time(value)
        return NONE if moment is None else i18n.format_datetime(moment, i18n.current_language(), fmt, tzinfo=zone)

    def clock(value: object) -> str:
        """The time of day in the office (``14:05:09``); with the date when it is not today there."""
        moment = parse_time(value)
        if moment is None:
            return NONE
        local = moment.astimezone(zone)
        if local.date() != dt.datetime.now(zone).date():
            return datetime(value, "short")
        return babel.dates.format_time(local, "HH:mm:ss", locale=i18n.locale(i18n.current_language()))

    def duration(seconds: object) -> str:
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            return NONE
        return babel.dates.format_timedelta(
            dt.timedelta(seconds=seconds), threshold=2, format="short", locale=i18n.locale(i18n.current_language())
        )

    def signed(value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return ("+" if value > 0 else "\u2212" if value < 0 else "") + number(abs(value))
        return NONE

    def date(value: object) -> str:
        """A local date (``2026-12-07`` or a date) as the reader writes it; an epoch time, its day in the office."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = dt.datetime.fromtimestamp(value, zone).date()
        elif isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value[:10])
            except ValueError:
                return NONE
        if not isinstance(value, dt.date):
            return NONE
        return i18n.format_date(value, i18n.current_language())

    def pause_reason(text: object) -> str:
        """Why a printer is paused, from printd's words: its reasons in the dashboard's words in English, printd's
        sentences said again in the reader's language otherwise (printd.cli_errors)."""
        if not isinstance(text, str):
            return NONE
        if i18n.current_language() != i18n.SOURCE_LANGUAGE:
            return cli_errors.pause_reason_text(text)
        return ", ".join(i18n._(display.reason(part.strip()).text) for part in text.split(",") if part.strip())

    def alert(facts: object) -> str:
        """An alert of printd's status in the reader's language (printd.cli_errors)."""
        return cli_errors.alert_text(dict(facts)) if isinstance(facts, tuple) else NONE

    env.filters.update(
        number=number,
        signed=signed,
        datetime=datetime,
        clock=clock,
        date=date,
        duration=duration,
        pause_reason=pause_reason,
        alert=alert,
        job_url=tables.job_url,
    )
    return env
