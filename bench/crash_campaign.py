"""The long SIGKILL campaign: printd killed --kills times in every phase of a card, every blank then checked."""

from __future__ import annotations

import argparse
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
from tests.kill_campaign import OTHER_PHASES, REQUIRED_PHASES, Campaign, CampaignReport, CampaignSettings, Kill

# A card killed after its eject, or mid-panel (the printer finishes the eject it was given), is past printing
# by the next start: the kills move the run on by about 0.4 cards each. A run long enough for --kills has more
# cards than that, within the simulated ribbon (500 cards of a kb ribbon).
CARDS_PER_KILL = 0.45
MAX_DEFAULT_CARDS = 450

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
    parser.add_argument("--kills", type=int, default=1000, help="kills (default 1000)")
    parser.add_argument(
        "--cards",
        type=int,
        default=None,
        help=f"jobs in the run (default: 300, or more for many kills, up to {MAX_DEFAULT_CARDS}; see below)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments and the spoils (default 1)")
    parser.add_argument("--seconds-per-card", type=float, default=0.02, help="mechanical time (default 0.02)")
    parser.add_argument("--seconds-per-encode", type=float, default=0.01, help="the chip's time (default 0.01)")
    parser.add_argument("--spoil-rate", type=float, default=0.02, help="share of failing prints (default 0.02)")
    parser.add_argument("--dir", type=Path, default=None, help="where the campaign's files go (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.cards is None:
        args.cards = min(MAX_DEFAULT_CARDS, max(300, math.ceil(CARDS_PER_KILL * args.kills)))
    if args.kills < 0 or args.cards < 1 or args.seconds_per_card <= 0 or args.seconds_per_encode <= 0:
        parser.error("--cards must be at least 1, --kills at least 0, the mechanical times above 0")

    out = console()
    say: Callable[[str], None] = (lambda _: None) if args.json else out.print
    settings = CampaignSettings(
        cards=args.cards,
        kills=args.kills,
        seconds_per_card=args.seconds_per_card,
        seconds_per_encode=args.seconds_per_encode,
        spoil_rate=args.spoil_rate,
        seed=args.seed,
    )
    signal.signal(signal.SIGTERM, _exit_cleanly)  # the campaign's daemon and simulator are stopped on the way out
    with tempfile.TemporaryDirectory(prefix="crash-", dir=args.dir) as directory:
        say(
            f"crash campaign: {args.cards} cards, {args.kills} kills, {args.seconds_per_card} s a card + "
            f"{args.seconds_per_encode} s a chip, spoil rate {args.spoil_rate}, seed {args.seed}; files under"
            f" {directory} ({filesystem_of(Path(directory))})"
        )
        progress = _Progress(say, args.kills)
        report = Campaign(Path(directory), settings, on_kill=progress).run()

    if not args.json:
        out.print(_table(report))
        if len(report.kills) < args.kills:
            done = f"The {args.cards} cards were done after {len(report.kills)} kills"
            out.print(f"[yellow]{done}; give more --cards for more kills.[/]")
        if report.problems:
            out.print("[red]Problems:[/]\n  " + "\n  ".join(report.problems))
        else:
            out.print(
                f"Verified: unaccounted = {report.unaccounted}; issued {report.issued} = cards in the output hopper,"
                f" spoiled {report.spoiled} = cards in the reject box; {report.jobs_done} jobs done, each with one good"
                " card; the ledger invariant holds."
            )
    payload: dict[str, object] = {"benchmark": "crash_campaign", **report.as_dict()}
    payload["settings"] = {
        "seconds_per_card": args.seconds_per_card,
        "seconds_per_encode": args.seconds_per_encode,
        "spoil_rate": args.spoil_rate,
        "seed": args.seed,
    }
    payload["kills_requested"] = args.kills
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

    def __call__(self, kill: Kill) -> None:
        if kill.number % self.every == 0:
            self.say(f"  {kill.number} kills, {time.monotonic() - self.started:.0f} s")


def _table(report: CampaignReport) -> Table:
    table = Table(title="SIGKILL campaign", title_justify="left")
    table.add_column("figure")
    table.add_column("count", justify="right", style="bold")
    table.add_row("kills", str(len(report.kills)))
    for phase in REQUIRED_PHASES + OTHER_PHASES:
        if phase in REQUIRED_PHASES or report.phases[phase]:
            table.add_row(f"  {PHASE_TEXT[phase]}", str(report.phases[phase]))
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
