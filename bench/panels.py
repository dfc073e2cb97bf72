"""Panel rendering: the time the Evolis driver takes to turn a two-sided card (PNG faces) into YMCKO panels."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import console, environment, median, percentile, print_json, run_table, synthetic_card_png
from drivers.base import Card
from drivers.evolis.driver import render_card, render_side, ribbon_panels

TARGET_MS = 20.0


def measure(cards: int, ribbon: str, levels: int, *, one_thread: bool = False) -> list[float]:
    """Milliseconds per two-sided card, as the driver renders it (the back in a helper thread) or in one thread."""
    card = Card(front=synthetic_card_png("FRONT SIDE"), back=synthetic_card_png("BACK SIDE", colour=False))
    front_names, back_names = ribbon_panels(ribbon)
    render_card(card, ribbon, levels)  # warm up imports, numpy and the helper thread
    times = []
    for _ in range(cards):
        start = time.perf_counter()
        if one_thread:
            render_side(card.front, front_names, levels)
            render_side(card.back or b"", back_names, levels)
        else:
            render_card(card, ribbon, levels)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/panels.py", description=__doc__)
    parser.add_argument("--cards", type=int, default=200, help="two-sided cards per run (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; figures are medians (default 3)")
    parser.add_argument("--ribbon", default="ymcko", help="ribbon type (default ymcko: YMCKO on both sides)")
    parser.add_argument("--levels", type=int, default=32, choices=[32, 64, 128], help="colour levels (default 32)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    runs = [measure(args.cards, args.ribbon, args.levels) for _ in range(args.runs)]
    p50s = [median(r) for r in runs]
    p99s = [percentile(r, 99) for r in runs]
    single = [median(measure(args.cards, args.ribbon, args.levels, one_thread=True)) for _ in range(args.runs)]
    result = {
        "benchmark": "panels",
        "ribbon": args.ribbon,
        "levels": args.levels,
        "cards": args.cards,
        "runs": args.runs,
        "two_sided_ms": {"p50": median(p50s), "p99": median(p99s), "one_thread_p50": median(single)},
        "target_ms": TARGET_MS,
        "target_met": median(p50s) <= TARGET_MS,
        "environment": environment(),
    }
    if not args.json:
        out = console()
        table = run_table(f"Panels of a two-sided {args.ribbon} card at {args.levels} levels", args.runs)
        table.add_row("p50 (ms)", f"{median(p50s):.2f}", *(f"{v:.2f}" for v in p50s))
        table.add_row("p99 (ms)", f"{median(p99s):.2f}", *(f"{v:.2f}" for v in p99s))
        table.add_row("p50, both sides in one thread (ms)", f"{median(single):.2f}", *(f"{v:.2f}" for v in single))
        out.print(table)
        verdict = "MET" if result["target_met"] else "MISSED"
        out.print(f"Target: two-sided YMCKO panels in <= {TARGET_MS:.0f} ms: {verdict} ({median(p50s):.2f} ms)")
    print_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
