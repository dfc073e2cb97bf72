"""printctl for several stations on one database: moving blanks between stations, each station's custody and
liveness, and jobs bound to a station.

With one station (a SQLite file of its own, or the only station on a server) nothing here adds to what printctl
shows: the station tables appear only where there is more than one station to tell apart.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from printd.cli_output import EXIT_OK, Output, Renderer, cell, dict_rows, get
from printd.control.client import ControlClient

Add = Callable[..., argparse.ArgumentParser]

STALE_SECONDS = 60.0
"""A station not heard for longer than this is flagged: a running printd says it is alive every few seconds."""

STATION_HELP = "a station's name, as its [station] name says and 'printctl status' lists it"


def add_station_commands(
    add: Add,
    stock_commands: Any,
    jobs: argparse.ArgumentParser,
    submit: argparse.ArgumentParser,
    *,
    positive_int: Callable[[str], int],
    nonempty: Callable[[str], str],
) -> None:
    """Register ``stock transfer``, ``stock transfers``, ``jobs --station`` and ``submit --station`` (with printctl's
    argument types for a count and a name)."""
    transfer = add(
        "transfer",
        "Move N blank cards on hand from one station's custody to another's, e.g. from the office to the van"
        " (supervisor). Booked once under --ref: the same command again books nothing.",
        stock_commands,
    )
    transfer.add_argument("count", type=positive_int, metavar="N", help="number of blank cards handed over")
    transfer.add_argument(
        "--to", required=True, type=nonempty, metavar="STATION", help=f"receiving station: {STATION_HELP}"
    )
    transfer.add_argument(
        "--ref", required=True, type=nonempty, help="the handover's reference (e.g. the handover note's number)"
    )
    transfer.add_argument(
        "--from",
        dest="source",
        type=nonempty,
        metavar="STATION",
        help="the station handing the blanks over (default: the station printctl talks to)",
    )
    transfers = add("transfers", "List transfers of blanks between stations, newest first.", stock_commands)
    transfers.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help="at most N transfers (default 50)"
    )
    jobs.add_argument(
        "--station",
        type=nonempty,
        metavar="STATION",
        help="only jobs bound to this station (jobs any may print are left out)",
    )
    submit.add_argument(
        "--station",
        type=nonempty,
        metavar="STATION",
        help="print only at this station (a walk-in at one counter, a school batch for the van). A job that names no"
        " station gets this one; a job naming another is refused, never re-routed (with --batch: that line is"
        " rejected and not sent, the others are submitted)",
    )


# ---- commands ----------------------------------------------------------------------------------------


def _answer(out: Output, render: Renderer, reply: object) -> int:
    if out.json:
        out.emit_json(reply)
    else:
        out.show(render, reply)
    return EXIT_OK


def stock_transfer(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    params: dict[str, object] = {"count": args.count, "to": args.to, "ref": args.ref}
    if args.source is not None:
        params["from"] = args.source
    return _answer(out, render_transfer, client.call("stock.transfer", params))


def stock_transfers(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    return _answer(out, render_transfers, client.call("stock.transfers", {"limit": args.limit}))


class StationConflictError(ValueError):
    """A job names one station and ``--station`` another: printctl re-routes no job."""


def bind_station(job: dict[str, Any], station: str | None) -> dict[str, Any]:
    """``job`` as ``submit --station`` sends it: a job naming no station gets ``station``; one naming the same keeps
    it; one naming another raises :class:`StationConflictError` (whoever wrote the job chose its station, whoever
    typed the command chose another, and a card printed at the wrong place sends a resident to the wrong place)."""
    if station is None:
        return job
    named = job.get("station")
    if named is None:
        return {**job, "station": station}
    if isinstance(named, str) and named != station:
        raise StationConflictError(
            f"the job names station {named!r} and --station says {station!r}; printctl changes no job's station:"
            " remove one of the two"
        )
    return job  # the same station, or a value printd refuses itself (job.invalid)


def job_fields(fields: tuple[str, ...], jobs: list[dict[str, Any]]) -> tuple[str, ...]:
    """The job table's columns: with a Station column after Printer when any job listed is bound to a station."""
    if not any(job.get("station") for job in jobs):
        return fields
    at = fields.index("printer") + 1 if "printer" in fields else len(fields)
    return (*fields[:at], "station", *fields[at:])


def job_station(job: object) -> Text:
    """A job's binding as a person reads it: its station, or that any station may print it."""
    station = get(job, "station")
    return cell(station) if station else Text("any station", style="dim")


# ---- rendering for people ----------------------------------------------------------------------------


def _blanks(count: object) -> str:
    return f"{count} blank" if count == 1 else f"{count} blanks"


def render_transfer(console: Console, reply: object) -> None:
    source, to = get(reply, "from"), get(reply, "to")
    on_hand = get(reply, "on_hand")
    custody = ", ".join(
        f"{name} {get(on_hand, str(name))}" for name in (source, to) if get(on_hand, str(name)) is not None
    )
    said = f"Transferred {_blanks(get(reply, 'count'))} from {source} to {to} ({get(reply, 'reference')})"
    console.print(Text(said + (f"; on hand: {custody}" if custody else "")), soft_wrap=True)  # one line, for grep


TRANSFER_FIELDS = (("at", "At"), ("reference", "Ref"), ("count", "Blanks"), ("from", "From"), ("to", "To"))


def render_transfers(console: Console, reply: object) -> None:
    rows = dict_rows(reply)
    if not rows:
        console.print("No transfers between stations.")
        return
    table = Table(*(title for _, title in TRANSFER_FIELDS), "By", title="Transfers between stations")
    for row in rows:
        table.add_row(*(cell(row.get(key)) for key, _ in TRANSFER_FIELDS), cell(row.get("actor")))
    console.print(table)


CUSTODY_FIELDS = (
    ("received", "Received"),
    ("transferred_in", "Transferred in"),
    ("transferred_out", "Transferred out"),
    ("adjusted", "Adjusted"),
    ("issued", "Issued"),
    ("spoiled", "Spoiled"),
    ("in_doubt", "In doubt"),
    ("on_hand", "On hand"),
)


def _custody(stock: object) -> dict[str, Any]:
    """Each station's custody from a stock summary; empty unless there are several stations to tell apart."""
    stations = get(stock, "stations")
    return stations if isinstance(stations, dict) and len(stations) > 1 else {}


def stock_title(stock: object) -> str:
    return "Blank cards, all stations" if _custody(stock) else "Blank cards"


def render_custody(console: Console, stock: object) -> None:
    """Each station's custody of blanks, when the store has more than one station (else nothing)."""
    stations = _custody(stock)
    if not stations:
        return
    table = Table("Station", *(title for _, title in CUSTODY_FIELDS), title="Custody by station")
    for name, counts in sorted(stations.items()):
        table.add_row(cell(name), *(cell(get(counts, key)) for key, _ in CUSTODY_FIELDS))
    console.print(table)


def render_stations(console: Console, stations: object) -> None:
    """Every station on the store, when there is more than one: whether it is alive, its printers, its blanks."""
    rows = dict_rows(stations)
    if len(rows) < 2:
        return
    table = Table("Station", "Last heard", "Printers", "On hand", "In doubt", "Host", title="Stations")
    silent = []
    for station in rows:
        name = cell(station.get("name"))
        if station.get("this_station"):
            name = Text(f"{name.plain} (this station)", style="bold")
        heard = _heard(station)
        if _stale(station):
            silent.append(station)
        table.add_row(
            name,
            heard,
            _printers(station.get("printers")),
            cell(station.get("on_hand")),
            cell(station.get("in_doubt")),
            cell(station.get("host")),
        )
    console.print(table)
    for station in silent:
        console.print(
            Text(
                f"! Station {station.get('name')} not heard for {_age(station.get('seconds_since_heard'))} (since"
                f" {station.get('last_heard')}): its printd is stopped, or cannot reach the database.",
                style="yellow",
            )
        )


def _stale(station: dict[str, Any]) -> bool:
    seconds = station.get("seconds_since_heard")
    return not station.get("this_station") and isinstance(seconds, int | float) and seconds > STALE_SECONDS


def _heard(station: dict[str, Any]) -> Text:
    seconds = station.get("seconds_since_heard")
    if station.get("this_station"):
        return Text("now")
    if not isinstance(seconds, int | float):
        return cell(station.get("last_heard"))
    if _stale(station):
        return Text(f"{station.get('last_heard')} (NOT HEARD for {_age(seconds)})", style="bold red")
    return Text(f"{seconds:.0f} s ago")


def _age(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "a while"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            count = int(seconds // size)
            return f"{count} days" if unit == "day" else f"{count} {unit}"
    return f"{seconds:.0f} s"


def _printers(printers: object) -> Text:
    lines = []
    for printer in dict_rows(printers):
        line = f"{printer.get('name')} {printer.get('state') or '?'}"
        if printer.get("paused") and printer.get("pause_reason"):
            line += f" ({printer['pause_reason']})"
        if printer.get("current_job") is not None:
            line += f", job #{printer['current_job']}"
        lines.append(line)
    return Text("\n".join(lines)) if lines else Text("-", style="dim")
