"""printctl's report commands: stock by day and month, the forecast, the request for blanks and the berita acara.

Tables, CSV and PDF are in Indonesian unless ``--lang en``, whatever language printctl speaks otherwise: a report is
an official document, in the documents' own words (printd.reports.pdf.labels). ``--json`` (or ``--format json``)
prints the daemon's reply. Documents are rendered here, from the reply, so the daemon only reads and books.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from printd.cli_labels import HANDOVER_KINDS, label
from printd.cli_labels import SPOIL_CATEGORIES as CATEGORY_LABELS
from printd.cli_output import EXIT_OK, Output, UsageError, cell, date_argument, get, labelled, quantity
from printd.control.client import ControlClient
from printd.i18n import N_, _
from printd.i18n import format_number as reader_number
from printd.reports import codec, exports
from printd.reports.model import SPOIL_CATEGORIES, Forecast, Movements, StockPeriod
from printd.reports.pdf.labels import MOVEMENT_NAMES, category_name
from printd.reports.pdf.words import Lang, format_decimal, format_number, format_percent

Add = Callable[..., argparse.ArgumentParser]

FORMATS = ("table", "csv", "json", "pdf")


def add_report_commands(add: Add, commands: Any, stock_commands: Any, spoiled: argparse.ArgumentParser) -> None:
    """Register ``report``, ``stock forecast|request`` and ``spoiled --pending|handover``."""
    report = add("report", _("Stock reports: the day (and the public stock notice) or the month."), commands)
    kinds = report.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    daily = add("daily", _("The day's stock: opening, received, issued, spoiled by category, closing."), kinds)
    daily.add_argument("--date", type=date_argument, metavar="YYYY-MM-DD", help=_("a local date (default: today)"))
    daily.add_argument("--notice", action="store_true", help=_("the one-page public stock notice (PDF)"))
    monthly = add("monthly", _("The month's usage report (laporan penggunaan blangko): a row a day."), kinds)
    monthly.add_argument("--month", type=_month, metavar="YYYY-MM", help=_("default: this month"))
    for sub in (daily, monthly):
        _document_options(sub, FORMATS)
    forecast = add(
        "forecast", _("How long the blanks last, the reorder point and how many to request."), stock_commands
    )
    forecast.add_argument("--lang", choices=("id", "en"), default="id", help=_("Indonesian (default) or English"))
    request = add(
        "request", _("Draft the request letter for more blanks (permintaan blangko KTP-el) as PDF."), stock_commands
    )
    request.add_argument("--quantity", type=int, metavar="N", help=_("blanks to request (default: the forecast's)"))
    request.add_argument("--reason", default="", metavar="TEXT", help=_("a sentence on why, for the letter"))
    _document_options(request, ("pdf",), output_required=True)

    spoiled.add_argument("--pending", action="store_true", help=_("spoiled blanks not yet in any berita acara"))
    spoiled.add_argument(
        "--through", type=date_argument, metavar="YYYY-MM-DD", help=_("with --pending: spoiled up to this day")
    )
    handover_group = spoiled.add_subparsers(dest="spoiled_command", metavar="SUBCOMMAND")
    handover = add(
        "handover",
        _(
            "Book every pending spoiled blank as destroyed or returned under one berita acara and write it"
            " (supervisor); or list past ones (--list), or write one again (--show NO)."
        ),
        handover_group,
    )
    which = handover.add_mutually_exclusive_group()
    which.add_argument("--list", action="store_true", help=_("past berita acara, newest first"))
    which.add_argument("--show", metavar="NO", help=_("one past berita acara (again as PDF with --output)"))
    handover.add_argument("--kind", choices=("destroyed", "returned"), help=_("pemusnahan or penyerahan"))
    handover.add_argument("--number", metavar="NO", help=_("the berita acara's number"))
    handover.add_argument(
        "--through", type=date_argument, metavar="YYYY-MM-DD", help=_("only blanks spoiled up to this day")
    )
    handover.add_argument("--place", metavar="PLACE", help=_("where it happens (default: the office's city)"))
    handover.set_defaults(people=[])
    handover.add_argument("--officer", action=_Person, metavar="NAME", help=_("an officer of the berita acara"))
    handover.add_argument("--witness", action=_Person, metavar="NAME", help=_("a witness of the berita acara"))
    people = N_("the party's (or witness's) civil-servant number, rank (pangkat/golongan) or position (jabatan)")
    for detail in ("nip", "rank", "position"):
        help_text = f"{_(people)}: {detail}"
        handover.add_argument(f"--{detail}", action=_PersonDetail, metavar=detail.upper(), help=help_text)
    _document_options(handover, ("pdf",))


class _Person(argparse.Action):
    """``--officer NAME`` / ``--witness NAME``: a person; the ``--nip``, ``--rank`` and ``--position`` after it are
    theirs."""

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, opt: str | None = None
    ) -> None:
        ns.people = [*ns.people, (self.dest, {"name": value})]


class _PersonDetail(argparse.Action):
    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, opt: str | None = None
    ) -> None:
        if not ns.people:
            parser.error(_("{option} belongs after the --officer or --witness it describes").format(option=opt))
        ns.people[-1][1][self.dest] = value


def _document_options(
    parser: argparse.ArgumentParser, formats: Sequence[str], *, output_required: bool = False
) -> None:
    if len(formats) > 1:
        parser.add_argument("--format", choices=formats, default="table", help=_("default: table"))
    parser.add_argument(
        "--output", metavar="FILE", required=output_required, help=_("write here instead of the screen")
    )
    parser.add_argument("--lang", choices=("id", "en"), default="id", help=_("Indonesian (default) or English"))


def _month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(_("expected a month as YYYY-MM, got {text}").format(text=repr(text)))
    return text


# ---- commands ----------------------------------------------------------------------------------------


def report(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    if args.report_command == "daily":
        reply = client.call("reports.daily", {"date": args.date})
        if args.notice:
            return _write_pdf(out, args, "stock_notice", reply)
        return _show(out, args, reply, _daily_table, exports.daily_csv, "daily_report")
    reply = client.call("reports.monthly", {"month": args.month})
    return _show(out, args, reply, _monthly_table, exports.monthly_csv, "monthly_report")


def stock_forecast(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    reply = client.call("stock.forecast", {})
    if out.json:
        out.emit_json(reply)
    else:
        out.show(lambda console, r: _forecast_table(console, r, args.lang), reply)
    return EXIT_OK


def stock_request(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    reply = client.call("stock.request", {"quantity": args.quantity, "reason": args.reason})
    return _write_pdf(out, args, "request_letter", reply)


def spoiled_pending(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    reply = client.call("spoiled.pending", {"through": args.through})
    if out.json:
        out.emit_json(reply)
        return EXIT_OK

    def render(console: Console, r: object) -> None:
        count = get(r, "count")
        shown = reader_number(count) if isinstance(count, int) else count
        console.print(Text(_("Waiting for a berita acara: {count} spoiled blank(s).").format(count=shown)))
        items = get(r, "items")
        table = Table(_("Ledger"), _("Category"), _("Chip UID"), _("Printer"), _("Job ref"), _("Officer"))
        for item in items if isinstance(items, list) else []:
            keys = ("chip_uid", "printer", "job_ref", "officer")
            category = labelled(CATEGORY_LABELS, get(item, "category"))
            table.add_row(cell(get(item, "ledger_id")), category, *(cell(get(item, k)) for k in keys))
        console.print(table)

    out.show(render, reply)
    return EXIT_OK


def spoiled_handover(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    if args.list:
        reply = client.call("spoiled.handovers", {})
        if out.json:
            out.emit_json(reply)
        else:
            out.show(_handover_list, reply)
        return EXIT_OK
    if args.show:
        reply = client.call("spoiled.handover_get", {"number": args.show})
    else:
        officers = [p for role, p in args.people if role == "officer"]
        if not (args.kind and args.number and officers):
            raise UsageError(_("a new berita acara needs --kind, --number and at least one --officer NAME --nip NIP"))
        if not args.output and not out.json:
            raise UsageError(_("a new berita acara needs --output FILE.pdf to write the document to (or --json)"))
        reply = client.call(
            "spoiled.handover",
            {
                "kind": args.kind,
                "number": args.number,
                "through": args.through,
                "place": args.place,
                "officers": officers,
                "witnesses": [p for role, p in args.people if role == "witness"],
            },
        )
    if args.output:
        return _write_pdf(out, args, "berita_acara", reply)
    if out.json:
        out.emit_json(reply)
    else:
        out.show(_handover_summary, reply)
    return EXIT_OK


# ---- output ------------------------------------------------------------------------------------------


def _show(
    out: Output,
    args: argparse.Namespace,
    reply: object,
    table: Callable[[Console, object, Lang], None],
    csv_rows: Callable[[object, Lang], list[list[object]]],
    document: str,
) -> int:
    fmt = "json" if out.json else args.format
    if fmt == "pdf":
        return _write_pdf(out, args, document, reply)
    if fmt == "json":
        text = None
        if args.output:
            captured = io.StringIO()
            Output(json=True, out=captured).emit_json(reply)
            text = captured.getvalue()
        else:
            out.emit_json(reply)
    elif fmt == "csv":
        text = exports.csv_text(csv_rows(reply, args.lang))
    else:
        if args.output:
            raise UsageError(_("--output writes csv, json or pdf; choose one with --format"))
        out.show(lambda console, r: table(console, r, args.lang), reply)
        return EXIT_OK
    if text is not None:
        if args.output:
            _write(args.output, text.encode())
            out.console.print(Text(_("Wrote {path}.").format(path=args.output)))
        else:
            out.out.write(text)
    return EXIT_OK


def _write_pdf(out: Output, args: argparse.Namespace, document: str, reply: object) -> int:
    if not args.output:
        raise UsageError(_("a PDF needs --output FILE.pdf"))
    if not isinstance(reply, dict):
        raise UsageError(_("printd sent an unexpected reply; check that printctl and printd are the same version"))
    data = exports.document_pdf(document, reply, args.lang)
    _write(args.output, data)
    if out.json:  # a script gets the record the document was made from
        out.emit_json(reply)
    else:
        said = _("Wrote {path} ({kib} KiB).").format(path=args.output, kib=reader_number(len(data) // 1024 + 1))
        out.console.print(Text(said))
    return EXIT_OK


def _write(path: str, data: bytes) -> None:
    try:
        if path == "-":
            sys.stdout.buffer.write(data)
        else:
            Path(path).write_bytes(data)
    except OSError as exc:
        raise UsageError(_("cannot write {path}: {error}").format(path=path, error=exc.strerror or exc)) from None


def _names(lang: Lang) -> dict[str, str]:
    return MOVEMENT_NAMES[lang]


def _n(value: object, lang: Lang) -> str:
    return format_number(value, lang) if isinstance(value, int) else str(value)


def _movement_rows(moved: Movements, lang: Lang) -> list[tuple[str, int]]:
    names = _names(lang)
    rows = [(names[key], getattr(moved, key)) for key in ("received", "transferred_in", "transferred_out", "adjusted")]
    rows.append((names["issued"], moved.issued))
    rows += [(f"{names['spoiled']}: {category_name(c, lang)}", moved.spoiled.get(c, 0)) for c in SPOIL_CATEGORIES]
    rows.append((names["in_doubt"], moved.in_doubt))
    return rows


def _check_line(period: StockPeriod, lang: Lang) -> str:
    moved = period.movements
    ok = "✓" if period.balanced else "✗"
    words = (
        ("stok akhir = stok awal + masuk - keluar", "Periksa")
        if lang == "id"
        else (
            "closing = opening + in - out",
            "Check",
        )
    )
    return (
        f"{words[1]}: {words[0]}: {_n(period.closing, lang)} = {_n(period.opening, lang)} + {_n(moved.inflow, lang)}"
        f" - {_n(moved.outflow, lang)} {ok}"
    )


def _title(indonesian: str, english: str, lang: Lang, station: object, when: object) -> str:
    return f"{indonesian if lang == 'id' else english} — {station}, {when}"


def _daily_table(console: Console, reply: object, lang: Lang) -> None:
    assert isinstance(reply, dict)
    period = codec.period_from(reply)
    names = _names(lang)
    title = _title("Stok blangko KTP-el", "e-KTP blank stock", lang, reply.get("station"), period.start)
    table = Table("", "", title=title)
    table.add_row(Text(names["opening"], style="bold"), _n(period.opening, lang))
    for row_name, value in _movement_rows(period.movements, lang):
        table.add_row(row_name, _n(value, lang))
    table.add_row(Text(names["closing"], style="bold"), Text(_n(period.closing, lang), style="bold"))
    console.print(table)
    console.print(Text(_check_line(period, lang), style="green" if period.balanced else "bold red"))
    for heading, breakdown in (("Printer", period.printers), ("Operator", period.operators)):
        if breakdown:
            sub = Table(
                heading, names["received"], names["adjusted"], names["issued"], names["spoiled"], names["in_doubt"]
            )
            for name, moved in breakdown.items():
                values = (moved.received, moved.adjusted, moved.issued, moved.spoiled_total, moved.in_doubt)
                sub.add_row(name, *(_n(v, lang) for v in values))
            console.print(sub)


def _monthly_table(console: Console, reply: object, lang: Lang) -> None:
    assert isinstance(reply, dict)
    report = codec.monthly_from(reply)
    names = _names(lang)
    title = _title("Penggunaan blangko KTP-el", "e-KTP blank usage", lang, reply.get("station"), reply.get("month"))
    columns = ("opening", "received", "adjusted", "issued", "spoiled", "in_doubt", "closing")
    table = Table("Tanggal" if lang == "id" else "Date", *(names[c] for c in columns), title=title)
    for day in [*report.days, report.month_total]:
        moved = day.movements
        values = (
            day.opening,
            moved.received,
            moved.adjusted,
            moved.issued,
            moved.spoiled_total,
            moved.in_doubt,
            day.closing,
        )
        label = names["total"] if day is report.month_total else day.start.isoformat()
        table.add_row(label, *(_n(v, lang) for v in values))
    console.print(table)
    spoils = ", ".join(
        f"{category_name(c, lang)} {report.month_total.movements.spoiled.get(c, 0)}" for c in SPOIL_CATEGORIES
    )
    console.print(Text(f"{names['spoiled']}: {spoils}"))
    console.print(
        Text(_check_line(report.month_total, lang), style="green" if report.month_total.balanced else "bold red")
    )


FORECAST_LABELS: dict[str, tuple[str, ...]] = {
    "id": (
        "Perkiraan stok blangko KTP-el",
        "Stok tersedia",
        "Pemakaian per hari kerja",
        "Tingkat kerusakan",
        "Antrean (menunggu cetak)",
        "Blangko yang dibutuhkan antrean",
        "Sisa hari kerja",
        "... setelah antrean dicetak",
        "Titik pemesanan ulang",
        "Jumlah yang disarankan untuk diminta",
        "! Stok di bawah titik pemesanan ulang: segera ajukan permintaan blangko.",
    ),
    "en": (
        "Forecast of blank stock",
        "On hand",
        "Use per working day",
        "Spoil rate",
        "Backlog (jobs waiting)",
        "Blanks the backlog needs",
        "Working days left",
        "... after printing the backlog",
        "Reorder point",
        "Recommended request",
        "! On hand is below the reorder point: request more blanks now.",
    ),
}


def _forecast_table(console: Console, reply: object, lang: Lang) -> None:
    found = codec.record_from(exports.record(reply) if isinstance(reply, dict) else reply, Forecast)
    title, *labels, warning = FORECAST_LABELS[lang]
    days = "-" if found.days_left is None else format_decimal(found.days_left, lang)
    with_backlog = "-" if found.days_left_with_backlog is None else format_decimal(found.days_left_with_backlog, lang)
    backlog = ", ".join(f"{k} {format_number(v, lang)}" for k, v in found.backlog.items())
    values = (
        format_number(found.on_hand, lang),
        format_decimal(found.daily_use, lang),
        format_percent(found.spoil_rate, lang),
        backlog,
        format_number(found.backlog_blanks, lang),
        days,
        with_backlog,
        format_number(found.reorder_point, lang),
        format_number(found.request, lang),
    )
    table = Table("", "", title=title)
    for row_name, value in zip(labels, values, strict=True):
        table.add_row(row_name, value)
    console.print(table)
    console.print(Text(found.method_id if lang == "id" and found.method_id else found.method))
    if found.on_hand < found.reorder_point:
        console.print(Text(warning, style="bold yellow"))


def _handover_list(console: Console, reply: object) -> None:
    table = Table(_("Number"), _("Blanks"), title=_("Berita acara"))
    for row in reply if isinstance(reply, list) else []:
        table.add_row(cell(get(row, "number")), quantity(get(row, "count")))
    console.print(table)


def _handover_summary(console: Console, reply: object) -> None:
    items = get(reply, "items")
    count = len(items) if isinstance(items, list) else 0
    kind = get(reply, "kind")
    said = _("Berita acara {number} ({kind}): {count} spoiled blank(s).").format(
        number=get(reply, "number"), kind=label(HANDOVER_KINDS, kind) if kind else kind, count=reader_number(count)
    )
    console.print(Text(said))
