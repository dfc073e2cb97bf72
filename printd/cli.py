"""printctl: the staff tool that talks to printd over its control socket."""

from __future__ import annotations

import argparse
import os
import pwd
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
)
from printd.cli_reports import add_report_commands
from printd.cli_stations import StationConflictError, add_station_commands, bind_station
from printd.control.client import DEFAULT_SOCKET, ControlClient, DaemonUnreachableError
from printd.control.protocol import DEFAULT_MAX_MESSAGE_BYTES
from printd.errors import PrintdError

JOB_STATES = ("queued", "printing", "held", "in_doubt", "done", "failed", "canceled")
SPOIL_CATEGORIES = ("print_failed", "encode_failed", "damaged", "data_changed", "test_print")
BATCH_SIZE = 500
_json = msgspec.json.Encoder()
# Room left in each batch request for the envelope around the jobs.
BATCH_BYTES = DEFAULT_MAX_MESSAGE_BYTES - 4096

EPILOG = """\
exit status: 0 success, 1 printd answered with an error (or a batch had rejected jobs),
2 usage error or unreadable input file, 3 printd could not be reached.
The socket is --socket, else $PRINTD_SOCKET, else /run/printd/printd.sock."""

# ---- argument types --------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _serials(text: str) -> str:
    if not re.fullmatch(r"\S+-\S+", text):
        raise argparse.ArgumentTypeError(f"expected a serial range as FIRST-LAST, got {text!r}")
    return text


def _nonzero_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number such as -2 or 5, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number of blanks other than 0")
    return value


def _job_id(text: str) -> int:
    digits = text.removeprefix("#")
    if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) < 2**63:
        raise argparse.ArgumentTypeError(f"expected a job id such as 12 or #12, got {text!r}")
    return int(digits)


def _job_ref_or_id(text: str) -> str | int:
    """A job named on the command line: ``#12`` is job id 12; anything else is a client reference, digits too."""
    return _job_id(text) if text.startswith("#") else text


JOB_HELP = "the job's client reference (even one made of digits), or #ID for its id (quote it: '#12')"


def add_job_argument(parser: argparse.ArgumentParser) -> None:
    """A job named by its reference (positional, or '#ID') or by --id: never a guess between the two."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("job", nargs="?", type=_job_ref_or_id, metavar="REF", help=JOB_HELP)
    which.add_argument(
        "--id", dest="job_id", type=_job_id, metavar="ID", help="the job's id, as 'printctl jobs' shows it"
    )


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


# ---- the parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # The global options also work after the command; SUPPRESS keeps a subcommand from resetting them.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", default=argparse.SUPPRESS, metavar="PATH", help="printd's control socket")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print raw JSON")

    parser = argparse.ArgumentParser(
        prog="printctl",
        description="Control printd, the ID-card print station: queue, printers and the blank-card stock.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--socket", metavar="PATH", help="printd's control socket (default: $PRINTD_SOCKET)")
    parser.add_argument("--json", action="store_true", help="print the daemon's reply as JSON")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, into: Any = commands) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = into.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub

    add("status", "Show the station: printers, queue, stock and alerts.")

    stock = add(
        "stock",
        "Show the blank-card stock (with each station's custody where several share the database), or change it:"
        " 'stock receive', 'stock adjust', 'stock transfer'.",
    )
    stock_commands = stock.add_subparsers(dest="stock_command", metavar="SUBCOMMAND")
    receive = add("receive", "Record a delivery of N blank cards (supervisor).", stock_commands)
    receive.add_argument("count", type=_positive_int, metavar="N", help="number of blank cards received")
    receive.add_argument("--ref", required=True, type=_nonempty, help="delivery reference (e.g. the handover note)")
    receive.add_argument("--serials", type=_serials, metavar="FIRST-LAST", help="serial range of the blanks")
    adjust = add(
        "adjust",
        "Correct the stock on hand by N blanks, e.g. -2 for test cards printed from a printer's menu (supervisor).",
        stock_commands,
    )
    adjust.add_argument("count", type=_nonzero_int, metavar="N", help="blanks to add (+N) or write off (-N)")
    adjust.add_argument("--reason", required=True, type=_nonempty, help="why, for the ledger (no personal data)")
    adjust.add_argument("--printer", help="the printer the difference belongs to (explains a reconcile difference)")

    jobs = add("jobs", "List jobs, newest first.")
    jobs.add_argument("--state", choices=JOB_STATES, help="only jobs in this state")
    jobs.add_argument("--limit", type=_positive_int, default=50, metavar="N", help="at most N jobs (default 50)")

    add_job_argument(add("job", "Show one job: its cards and its history."))

    submit = add("submit", "Submit a job file, or a JSON-lines file of jobs with --batch.")
    submit.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help='job file: {"ref", "priority", "front", "back"?, "holder"?, "chip"?, "station"?}; - reads standard input',
    )
    submit.add_argument("--batch", metavar="FILE.jsonl", help="one job per line; sent in chunks of 500")

    for name, what in (
        ("cancel", "Cancel a queued or held job."),
        ("hold", "Hold a queued job."),
        ("release", "Release a held job back to the queue."),
        ("reprint", "Print a job again on a new blank."),
    ):
        add_job_argument(add(name, what))

    printers = add("printers", "Pause or resume a printer.")
    printer_commands = printers.add_subparsers(dest="printer_command", metavar="SUBCOMMAND", required=True)
    add("pause", "Stop a printer taking new cards.", printer_commands).add_argument("printer", metavar="NAME")
    add("resume", "Let a paused printer take cards again.", printer_commands).add_argument("printer", metavar="NAME")

    reconcile = add(
        "reconcile",
        "Compare each printer's card counter with the blanks the ledger booked on it since the last"
        " reconciliation, show any difference (blanks fed outside printd) and record it in the ledger.",
    )
    reconcile.add_argument("printer", nargs="?", metavar="PRINTER", help="only this printer (default: all)")

    spoiled = add("spoiled", "List spoiled blanks.")
    spoiled.add_argument("--since", type=date_argument, metavar="YYYY-MM-DD", help="only spoils from this day on")
    spoiled.add_argument("--category", choices=SPOIL_CATEGORIES, help="only this category")

    spoil = add(
        "spoil",
        "Record a printed card that failed quality control as spoiled. Name the card as 'printctl job' lists it:"
        " run twice, the same card is booked once.",
    )
    add_job_argument(spoil)
    card = spoil.add_mutually_exclusive_group(required=True)
    card.add_argument("--attempt", type=_positive_int, metavar="N", help="the card's attempt, as 'printctl job' shows")
    card.add_argument("--chip", dest="chip_uid", type=_nonempty, metavar="UID", help="the card's chip UID")
    spoil.add_argument("--category", required=True, choices=SPOIL_CATEGORIES)
    spoil.add_argument("--detail", required=True, type=_nonempty, metavar="TEXT", help="what was wrong")

    resolve = add("resolve", "Settle an in-doubt job from what the card actually became.")
    add_job_argument(resolve)
    fate = resolve.add_mutually_exclusive_group(required=True)
    fate.add_argument(
        "--printed",
        dest="resolution",
        action="store_const",
        const="printed",
        help="the card is in the output hopper and good",
    )
    fate.add_argument(
        "--spoiled",
        dest="category",
        choices=SPOIL_CATEGORIES,
        metavar="CATEGORY",
        help=f"the card is spoiled: {', '.join(SPOIL_CATEGORIES)}",
    )
    fate.add_argument(
        "--not-fed", dest="resolution", action="store_const", const="not_fed", help="no blank left the feeder"
    )
    resolve.add_argument("--note", default="", metavar="TEXT", help="what was checked")
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
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except msgspec.DecodeError:
        raise UsageError(f"{path} is not valid JSON; a job file holds one JSON object") from None


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
        raise UsageError("submit needs either FILE or --batch FILE.jsonl (not both)")
    if args.batch is not None:
        return _submit_batch(args.batch, client, out, args.station)
    job, base = _load_json_file(args.file)
    if not isinstance(job, dict):
        raise UsageError(f"{args.file} must hold one JSON object; use --batch for a JSON-lines file of jobs")
    try:
        job = bind_station(job, args.station)
    except StationConflictError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
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
    ``station`` (``--station``) binds the jobs that name none, and a job naming another is rejected."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
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
        task = progress.add_task("Submitting", total=len(jobs))
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
        out.error(str(failure))
        out.error("submission is idempotent by ref: run the same command again to submit the rest")
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
    summary = f"Accepted {len(accepted)} job(s)"
    if duplicates:
        summary += f", {duplicates} of them already submitted before"
    out.console.print(Text(summary + f"; rejected {len(rejected)}."))
    if rejected:
        table = Table("Line", "Ref", "Code", "Problem", title="Rejected jobs")
        for r in rejected:
            error = r.get("error") if isinstance(r.get("error"), dict) else {}
            assert isinstance(error, dict)
            table.add_row(cell(r.get("line")), cell(r.get("ref")), cell(error.get("code")), cell(error.get("message")))
        out.console.print(table)
    if not_sent:
        out.console.print(Text(f"Not sent: {len(not_sent)} job(s), from line {not_sent[0]} on.", style="yellow"))


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
        done = f"Received {args.count} blank card(s) under {args.ref}"
    elif args.stock_command == "adjust":
        params = {"count": args.count, "reason": args.reason, "printer": args.printer}
        done = f"Adjusted the stock by {args.count:+d} blank(s)"
    else:
        return _simple("stock.summary", lambda _: {}, render_stock)(args, client, out)

    def render(console: Console, result: object) -> None:
        event, on_hand = get(result, "event_id"), get(result, "on_hand")
        if get(result, "duplicate"):
            first = f"{get(result, 'count')} blank card(s) on {get(result, 'at')} by {get(result, 'actor')}"
            said = f"Delivery {args.ref} was already booked: {first} (ledger event {event}); nothing changed."
            console.print(Text(said + f" On hand {on_hand}."))
            return
        console.print(Text(f"{done} (ledger event {event}); on hand now {on_hand}."))

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
    return _simple(method, lambda a: {"printer": a.printer}, render_printer)(args, client, out)


# ---- rendering for people --------------------------------------------------------------------------
# Only the named fields are shown: a reply may carry more than a person at the counter should see.


def _printer_table(printers: list[dict[str, Any]], title: str | None = "Printers") -> Table:
    table = Table("Printer", "State", "Paused", "Job", "Fed", "Rejected", "Panels", "Ribbon", "Reasons", title=title)
    for p in printers:
        counters = p.get("counters") or {}
        paused = cell(p.get("paused"))
        if p.get("paused") and p.get("pause_reason"):
            paused = Text(f"yes ({p['pause_reason']})")
        table.add_row(
            cell(p.get("name")),
            cell(p.get("state")),
            paused,
            cell(p.get("current_job")),
            cell(get(counters, "cards_fed")),
            cell(get(counters, "cards_rejected")),
            cell(get(counters, "panels_printed")),
            cell(get(counters, "ribbon_remaining")),
            cell(p.get("reasons")),
        )
    return table


def _stock_table(stock: object) -> Table:
    title = cli_stations.stock_title(stock)
    table = Table("Received", "Adjusted", "Issued", "Spoiled", "In doubt", "On hand", title=title)
    keys = ("received", "adjusted", "issued", "spoiled", "in_doubt")
    on_hand = cell(get(stock, "on_hand"))
    if get(stock, "low"):
        on_hand = Text(f"{on_hand.plain} (LOW, threshold {get(stock, 'low_threshold')})", style="bold red")
    table.add_row(*(cell(get(stock, k)) for k in keys), on_hand)
    return table


def render_status(console: Console, status: object) -> None:
    console.print(Text(f"Station {get(status, 'station')}", style="bold"))
    storage = get(status, "storage")
    if get(storage, "available") is False:
        since, code = get(storage, "since"), get(storage, "code")
        console.print(Text(f"Storage failing since {since} [{code}]: {get(storage, 'message')}", style="bold red"))
    console.print(_printer_table(dict_rows(get(status, "printers"))))
    queue = get(status, "queue")
    if queue is None and get(status, "stock") is None:  # the database could not even be read
        said = "Queue, stock and the other stations not shown: the database cannot be read; printing waits for it."
        console.print(Text(said, style="yellow"))
    else:
        table = Table(*(s.replace("_", " ").capitalize() for s in JOB_STATES), title="Queue")
        table.add_row(*(cell(get(queue, s)) for s in JOB_STATES))
        console.print(table)
        console.print(_stock_table(get(status, "stock")))
        cli_stations.render_stations(console, get(status, "stations"))
    for alert in dict_rows(get(status, "alerts")):
        console.print(Text(f"! {alert.get('message') or alert.get('event')}", style="yellow"))


def render_stock(console: Console, stock: object) -> None:
    console.print(_stock_table(stock))
    printers = get(stock, "printers")
    if isinstance(printers, dict) and printers:
        table = Table("Printer", "Issued", "Spoiled", "In doubt", title="By printer")
        for name, counts in sorted(printers.items()):
            table.add_row(cell(name), *(cell(get(counts, k)) for k in ("issued", "spoiled", "in_doubt")))
        console.print(table)
    cli_stations.render_custody(console, stock)


JOB_FIELDS = ("id", "ref", "priority", "state", "attempts", "printer", "created_at", "updated_at")


def render_jobs(console: Console, jobs: object) -> None:
    rows = dict_rows(jobs)
    if not rows:
        console.print("No jobs.")
        return
    fields = cli_stations.job_fields(JOB_FIELDS, rows)
    table = Table(*(f.replace("_", " ").capitalize() for f in fields))
    for job in rows:
        table.add_row(*(cell(job.get(f)) for f in fields))
    console.print(table)


def render_job(console: Console, job: object) -> None:
    table = Table.grid(padding=(0, 2))
    for f in JOB_FIELDS:
        table.add_row(Text(f.replace("_", " ").capitalize(), style="bold"), cell(get(job, f)))
        if f == "printer":
            table.add_row(Text("Station", style="bold"), cli_stations.job_station(job))
    console.print(table)
    cards = dict_rows(get(job, "cards"))
    if cards:
        table = Table("Attempt", "Printer", "At", "Card", "Category", "Chip UID", title="Cards")
        for c in cards:
            table.add_row(*(cell(c.get(k)) for k in ("attempt", "printer", "at", "fate", "category", "chip_uid")))
        console.print(table)
    history = dict_rows(get(job, "history"))
    if history:
        events = Table("At", "Event", "Actor", "Printer", "Detail", title="History")
        for h in history:
            events.add_row(*(cell(h.get(k)) for k in ("at", "event", "actor", "printer", "detail")))
        console.print(events)


def render_spoil(console: Console, reply: object) -> None:
    spoil = get(reply, "spoil")
    card, job = get(get(spoil, "card"), "attempt"), get(reply, "id")
    if not get(spoil, "booked"):
        said = f"Card {card} of job {job} was already booked spoiled ({get(get(spoil, 'card'), 'category')});"
        console.print(Text(said + " nothing was booked again."))
    elif get(spoil, "reprint"):
        console.print(Text(f"Card {card} of job {job} booked spoiled; the job is queued to print on a new blank."))
    elif get(reply, "state") == "failed":
        console.print(
            Text(
                f"Card {card} of job {job} booked spoiled. The job cannot print again: its card content was purged"
                " after the retention period, so it is failed; submit it again under a new reference.",
                style="yellow",
            )
        )
    else:
        console.print(Text(f"Card {card} of job {job} booked spoiled; the job itself is unchanged."))
    render_job(console, reply)


def render_submitted(console: Console, result: object) -> None:
    if get(result, "duplicate"):
        text = f"Already submitted: ref {get(result, 'ref')} is job {get(result, 'id')} ({get(result, 'state')})."
    else:
        text = f"Submitted job {get(result, 'id')} (ref {get(result, 'ref')}), {get(result, 'state')}."
    console.print(Text(text))


def render_printer(console: Console, printer: object) -> None:
    console.print(_printer_table([printer] if isinstance(printer, dict) else [], title=None))


RECONCILE_FIELDS = (
    ("printer", "Printer"),
    ("previous_counter", "Counter before"),
    ("counter", "Counter now"),
    ("counted", "Fed (counter)"),
    ("booked", "Booked (ledger)"),
    ("difference", "Difference"),
    ("explained", "Explained"),
    ("unexplained", "Unexplained"),
)


def render_reconciliations(console: Console, result: object) -> None:
    rows = dict_rows(get(result, "reconciliations"))
    if rows:
        table = Table(*(title for _, title in RECONCILE_FIELDS), title="Card counters against the ledger")
        for r in rows:
            cells = [cell(r.get(key)) for key, _ in RECONCILE_FIELDS]
            for index, (key, _) in enumerate(RECONCILE_FIELDS):
                if key in ("difference", "unexplained") and r.get(key):
                    cells[index] = Text(f"{r[key]:+d}", style="bold red")
            table.add_row(*cells)
        console.print(table)
    for r in rows:
        unexplained = r.get("unexplained")
        if isinstance(unexplained, int) and unexplained:
            console.print(
                Text(
                    f"! {r.get('printer')}: {unexplained:+d} blank(s) unexplained; find out why, then have a"
                    f" supervisor book it: printctl stock adjust {-unexplained:+d} --printer {r.get('printer')}"
                    " --reason WHY",
                    style="yellow",
                )
            )
    for e in dict_rows(get(result, "errors")):
        error = e.get("error") if isinstance(e.get("error"), dict) else {}
        assert isinstance(error, dict)
        console.print(Text(f"! {e.get('printer')}: not reconciled: {error.get('message')} [{error.get('code')}]"))
    if not rows and not dict_rows(get(result, "errors")):
        console.print("No printers.")


def render_spoiled(console: Console, spoils: object) -> None:
    rows = dict_rows(spoils)
    if not rows:
        console.print("No spoiled blanks.")
        return
    keys = ("at", "printer", "job", "ref", "category", "detail", "chip_uid")
    table = Table("At", "Printer", "Job", "Ref", "Category", "Detail", "Chip UID", title=f"Spoiled blanks: {len(rows)}")
    for s in rows:
        table.add_row(*(cell(s.get(k)) for k in keys))
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


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _error_dict(error: PrintdError | DaemonUnreachableError) -> dict[str, object]:
    if isinstance(error, DaemonUnreachableError):
        return {"code": "client.unreachable", "message": str(error)}
    return error.as_dict()


def forbidden_text(details: Mapping[str, object]) -> str:
    """What a person reads when printd refuses them: the role it takes, theirs, and the group that grants it."""
    needed = details.get("required_role") or "a higher"
    user = details.get("user") or _current_user()
    has = details.get("role")
    yours = f"you ({user}) have the {has} role" if has else f"you ({user}) have no printd role"
    groups = details.get("groups")
    if isinstance(groups, list) and groups:
        group = groups[0]
        return (
            f"permission denied: this needs the {needed} role and {yours}. Membership of group {group!r} "
            f"grants it: ask an administrator to run 'usermod -aG {group} {user}', then log in again."
        )
    return (
        f"permission denied: this needs the {needed} role and {yours}. No group grants it in printd's "
        "configuration ([control.roles]), so only root can do this."
    )


def _report_error(out: Output, error: PrintdError, *, json_too: bool = True) -> None:
    if out.json and json_too:
        out.emit_json({"error": error.as_dict()})
    if error.code == "auth.forbidden":
        out.error(forbidden_text(error.details))
        return
    out.error(f"{error.message} [{error.code}]")


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


def main(argv: Sequence[str] | None = None) -> int:
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
        _report_error(out, exc)
        return EXIT_ERROR
    except DaemonUnreachableError as exc:
        if out.json:
            out.emit_json({"error": _error_dict(exc)})
        out.error(str(exc))
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
