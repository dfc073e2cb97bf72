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

from printd.cli_errors import pause_reason_text
from printd.cli_labels import PRINTER_STATES, label
from printd.cli_output import EXIT_OK, Output, Renderer, cell, dict_rows, get, quantity
from printd.control.client import ControlClient
from printd.i18n import N_, _, format_number, ngettext

Add = Callable[..., argparse.ArgumentParser]

STALE_SECONDS = 60.0
"""A station not heard for longer than this is flagged: a running printd says it is alive every few seconds."""

STATION_HELP = N_("a station's name, as its [station] name says and 'printctl status' lists it")


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
        _(
            "Move N blank cards on hand from one station's custody to another's, e.g. from the office to the van"
            " (supervisor). Booked once under --ref: the same command again books nothing."
        ),
        stock_commands,
    )
    transfer.add_argument("count", type=positive_int, metavar="N", help=_("number of blank cards handed over"))
    transfer.add_argument(
        "--to",
        required=True,
        type=nonempty,
        metavar="STATION",
        help=_("receiving station: {station_help}").format(station_help=_(STATION_HELP)),
    )
    transfer.add_argument(
        "--ref", required=True, type=nonempty, help=_("the handover's reference (e.g. the handover note's number)")
    )
    transfer.add_argument(
        "--from",
        dest="source",
        type=nonempty,
        metavar="STATION",
        help=_("the station handing the blanks over (default: the station printctl talks to)"),
    )
    transfers = add("transfers", _("List transfers of blanks between stations, newest first."), stock_commands)
    transfers.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help=_("at most N transfers (default 50)")
    )
    jobs.add_argument(
        "--station",
        type=nonempty,
        metavar="STATION",
        help=_("only jobs bound to this station (jobs any may print are left out)"),
    )
    submit.add_argument(
        "--station",
        type=nonempty,
        metavar="STATION",
        help=_(
            "print only at this station (a walk-in at one counter, a school batch for the van). A job that names no"
            " station gets this one; a job naming another is refused, never re-routed (with --batch: that line is"
            " rejected and not sent, the others are submitted)"
        ),
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
    """A job names one station and ``--station`` another: printctl re-routes no job. The message is English (it
    goes into ``--json`` output too); ``shown`` is the same in the reader's language."""

    def __init__(self, named: str, station: str) -> None:
        template = N_(
            "the job names station {named} and --station says {station}; printctl changes no job's station:"
            " remove one of the two"
        )
        super().__init__(template.format(named=repr(named), station=repr(station)))
        self.shown = _(template).format(named=repr(named), station=repr(station))


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
        raise StationConflictError(named, station)
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
    return cell(station) if station else Text(_("any station"), style="dim")


# ---- rendering for people ----------------------------------------------------------------------------


def _number(value: object) -> str:
    return format_number(value) if isinstance(value, int) else str(value)


def _blanks(count: object) -> str:
    n = count if isinstance(count, int) else 0
    return ngettext("{count} blank", "{count} blanks", n).format(count=_number(count))


def render_transfer(console: Console, reply: object) -> None:
    source, to = get(reply, "from"), get(reply, "to")
    on_hand = get(reply, "on_hand")
    custody = ", ".join(
        f"{name} {_number(get(on_hand, str(name)))}" for name in (source, to) if get(on_hand, str(name)) is not None
    )
    values = {"blanks": _blanks(get(reply, "count")), "source": source, "to": to, "ref": get(reply, "reference")}
    if custody:
        said = _("Transferred {blanks} from {source} to {to} ({ref}); on hand: {custody}").format(
            custody=custody, **values
        )
    else:
        said = _("Transferred {blanks} from {source} to {to} ({ref})").format(**values)
    console.print(Text(said), soft_wrap=True)  # one line, for grep


TRANSFER_FIELDS = (
    ("at", N_("At")),
    ("reference", N_("Ref")),
    ("count", N_("Blanks")),
    ("from", N_("From")),
    ("to", N_("To")),
)


def render_transfers(console: Console, reply: object) -> None:
    rows = dict_rows(reply)
    if not rows:
        console.print(_("No transfers between stations."))
        return
    table = Table(*(_(title) for _key, title in TRANSFER_FIELDS), _("By"), title=_("Transfers between stations"))
    for row in rows:
        cells = [quantity(row.get(key)) if key == "count" else cell(row.get(key)) for key, _title in TRANSFER_FIELDS]
        table.add_row(*cells, cell(row.get("actor")))
    console.print(table)


CUSTODY_FIELDS = (
    ("received", N_("Received")),
    ("transferred_in", N_("Transferred in")),
    ("transferred_out", N_("Transferred out")),
    ("adjusted", N_("Adjusted")),
    ("issued", N_("Issued")),
    ("spoiled", N_("Spoiled")),
    ("in_doubt", N_("In doubt")),
    ("on_hand", N_("On hand")),
)


def _custody(stock: object) -> dict[str, Any]:
    """Each station's custody from a stock summary; empty unless there are several stations to tell apart."""
    stations = get(stock, "stations")
    return stations if isinstance(stations, dict) and len(stations) > 1 else {}


def stock_title(stock: object) -> str:
    return _("Blank cards, all stations") if _custody(stock) else _("Blank cards")


def render_custody(console: Console, stock: object) -> None:
    """Each station's custody of blanks, when the store has more than one station (else nothing)."""
    stations = _custody(stock)
    if not stations:
        return
    table = Table(_("Station"), *(_(title) for _key, title in CUSTODY_FIELDS), title=_("Custody by station"))
    for name, counts in sorted(stations.items()):
        table.add_row(cell(name), *(quantity(get(counts, key)) for key, _title in CUSTODY_FIELDS))
    console.print(table)


def render_stations(console: Console, stations: object) -> None:
    """Every station on the store, when there is more than one: whether it is alive, its printers, its blanks."""
    rows = dict_rows(stations)
    if len(rows) < 2:
        return
    table = Table(
        _("Station"), _("Last heard"), _("Printers"), _("On hand"), _("In doubt"), _("Host"), title=_("Stations")
    )
    silent = []
    for station in rows:
        name = cell(station.get("name"))
        if station.get("this_station"):
            name = Text(_("{station} (this station)").format(station=name.plain), style="bold")
        heard = _heard(station)
        if _stale(station):
            silent.append(station)
        table.add_row(
            name,
            heard,
            _printers(station.get("printers")),
            quantity(station.get("on_hand")),
            quantity(station.get("in_doubt")),
            cell(station.get("host")),
        )
    console.print(table)
    for station in silent:
        said = _(
            "! Station {station} not heard for {age} (since {last_heard}): its printd is stopped, or cannot reach the"
            " database."
        ).format(
            station=station.get("name"),
            age=_age(station.get("seconds_since_heard")),
            last_heard=station.get("last_heard"),
        )
        console.print(Text(said, style="yellow"))


def _stale(station: dict[str, Any]) -> bool:
    seconds = station.get("seconds_since_heard")
    return not station.get("this_station") and isinstance(seconds, int | float) and seconds > STALE_SECONDS


def _heard(station: dict[str, Any]) -> Text:
    seconds = station.get("seconds_since_heard")
    if station.get("this_station"):
        return Text(_("now"))
    if not isinstance(seconds, int | float):
        return cell(station.get("last_heard"))
    if _stale(station):
        said = _("{last_heard} (NOT HEARD for {age})").format(last_heard=station.get("last_heard"), age=_age(seconds))
        return Text(said, style="bold red")
    return Text(_("{seconds} s ago").format(seconds=f"{seconds:.0f}"))


def _age(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return _("a while")
    if seconds >= 2 * 86400:
        return _("{count} days").format(count=format_number(int(seconds // 86400)))
    if seconds >= 2 * 3600:
        return _("{count} h").format(count=int(seconds // 3600))
    if seconds >= 2 * 60:
        return _("{count} min").format(count=int(seconds // 60))
    return _("{seconds} s").format(seconds=f"{seconds:.0f}")


def _printers(printers: object) -> Text:
    lines = []
    for printer in dict_rows(printers):
        state = printer.get("state")
        line = f"{printer.get('name')} {label(PRINTER_STATES, state) if state else '?'}"
        if printer.get("paused") and printer.get("pause_reason"):
            line += f" ({pause_reason_text(str(printer['pause_reason']))})"
        if printer.get("current_job") is not None:
            line += _(", job #{job_id}").format(job_id=printer["current_job"])
        lines.append(line)
    return Text("\n".join(lines)) if lines else Text("-", style="dim")
