"""printctl: the staff tool that talks to printd over its control socket."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from printd import cli_reports, cli_stations, cli_users
from printd.cli_argparse import use_printd_catalog
from printd.cli_errors import (
    alert_text,
    asked_of,
    error_text,
    forbidden_text,
    pause_reason_text,
    unreachable_text,
)
from printd.cli_labels import CARD_FATES, JOB_EVENTS, PRINTER_STATES, PRIORITIES, reason
from printd.cli_labels import JOB_STATES as STATE_LABELS
from printd.cli_labels import SPOIL_CATEGORIES as CATEGORY_LABELS
from printd.cli_output import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Output,
    Renderer,
    UsageError,
    cell,
    date_argument,
    dict_rows,
    get,
    labelled,
    quantity,
)
from printd.cli_reports import add_report_commands
from printd.cli_stations import StationConflictError, add_station_commands, bind_station
from printd.control.client import DEFAULT_SOCKET, ControlClient, DaemonUnreachableError
from printd.control.protocol import DEFAULT_MAX_MESSAGE_BYTES
from printd.errors import PrintdError
from printd.i18n import (
    N_,
    SOURCE_LANGUAGE,
    CatalogMissingError,
    _,
    format_number,
    from_environment,
    plain_from_environment,
    speaking,
    translation,
)

JOB_STATES = ("queued", "printing", "held", "in_doubt", "done", "failed", "canceled")
SPOIL_CATEGORIES = ("print_failed", "encode_failed", "damaged", "data_changed", "test_print")
BATCH_SIZE = 500
_json = msgspec.json.Encoder()
# Room left in each batch request for the envelope around the jobs.
BATCH_BYTES = DEFAULT_MAX_MESSAGE_BYTES - 4096

EPILOG = N_("""\
exit status: 0 success, 1 printd answered with an error (or a batch had rejected jobs),
2 usage error or unreadable input file, 3 printd could not be reached.
The socket is --socket, else $PRINTD_SOCKET, else /run/printd/printd.sock.""")

# ---- argument types --------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("expected a positive whole number, got {text}").format(text=repr(text))
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(_("expected a positive whole number, got {text}").format(text=repr(text)))
    return value


def _serials(text: str) -> str:
    if not re.fullmatch(r"\S+-\S+", text):
        raise argparse.ArgumentTypeError(_("expected a serial range as FIRST-LAST, got {text}").format(text=repr(text)))
    return text


def _nonzero_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        said = _("expected a whole number such as -2 or 5, got {text}").format(text=repr(text))
        raise argparse.ArgumentTypeError(said) from None
    if value == 0:
        raise argparse.ArgumentTypeError(_("expected a number of blanks other than 0"))
    return value


def _job_id(text: str) -> int:
    digits = text.removeprefix("#")
    if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) < 2**63:
        raise argparse.ArgumentTypeError(_("expected a job id such as 12 or #12, got {text}").format(text=repr(text)))
    return int(digits)


def _job_ref_or_id(text: str) -> str | int:
    """A job named on the command line: ``#12`` is job id 12; anything else is a client reference, digits too."""
    return _job_id(text) if text.startswith("#") else text


JOB_HELP = N_("the job's client reference (even one made of digits), or #ID for its id (quote it: '#12')")


def add_job_argument(parser: argparse.ArgumentParser) -> None:
    """A job named by its reference (positional, or '#ID') or by --id: never a guess between the two."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("job", nargs="?", type=_job_ref_or_id, metavar="REF", help=_(JOB_HELP))
    which.add_argument(
        "--id", dest="job_id", type=_job_id, metavar="ID", help=_("the job's id, as 'printctl jobs' shows it")
    )


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(_("must not be empty"))
    return text


# ---- the parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """printctl's command line, its help in the current language (argparse's own words: cli_argparse)."""
    # The global options also work after the command; SUPPRESS keeps a subcommand from resetting them.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", default=argparse.SUPPRESS, metavar="PATH", help=_("printd's control socket"))
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=_("print raw JSON"))

    parser = argparse.ArgumentParser(
        prog="printctl",
        description=_("Control printd, the ID-card print station: queue, printers and the blank-card stock."),
        epilog=_(EPILOG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--socket", metavar="PATH", help=_("printd's control socket (default: $PRINTD_SOCKET)"))
    parser.add_argument("--json", action="store_true", help=_("print the daemon's reply as JSON"))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, into: Any = commands) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = into.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=_(EPILOG),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub

    add("status", _("Show the station: printers, queue, stock and alerts."))

    stock = add(
        "stock",
        _(
            "Show the blank-card stock (with each station's custody where several share the database), or change it:"
            " 'stock receive', 'stock adjust', 'stock transfer'."
        ),
    )
    stock_commands = stock.add_subparsers(dest="stock_command", metavar="SUBCOMMAND")
    receive = add("receive", _("Record a delivery of N blank cards (supervisor)."), stock_commands)
    receive.add_argument("count", type=_positive_int, metavar="N", help=_("number of blank cards received"))
    receive.add_argument("--ref", required=True, type=_nonempty, help=_("delivery reference (e.g. the handover note)"))
    receive.add_argument("--serials", type=_serials, metavar="FIRST-LAST", help=_("serial range of the blanks"))
    adjust = add(
        "adjust",
        _("Correct the stock on hand by N blanks, e.g. -2 for test cards printed from a printer's menu (supervisor)."),
        stock_commands,
    )
    adjust.add_argument("count", type=_nonzero_int, metavar="N", help=_("blanks to add (+N) or write off (-N)"))
    adjust.add_argument("--reason", required=True, type=_nonempty, help=_("why, for the ledger (no personal data)"))
    adjust.add_argument("--printer", help=_("the printer the difference belongs to (explains a reconcile difference)"))

    jobs = add("jobs", _("List jobs, newest first."))
    jobs.add_argument("--state", choices=JOB_STATES, help=_("only jobs in this state"))
    jobs.add_argument("--limit", type=_positive_int, default=50, metavar="N", help=_("at most N jobs (default 50)"))

    add_job_argument(add("job", _("Show one job: its cards and its history.")))

    submit = add("submit", _("Submit a job file, or a JSON-lines file of jobs with --batch."))
    submit.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help=_(
            'job file: {"ref", "priority", "front", "back"?, "holder"?, "chip"?, "station"?}; - reads standard input'
        ),
    )
    submit.add_argument("--batch", metavar="FILE.jsonl", help=_("one job per line; sent in chunks of 500"))

    for name, what in (
        ("cancel", N_("Cancel a queued or held job.")),
        ("hold", N_("Hold a queued job.")),
        ("release", N_("Release a held job back to the queue.")),
        ("reprint", N_("Print a job again on a new blank.")),
    ):
        add_job_argument(add(name, _(what)))

    printers = add("printers", _("Pause or resume a printer."))
    printer_commands = printers.add_subparsers(dest="printer_command", metavar="SUBCOMMAND", required=True)
    pause = add("pause", _("Stop a printer taking new cards."), printer_commands)
    pause.add_argument("printer", metavar="NAME")
    pause.add_argument("--reason", metavar="TEXT", help=_("why, for the others at the station (e.g. ribbon change)"))
    add("resume", _("Let a paused printer take cards again."), printer_commands).add_argument("printer", metavar="NAME")

    reconcile = add(
        "reconcile",
        _(
            "Compare each printer's card counter with the blanks the ledger booked on it since the last"
            " reconciliation, show any difference (blanks fed outside printd) and record it in the ledger."
        ),
    )
    reconcile.add_argument("printer", nargs="?", metavar="PRINTER", help=_("only this printer (default: all)"))

    spoiled = add("spoiled", _("List spoiled blanks."))
    spoiled.add_argument("--since", type=date_argument, metavar="YYYY-MM-DD", help=_("only spoils from this day on"))
    spoiled.add_argument("--category", choices=SPOIL_CATEGORIES, help=_("only this category"))

    spoil = add(
        "spoil",
        _(
            "Record a printed card that failed quality control as spoiled. Name the card as 'printctl job' lists it:"
            " run twice, the same card is booked once."
        ),
    )
    add_job_argument(spoil)
    card = spoil.add_mutually_exclusive_group(required=True)
    card.add_argument(
        "--attempt", type=_positive_int, metavar="N", help=_("the card's attempt, as 'printctl job' shows")
    )
    card.add_argument("--chip", dest="chip_uid", type=_nonempty, metavar="UID", help=_("the card's chip UID"))
    spoil.add_argument("--category", required=True, choices=SPOIL_CATEGORIES)
    spoil.add_argument("--detail", required=True, type=_nonempty, metavar="TEXT", help=_("what was wrong"))

    resolve = add("resolve", _("Settle an in-doubt job from what the card actually became."))
    add_job_argument(resolve)
    fate = resolve.add_mutually_exclusive_group(required=True)
    fate.add_argument(
        "--printed",
        dest="resolution",
        action="store_const",
        const="printed",
        help=_("the card is in the output hopper and good"),
    )
    fate.add_argument(
        "--spoiled",
        dest="category",
        choices=SPOIL_CATEGORIES,
        metavar="CATEGORY",
        help=_("the card is spoiled: {categories}").format(categories=", ".join(SPOIL_CATEGORIES)),
    )
    fate.add_argument(
        "--not-fed", dest="resolution", action="store_const", const="not_fed", help=_("no blank left the feeder")
    )
    resolve.add_argument("--note", default="", metavar="TEXT", help=_("what was checked"))
    add_report_commands(add, commands, stock_commands, spoiled)
    add_station_commands(add, stock_commands, jobs, submit, positive_int=_positive_int, nonempty=_nonempty)
    cli_users.add_user_commands(add, commands)
    return parser


# ---- commands --------------------------------------------------------------------------------------


Command = Callable[[argparse.Namespace, ControlClient, Output], int]


def _simple(method: str, params: Callable[[argparse.Namespace], dict[str, object]], render: Renderer) -> Command:
    def run(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
        result = client.call(method, params(args))
        if out.json:
            out.emit_json(result)
        else:
            out.show(render, result)
        return EXIT_OK

    return run


def _job_params(args: argparse.Namespace) -> dict[str, object]:
    return {"job": args.job if args.job_id is None else args.job_id}


def _load_json_file(path: str) -> tuple[object, Path]:
    try:
        if path == "-":
            return msgspec.json.decode(sys.stdin.buffer.read()), Path.cwd()
        return msgspec.json.decode(Path(path).read_bytes()), Path(path).resolve().parent
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {error}").format(path=path, error=exc.strerror or exc)) from None
    except msgspec.DecodeError:
        raise UsageError(_("{path} is not valid JSON; a job file holds one JSON object").format(path=path)) from None


def absolutize_images(job: dict[str, Any], base: Path) -> dict[str, Any]:
    """Image paths relative to the job file become absolute; data: URIs and absolute paths stay as they are."""
    out = dict(job)
    for face in ("front", "back"):
        value = out.get(face)
        if isinstance(value, str) and value and not value.startswith("data:") and not os.path.isabs(value):
            out[face] = os.path.normpath(base / value)
    return out


def _submit(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    if (args.file is None) == (args.batch is None):
        raise UsageError(_("submit needs either FILE or --batch FILE.jsonl (not both)"))
    if args.batch is not None:
        return _submit_batch(args.batch, client, out, args.station)
    job, base = _load_json_file(args.file)
    if not isinstance(job, dict):
        raise UsageError(
            _("{path} must hold one JSON object; use --batch for a JSON-lines file of jobs").format(path=args.file)
        )
    try:
        job = bind_station(job, args.station)
    except StationConflictError as exc:
        raise UsageError(f"{args.file}: {exc.shown}") from None
    result = client.call("jobs.submit", {"job": absolutize_images(job, base)})
    if out.json:
        out.emit_json(result)
    else:
        out.show(render_submitted, result)
    return EXIT_OK


@dataclass(frozen=True)
class BatchLine:
    line: int
    job: dict[str, Any]
    size: int


def read_batch(path: str, station: str | None = None) -> tuple[list[BatchLine], list[dict[str, object]]]:
    """The jobs of a JSON-lines file and the lines rejected locally (never sent), each with its line number;
    ``station`` (``--station``) binds the jobs that name none, and a job naming another is rejected. A rejection's
    message is English, as the daemon's are (``--json`` prints it); tables show it through cli_errors."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {error}").format(path=path, error=exc.strerror or exc)) from None
    base = Path.cwd() if path == "-" else Path(path).resolve().parent
    jobs: list[BatchLine] = []
    rejected: list[dict[str, object]] = []

    def reject(number: int, ref: object, message: str) -> None:
        ref_text = ref if isinstance(ref, str) else None
        rejected.append({"line": number, "ref": ref_text, "error": {"code": "job.invalid", "message": message}})

    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = msgspec.json.decode(line)
        except (msgspec.DecodeError, RecursionError):
            reject(number, None, f"line {number}: not valid JSON; each line must hold one job object")
            continue
        if not isinstance(obj, dict):
            reject(number, None, f"line {number}: a job must be a JSON object")
            continue
        try:
            job = absolutize_images(bind_station(obj, station), base)
        except StationConflictError as exc:
            reject(number, obj.get("ref"), f"line {number}: {exc}")
            continue
        size = len(_json.encode(job))
        if size > BATCH_BYTES:
            reject(
                number,
                obj.get("ref"),
                f"line {number}: the job is over the daemon's {DEFAULT_MAX_MESSAGE_BYTES >> 20} MiB request limit; "
                "reference images by file path instead of data: URIs",
            )
            continue
        jobs.append(BatchLine(number, job, size))
    return jobs, rejected


def chunks(jobs: Sequence[BatchLine]) -> Iterator[list[BatchLine]]:
    """Groups of at most ``BATCH_SIZE`` jobs that fit one request."""
    chunk: list[BatchLine] = []
    size = 0
    for item in jobs:
        if chunk and (len(chunk) == BATCH_SIZE or size + item.size + 1 > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item.size + 1
    if chunk:
        yield chunk


def _submit_batch(path: str, client: ControlClient, out: Output, station: str | None = None) -> int:
    jobs, rejected = read_batch(path, station)
    accepted: list[dict[str, object]] = []
    failure: PrintdError | DaemonUnreachableError | None = None
    sent = 0
    progress = Progress(console=Console(file=out.out), transient=True, disable=out.json or not out.out.isatty())
    with progress:
        task = progress.add_task(_("Submitting"), total=len(jobs))
        for chunk in chunks(jobs):
            try:
                reply = client.call("jobs.submit_batch", {"jobs": [item.job for item in chunk]})
            except (PrintdError, DaemonUnreachableError) as exc:
                failure = exc
                break
            accepted_now, rejected_now = _merge_batch_reply(reply, chunk)
            accepted += accepted_now
            rejected += rejected_now
            sent += len(chunk)
            progress.advance(task, len(chunk))
    rejected.sort(key=lambda r: int(str(r["line"] or 0)))
    not_sent = [item.line for item in jobs[sent:]] if failure is not None else []
    _render_batch(out, accepted, rejected, not_sent, failure)
    if isinstance(failure, DaemonUnreachableError):
        out.error(unreachable_text(failure.path, failure.reason))
        out.error(_("submission is idempotent by ref: run the same command again to submit the rest"))
        return EXIT_UNREACHABLE
    if failure is not None:
        _report_error(out, failure, json_too=False)
        return EXIT_ERROR
    return EXIT_ERROR if rejected else EXIT_OK


def _merge_batch_reply(
    reply: object, chunk: list[BatchLine]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    if not isinstance(reply, dict):
        raise PrintdError("internal", "printd sent an unexpected reply to jobs.submit_batch; check the daemon version")
    accepted = [{**a, "line": chunk[i].line} for i, a in _indexed_accepts(reply.get("accepted"), chunk)]
    rejected: list[dict[str, object]] = []
    for r in dict_rows(reply.get("rejected")):
        index = r.get("index")
        line = chunk[index].line if isinstance(index, int) and 0 <= index < len(chunk) else None
        rejected.append({"line": line, "ref": r.get("ref"), "error": r.get("error")})
    return accepted, rejected


def _indexed_accepts(accepted: object, chunk: list[BatchLine]) -> Iterator[tuple[int, dict[str, object]]]:
    # Accepted entries carry no index; match them to lines by ref, in order.
    lines_by_ref: dict[object, list[int]] = {}
    for i, item in enumerate(chunk):
        lines_by_ref.setdefault(item.job.get("ref"), []).append(i)
    for entry in accepted if isinstance(accepted, list) else []:
        if isinstance(entry, dict):
            indexes = lines_by_ref.get(entry.get("ref"))
            if indexes:
                yield indexes.pop(0), entry


def _render_batch(
    out: Output,
    accepted: list[dict[str, object]],
    rejected: list[dict[str, object]],
    not_sent: list[int],
    failure: PrintdError | DaemonUnreachableError | None,
) -> None:
    if out.json:
        body: dict[str, object] = {"accepted": accepted, "rejected": rejected}
        if failure is not None:
            body["not_sent"] = not_sent
            body["error"] = _error_dict(failure)
        out.emit_json(body)
        return
    duplicates = sum(1 for a in accepted if a.get("duplicate"))
    counts = {"accepted": format_number(len(accepted)), "rejected": format_number(len(rejected))}
    if duplicates:
        summary = _("Accepted {accepted} job(s), {duplicates} of them already submitted before; rejected {rejected}.")
        summary = summary.format(duplicates=format_number(duplicates), **counts)
    else:
        summary = _("Accepted {accepted} job(s); rejected {rejected}.").format(**counts)
    out.console.print(Text(summary))
    if rejected:
        table = Table(_("Line"), _("Ref"), _("Code"), _("Problem"), title=_("Rejected jobs"))
        for r in rejected:
            error = r.get("error") if isinstance(r.get("error"), dict) else {}
            assert isinstance(error, dict)
            code, message, details = error.get("code"), error.get("message"), error.get("details")
            facts = details if isinstance(details, dict) else None
            problem = error_text(str(code), message, facts) if isinstance(message, str) else message
            table.add_row(cell(r.get("line")), cell(r.get("ref")), cell(code), cell(problem))
        out.console.print(table)
    if not_sent:
        said = _("Not sent: {count} job(s), from line {line} on.").format(
            count=format_number(len(not_sent)), line=not_sent[0]
        )
        out.console.print(Text(said, style="yellow"))


def _stock(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    if args.stock_command == "forecast":
        return cli_reports.stock_forecast(args, client, out)
    if args.stock_command == "request":
        return cli_reports.stock_request(args, client, out)
    if args.stock_command == "transfer":
        return cli_stations.stock_transfer(args, client, out)
    if args.stock_command == "transfers":
        return cli_stations.stock_transfers(args, client, out)
    if args.stock_command == "receive":
        params: dict[str, object] = {"count": args.count, "ref": args.ref, "serials": args.serials}
        done = N_("Received {count} blank card(s) under {ref} (ledger event {event}); on hand now {on_hand}.")
        count = format_number(args.count)
    elif args.stock_command == "adjust":
        params = {"count": args.count, "reason": args.reason, "printer": args.printer}
        done = N_("Adjusted the stock by {count} blank(s) (ledger event {event}); on hand now {on_hand}.")
        count = ("+" if args.count > 0 else "") + format_number(args.count)
    else:
        return _simple("stock.summary", lambda _args: {}, render_stock)(args, client, out)

    def render(console: Console, result: object) -> None:
        event, on_hand = get(result, "event_id"), _number(get(result, "on_hand"))
        if get(result, "duplicate"):
            said = _(
                "Delivery {ref} was already booked: {count} blank card(s) on {at} by {actor} (ledger event {event});"
                " nothing changed. On hand {on_hand}."
            ).format(
                ref=args.ref,
                count=_number(get(result, "count")),
                at=get(result, "at"),
                actor=get(result, "actor"),
                event=event,
                on_hand=on_hand,
            )
            console.print(Text(said))
            return
        ref = getattr(args, "ref", None)  # receive has one; adjust does not
        console.print(Text(_(done).format(count=count, ref=ref, event=event, on_hand=on_hand)))

    return _simple(f"stock.{args.stock_command}", lambda _: params, render)(args, client, out)


def _spoiled(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    if args.spoiled_command == "handover":
        return cli_reports.spoiled_handover(args, client, out)
    if args.pending:
        return cli_reports.spoiled_pending(args, client, out)
    list_spoiled = _simple("spoiled.list", lambda a: {"since": a.since, "category": a.category}, render_spoiled)
    return list_spoiled(args, client, out)


def _reconcile(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    result = client.call("printers.reconcile", {"printer": args.printer})
    if out.json:
        out.emit_json(result)
    else:
        out.show(render_reconciliations, result)
    return EXIT_ERROR if dict_rows(get(result, "errors")) else EXIT_OK


def _printers(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    method = f"printers.{args.printer_command}"

    def params(a: argparse.Namespace) -> dict[str, object]:
        reason = getattr(a, "reason", None)
        return {"printer": a.printer} | ({"reason": reason} if reason else {})

    return _simple(method, params, render_printer)(args, client, out)


# ---- rendering for people --------------------------------------------------------------------------
# Only the named fields are shown: a reply may carry more than a person at the counter should see.


def _number(value: object) -> object:
    """A count in a sentence, written the reader's way; anything else as it is."""
    return format_number(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _printer_table(printers: list[dict[str, Any]], title: str | None = N_("Printers")) -> Table:
    table = Table(
        _("Printer"),
        _("State"),
        _("Paused"),
        _("Job"),
        _("Fed"),
        _("Rejected"),
        _("Panels"),
        _("Ribbon"),
        _("Reasons"),
        title=None if title is None else _(title),
    )
    for p in printers:
        counters = p.get("counters") or {}
        paused = cell(p.get("paused"))
        if p.get("paused") and p.get("pause_reason"):
            paused = Text(_("yes ({reason})").format(reason=pause_reason_text(str(p["pause_reason"]))))
        reasons = p.get("reasons")
        table.add_row(
            cell(p.get("name")),
            labelled(PRINTER_STATES, p.get("state")),
            paused,
            cell(p.get("current_job")),
            quantity(get(counters, "cards_fed")),
            quantity(get(counters, "cards_rejected")),
            quantity(get(counters, "panels_printed")),
            quantity(get(counters, "ribbon_remaining")),
            cell([reason(r) for r in reasons] if isinstance(reasons, list) else reasons),
        )
    return table


STOCK_FIELDS = (
    ("received", N_("Received")),
    ("adjusted", N_("Adjusted")),
    ("issued", N_("Issued")),
    ("spoiled", N_("Spoiled")),
    ("in_doubt", N_("In doubt")),
)


def _stock_table(stock: object) -> Table:
    title = cli_stations.stock_title(stock)
    table = Table(*(_(header) for _key, header in STOCK_FIELDS), _("On hand"), title=title)
    on_hand = quantity(get(stock, "on_hand"))
    if get(stock, "low"):
        said = _("{on_hand} (LOW, threshold {threshold})").format(
            on_hand=on_hand.plain, threshold=_number(get(stock, "low_threshold"))
        )
        on_hand = Text(said, style="bold red")
    table.add_row(*(quantity(get(stock, key)) for key, _header in STOCK_FIELDS), on_hand)
    return table


QUEUE_HEADERS = {
    "queued": N_("Queued"),
    "printing": N_("Printing"),
    "held": N_("Held"),
    "in_doubt": N_("In doubt"),
    "done": N_("Done"),
    "failed": N_("Failed"),
    "canceled": N_("Canceled"),
}


def render_status(console: Console, status: object) -> None:
    console.print(Text(_("Station {station}").format(station=get(status, "station")), style="bold"))
    storage = get(status, "storage")
    if get(storage, "available") is False:
        code, message = get(storage, "code"), get(storage, "message")
        said = error_text(str(code), message) if isinstance(message, str) else message
        failing = _("Storage failing since {since} [{code}]: {message}").format(
            since=get(storage, "since"), code=code, message=said
        )
        console.print(Text(failing, style="bold red"))
    console.print(_printer_table(dict_rows(get(status, "printers"))))
    queue = get(status, "queue")
    if queue is None and get(status, "stock") is None:  # the database could not even be read
        said = _("Queue, stock and the other stations not shown: the database cannot be read; printing waits for it.")
        console.print(Text(said, style="yellow"))
    else:
        table = Table(*(_(QUEUE_HEADERS[s]) for s in JOB_STATES), title=_("Queue"))
        table.add_row(*(quantity(get(queue, s)) for s in JOB_STATES))
        console.print(table)
        console.print(_stock_table(get(status, "stock")))
        cli_stations.render_stations(console, get(status, "stations"))
    for alert in dict_rows(get(status, "alerts")):
        console.print(Text(f"! {alert_text(alert)}", style="yellow"))


def render_stock(console: Console, stock: object) -> None:
    console.print(_stock_table(stock))
    printers = get(stock, "printers")
    if isinstance(printers, dict) and printers:
        table = Table(_("Printer"), _("Issued"), _("Spoiled"), _("In doubt"), title=_("By printer"))
        for name, counts in sorted(printers.items()):
            table.add_row(cell(name), *(quantity(get(counts, k)) for k in ("issued", "spoiled", "in_doubt")))
        console.print(table)
    cli_stations.render_custody(console, stock)


JOB_FIELDS = ("id", "ref", "priority", "state", "attempts", "printer", "created_at", "updated_at")
JOB_HEADERS = {
    "id": N_("Id"),
    "ref": N_("Ref"),
    "priority": N_("Priority"),
    "state": N_("State"),
    "attempts": N_("Attempts"),
    "printer": N_("Printer"),
    "station": N_("Station"),
    "created_at": N_("Created at"),
    "updated_at": N_("Updated at"),
}


def _job_header(field: str) -> str:
    header = JOB_HEADERS.get(field)
    return _(header) if header is not None else field.replace("_", " ").capitalize()


def _job_cell(job: object, field: str) -> Text:
    value = get(job, field)
    if field == "priority":
        return labelled(PRIORITIES, value)
    if field == "state":
        return labelled(STATE_LABELS, value)
    return cell(value)


def render_jobs(console: Console, jobs: object) -> None:
    rows = dict_rows(jobs)
    if not rows:
        console.print(_("No jobs."))
        return
    fields = cli_stations.job_fields(JOB_FIELDS, rows)
    table = Table(*(_job_header(f) for f in fields))
    for job in rows:
        table.add_row(*(_job_cell(job, f) for f in fields))
    console.print(table)


def render_job(console: Console, job: object) -> None:
    table = Table.grid(padding=(0, 2))
    for f in JOB_FIELDS:
        table.add_row(Text(_job_header(f), style="bold"), _job_cell(job, f))
        if f == "printer":
            table.add_row(Text(_("Station"), style="bold"), cli_stations.job_station(job))
    console.print(table)
    cards = dict_rows(get(job, "cards"))
    if cards:
        table = Table(_("Attempt"), _("Printer"), _("At"), _("Card"), _("Category"), _("Chip UID"), title=_("Cards"))
        for c in cards:
            table.add_row(
                cell(c.get("attempt")),
                cell(c.get("printer")),
                cell(c.get("at")),
                labelled(CARD_FATES, c.get("fate")),
                labelled(CATEGORY_LABELS, c.get("category")),
                cell(c.get("chip_uid")),
            )
        console.print(table)
    history = dict_rows(get(job, "history"))
    if history:
        events = Table(_("At"), _("Event"), _("Actor"), _("Printer"), _("Detail"), title=_("History"))
        for h in history:
            events.add_row(
                cell(h.get("at")),
                labelled(JOB_EVENTS, h.get("event")),
                cell(h.get("actor")),
                cell(h.get("printer")),
                cell(h.get("detail")),
            )
        console.print(events)


def render_spoil(console: Console, reply: object) -> None:
    spoil = get(reply, "spoil")
    names = {"card": get(get(spoil, "card"), "attempt"), "job": get(reply, "id")}
    if not get(spoil, "booked"):
        category = get(get(spoil, "card"), "category")
        said = _("Card {card} of job {job} was already booked spoiled ({category}); nothing was booked again.")
        console.print(Text(said.format(category=labelled(CATEGORY_LABELS, category).plain, **names)))
    elif get(spoil, "reprint"):
        said = _("Card {card} of job {job} booked spoiled; the job is queued to print on a new blank.")
        console.print(Text(said.format(**names)))
    elif get(reply, "state") == "failed":
        said = _(
            "Card {card} of job {job} booked spoiled. The job cannot print again: its card content was purged"
            " after the retention period, so it is failed; submit it again under a new reference."
        )
        console.print(Text(said.format(**names), style="yellow"))
    else:
        console.print(Text(_("Card {card} of job {job} booked spoiled; the job itself is unchanged.").format(**names)))
    render_job(console, reply)


def render_submitted(console: Console, result: object) -> None:
    names = {
        "id": get(result, "id"),
        "ref": get(result, "ref"),
        "state": labelled(STATE_LABELS, get(result, "state")).plain,
    }
    if get(result, "duplicate"):
        text = _("Already submitted: ref {ref} is job {id} ({state}).").format(**names)
    else:
        text = _("Submitted job {id} (ref {ref}), {state}.").format(**names)
    console.print(Text(text))


def render_printer(console: Console, printer: object) -> None:
    console.print(_printer_table([printer] if isinstance(printer, dict) else [], title=None))


RECONCILE_FIELDS = (
    ("printer", N_("Printer")),
    ("previous_counter", N_("Counter before")),
    ("counter", N_("Counter now")),
    ("counted", N_("Fed (counter)")),
    ("booked", N_("Booked (ledger)")),
    ("difference", N_("Difference")),
    ("explained", N_("Explained")),
    ("unexplained", N_("Unexplained")),
)


def _signed(value: int) -> str:
    return ("+" if value > 0 else "") + format_number(value)


def render_reconciliations(console: Console, result: object) -> None:
    rows = dict_rows(get(result, "reconciliations"))
    if rows:
        headers = (_(title) for _key, title in RECONCILE_FIELDS)
        table = Table(*headers, title=_("Card counters against the ledger"))
        for r in rows:
            cells = [cell(r.get(key)) if key == "printer" else quantity(r.get(key)) for key, _title in RECONCILE_FIELDS]
            for index, (key, _title) in enumerate(RECONCILE_FIELDS):
                if key in ("difference", "unexplained") and r.get(key):
                    cells[index] = Text(_signed(r[key]), style="bold red")
            table.add_row(*cells)
        console.print(table)
    for r in rows:
        unexplained = r.get("unexplained")
        if isinstance(unexplained, int) and unexplained:
            said = _(
                "! {printer}: {count} blank(s) unexplained; find out why, then have a supervisor book it: printctl"
                " stock adjust {adjust} --printer {printer} --reason WHY"
            ).format(printer=r.get("printer"), count=_signed(unexplained), adjust=f"{-unexplained:+d}")
            console.print(Text(said, style="yellow"))
    for e in dict_rows(get(result, "errors")):
        error = e.get("error") if isinstance(e.get("error"), dict) else {}
        assert isinstance(error, dict)
        code, message = error.get("code"), error.get("message")
        problem = (
            error_text(str(code), message, {"printer": repr(e.get("printer"))}) if isinstance(message, str) else message
        )
        console.print(
            Text(
                _("! {printer}: not reconciled: {message} [{code}]").format(
                    printer=e.get("printer"), message=problem, code=code
                )
            )
        )
    if not rows and not dict_rows(get(result, "errors")):
        console.print(_("No printers."))


def render_spoiled(console: Console, spoils: object) -> None:
    rows = dict_rows(spoils)
    if not rows:
        console.print(_("No spoiled blanks."))
        return
    table = Table(
        _("At"),
        _("Printer"),
        _("Job"),
        _("Ref"),
        _("Category"),
        _("Detail"),
        _("Chip UID"),
        title=_("Spoiled blanks: {count}").format(count=format_number(len(rows))),
    )
    for s in rows:
        category = labelled(CATEGORY_LABELS, s.get("category"))
        table.add_row(
            *(cell(s.get(k)) for k in ("at", "printer", "job", "ref")),
            category,
            *(cell(s.get(k)) for k in ("detail", "chip_uid")),
        )
    console.print(table)


COMMANDS: Mapping[str, Command] = {
    "status": _simple("status", lambda _: {}, render_status),
    "stock": _stock,
    "jobs": _simple(
        "jobs.list",
        lambda a: {"state": a.state, "limit": a.limit} | ({"station": a.station} if a.station else {}),
        render_jobs,
    ),
    "job": _simple("jobs.get", _job_params, render_job),
    "submit": _submit,
    "cancel": _simple("jobs.cancel", _job_params, render_job),
    "hold": _simple("jobs.hold", _job_params, render_job),
    "release": _simple("jobs.release", _job_params, render_job),
    "reprint": _simple("jobs.reprint", _job_params, render_job),
    "printers": _printers,
    "reconcile": _reconcile,
    "spoiled": _spoiled,
    "report": cli_reports.report,
    "users": cli_users.users,
    "spoil": _simple(
        "jobs.spoil",
        lambda a: (
            _job_params(a) | {"category": a.category, "detail": a.detail, "attempt": a.attempt, "chip_uid": a.chip_uid}
        ),
        render_spoil,
    ),
    "resolve": _simple(
        "jobs.resolve",
        lambda a: (
            _job_params(a)
            | {
                "resolution": "spoiled" if a.category else a.resolution,
                "category": a.category,
                "note": a.note,
            }
        ),
        render_job,
    ),
}


# ---- errors and main -------------------------------------------------------------------------------


def _error_dict(error: PrintdError | DaemonUnreachableError) -> dict[str, object]:
    if isinstance(error, DaemonUnreachableError):
        return {"code": "client.unreachable", "message": str(error)}
    return error.as_dict()


def _report_error(
    out: Output, error: PrintdError, *, json_too: bool = True, asked: Mapping[str, object] | None = None
) -> None:
    """The daemon's error for a person (in their language, cli_errors) and, with --json, for a program (as sent)."""
    if out.json and json_too:
        out.emit_json({"error": error.as_dict()})
    if error.code == "auth.forbidden":
        out.error(forbidden_text(error.details))
        return
    said = error_text(error.code, error.message, error.details, asked, zone=out.zone)
    out.error(f"{said} [{error.code}]")


def station_zone(client: ControlClient) -> Callable[[], ZoneInfo | None]:
    """The station's time zone, asked of the daemon at most once; None if it cannot say (times then stay UTC)."""
    found: list[ZoneInfo | None] = []

    def zone() -> ZoneInfo | None:
        if not found:
            try:
                info = client.call("station.info", {})
                found.append(ZoneInfo(str(get(info, "timezone"))))
            except (PrintdError, DaemonUnreachableError, ValueError, KeyError):
                found.append(None)
        return found[0]

    return zone


def socket_path(option: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """--socket, else $PRINTD_SOCKET, else the default."""
    return option or environ.get("PRINTD_SOCKET") or DEFAULT_SOCKET


def _language() -> str:
    """printctl's language from the environment; English, said once, when its catalog is not compiled."""
    language = from_environment()
    try:
        translation(language)
    except CatalogMissingError as exc:
        sys.stderr.write(f"printctl: {exc}; using English\n")
        return SOURCE_LANGUAGE
    return language


def main(argv: Sequence[str] | None = None) -> int:
    # The language is set for this call only (a test may run printctl many times in one process).
    use_printd_catalog()
    with speaking(_language(), plain=plain_from_environment()):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    path = socket_path(args.socket)
    client = ControlClient(path)  # connects on the first call, after local checks
    out = Output(json=bool(args.json), zone=station_zone(client))
    try:
        return COMMANDS[args.command](args, client, out)
    except UsageError as exc:
        out.error(str(exc))
        return EXIT_USAGE
    except PrintdError as exc:
        _report_error(out, exc, asked=asked_of(args))
        return EXIT_ERROR
    except DaemonUnreachableError as exc:
        if out.json:
            out.emit_json({"error": _error_dict(exc)})
        out.error(unreachable_text(exc.path, exc.reason))
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        out.error(_("interrupted"))
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
