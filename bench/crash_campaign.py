"""The long SIGKILL campaign: printd killed --kills times in every phase of a card, every blank then checked.

With --postgres: stations sharing one PostgreSQL database (a throwaway cluster), an office with two printers and a
van with one, their daemons killed at random while they print and the server itself killed, shut down at once or
stopped and started again under them; then every blank each simulator fed is checked against the ledger.
"""

from __future__ import annotations

import argparse
import collections
import math
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as a script from a checkout: make `printd`, `drivers`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.table import Table

from bench.common import console, environment, filesystem_of, print_json
from tests.kill_campaign import (
    OTHER_PHASES,
    REQUIRED_PHASES,
    STATIONS,
    Campaign,
    CampaignReport,
    CampaignSettings,
    Kill,
    StationsCampaign,
)

# A card killed after its eject, or mid-panel (the printer finishes the eject it was given), is past printing
# by the next start: the kills move the run on by about 0.4 cards each. A run long enough for --kills has more
# cards than that, within the simulated ribbon (500 cards of a kb ribbon).
CARDS_PER_KILL = 0.45
MAX_DEFAULT_CARDS = 450
# --postgres: kills come at random moments, and a station's restart takes a second or two while the others print:
# the run is long enough for the events when the cards take their mechanical time (--seconds-per-card 0.3 there).
POSTGRES_DEFAULTS = {"kills": 50, "cards": 1000, "seconds_per_card": 0.3}
SERVER_RESTARTS_PER_KILL = 0.2

SERVER_TEXT = {
    "kill": "killed (SIGKILL), crash recovery at start",
    "immediate": "immediate shutdown (SIGQUIT), crash recovery at start",
    "fast": "fast shutdown (SIGINT)",
}

PHASE_TEXT = {
    "claiming": "claiming (status read and claim, no attempt open)",
    "write_ahead": "just after the write-ahead commit, before the feed",
    "encoder": "at the encoder (card parked, chip not written)",
    "panels": "mid-panel (card in the printer, chip written)",
    "after_eject": "after the eject, before the outcome commit",
    "startup": "during start-up settlement",
    "booting": "before the printer was reached",
    "after_reject": "after a reject, before the outcome commit",
    "other": "anywhere else",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        epilog=(
            "Each kill moves the run on by about 0.4 cards (a card killed after its eject, or mid-panel as the printer"
            f" finishes its eject, is past printing): by default --cards is {CARDS_PER_KILL} a kill, at least 300 and"
            f" at most {MAX_DEFAULT_CARDS} (the simulated kb ribbon prints 500 cards)."
        ),
        description=(
            "Run printd as a subprocess against a simulated Evolis printer (and its chip encoder) served in its own"
            " process, kill printd with SIGKILL in every phase of a card and restart it until the run is done, then"
            " check every blank against the simulator's physical truth."
        ),
    )
    parser.add_argument(
        "--kills", type=int, default=None, help=f"kills (default 1000; {POSTGRES_DEFAULTS['kills']} with --postgres)"
    )
    parser.add_argument(
        "--cards",
        type=int,
        default=None,
        help=f"jobs in the run (default: 300, or more for many kills, up to {MAX_DEFAULT_CARDS}; see below)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments and the spoils (default 1)")
    parser.add_argument(
        "--seconds-per-card",
        type=float,
        default=None,
        help=f"mechanical time (default 0.02; {POSTGRES_DEFAULTS['seconds_per_card']} with --postgres)",
    )
    parser.add_argument("--seconds-per-encode", type=float, default=0.01, help="the chip's time (default 0.01)")
    parser.add_argument("--spoil-rate", type=float, default=0.02, help="share of failing prints (default 0.02)")
    parser.add_argument("--dir", type=Path, default=None, help="where the campaign's files go (default: a temp dir)")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="stations on a throwaway PostgreSQL cluster: "
        + ", ".join(f"{name} with {len(printers)} printer(s)" for name, printers in STATIONS.items())
        + "; their daemons killed at random and the server restarted under them",
    )
    parser.add_argument(
        "--server-restarts",
        type=int,
        default=None,
        help=f"--postgres: times the server goes down and comes back (default {SERVER_RESTARTS_PER_KILL} a kill,"
        " at least 3: killed, shut down at once, stopped, in turn)",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.postgres:
        for key, value in POSTGRES_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        if args.server_restarts is None:
            args.server_restarts = max(3, round(SERVER_RESTARTS_PER_KILL * args.kills))
    elif args.server_restarts is not None:
        parser.error("--server-restarts goes with --postgres")
    args.kills = 1000 if args.kills is None else args.kills
    args.seconds_per_card = 0.02 if args.seconds_per_card is None else args.seconds_per_card
    if args.cards is None:
        args.cards = min(MAX_DEFAULT_CARDS, max(300, math.ceil(CARDS_PER_KILL * args.kills)))
    if args.kills < 0 or args.cards < 1 or args.seconds_per_card <= 0 or args.seconds_per_encode <= 0:
        parser.error("--cards must be at least 1, --kills at least 0, the mechanical times above 0")
    if (args.server_restarts or 0) < 0:
        parser.error("--server-restarts must be at least 0")

    out = console()
    say: Callable[[str], None] = (lambda _: None) if args.json else out.print
    settings = CampaignSettings(
        cards=args.cards,
        kills=args.kills,
        seconds_per_card=args.seconds_per_card,
        seconds_per_encode=args.seconds_per_encode,
        spoil_rate=args.spoil_rate,
        seed=args.seed,
        server_restarts=args.server_restarts or 0,
    )
    signal.signal(signal.SIGTERM, _exit_cleanly)  # the campaign's daemons and simulators are stopped on the way out
    with tempfile.TemporaryDirectory(prefix="crash-", dir=args.dir) as directory:
        server = f", {args.server_restarts} server restarts" if args.postgres else ""
        say(
            f"crash campaign{' (stations on PostgreSQL)' if args.postgres else ''}: {args.cards} cards, {args.kills}"
            f" kills{server}, {args.seconds_per_card} s a card + {args.seconds_per_encode} s a chip, spoil rate"
            f" {args.spoil_rate}, seed {args.seed}; files under {directory} ({filesystem_of(Path(directory))})"
        )
        progress = _Progress(say, args.kills)
        if args.postgres:
            from tests.postgres import throwaway_cluster

            with throwaway_cluster() as cluster:
                report = StationsCampaign(Path(directory), settings, cluster, on_kill=progress).run()
        else:
            report = Campaign(Path(directory), settings, on_kill=progress).run()

    if not args.json:
        out.print(_table(report))
        if report.daemon_kills < args.kills:
            done = f"The {args.cards} cards were done after {report.daemon_kills} kills"
            out.print(f"[yellow]{done}; give more --cards for more kills.[/]")
        if report.problems:
            out.print("[red]Problems:[/]\n  " + "\n  ".join(report.problems))
        else:
            where = "s of every printer" if args.postgres else ""
            out.print(
                f"Verified: unaccounted = {report.unaccounted}; issued {report.issued} = cards in the output"
                f" hopper{where}, spoiled {report.spoiled} = cards in the reject box{'es' if args.postgres else ''};"
                f" {report.jobs_done} jobs done, each with one good card; the ledger invariant holds"
                + (
                    " per station, and each station's blanks on hand are its printers' feeders."
                    if args.postgres
                    else "."
                )
            )
    payload: dict[str, object] = {"benchmark": "crash_campaign", **report.as_dict()}
    payload["engine"] = "postgresql" if args.postgres else "sqlite"
    payload["settings"] = {
        "seconds_per_card": args.seconds_per_card,
        "seconds_per_encode": args.seconds_per_encode,
        "spoil_rate": args.spoil_rate,
        "seed": args.seed,
    }
    payload["kills_requested"] = args.kills
    payload["server_restarts_requested"] = args.server_restarts or 0
    payload["every_phase_hit"] = all(report.phases[p] > 0 for p in REQUIRED_PHASES)
    payload["verified"] = not report.problems
    payload["environment"] = environment()
    print_json(payload)
    return 0 if not report.problems else 1


class _Progress:
    """A line every tenth of the kills."""

    def __init__(self, say: Callable[[str], None], kills: int) -> None:
        self.say = say
        self.every = max(1, kills // 10)
        self.started = time.monotonic()
        self.shown = 0

    def __call__(self, kill: Kill) -> None:
        if kill.number % self.every == 0 and kill.number != self.shown:  # once a kill, however many printers it hit
            self.shown = kill.number
            self.say(f"  {kill.number} kills, {time.monotonic() - self.started:.0f} s")


def _table(report: CampaignReport) -> Table:
    table = Table(title="SIGKILL campaign", title_justify="left")
    table.add_column("figure")
    table.add_column("count", justify="right", style="bold")
    table.add_row("kills", str(report.daemon_kills))
    if report.server_restarts:
        for station, count in sorted(report.kills_by_station.items()):
            table.add_row(f"  of station {station}", str(count))
        table.add_row("  phases, each printer of a killed station:", "")
    for phase in REQUIRED_PHASES + OTHER_PHASES:
        if phase in REQUIRED_PHASES or report.phases[phase]:
            table.add_row(f"  {PHASE_TEXT[phase]}", str(report.phases[phase]))
    if report.server_restarts:
        table.add_row("PostgreSQL server restarts, while printing", str(len(report.server_restarts)))
        for how, count in sorted(collections.Counter(report.server_restarts).items()):
            table.add_row(f"  {SERVER_TEXT[how]}", str(count))
    table.add_row("auto-settled at start-up", str(report.auto_settled))
    table.add_row("  not fed (counter unchanged): back in the queue", str(report.settled_not_fed))
    table.add_row("  spoiled (card still inside, sent to the reject box)", str(report.settled_spoiled))
    table.add_row("in doubt (booked for an operator)", str(report.in_doubt))
    for resolution, count in sorted(report.resolved.items()):
        table.add_row(f"  resolved {resolution} from the simulator's hopper and reject box", str(count))
    table.add_row("unaccounted blanks", str(report.unaccounted))
    table.add_row("blanks fed", str(report.cards_fed))
    table.add_row("issued / cards in the output hopper", f"{report.issued} / {report.in_hopper}")
    table.add_row("spoiled / cards in the reject box", f"{report.spoiled} / {report.in_reject_box}")
    table.add_row("jobs done", f"{report.jobs_done} of {report.settings.cards}")
    table.add_row("seconds", f"{report.seconds:.0f}")
    return table


def _exit_cleanly(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
