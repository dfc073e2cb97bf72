"""Dispatch benchmark: cards/s and per-card controller overhead (wall minus driver time) of the real Station."""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

if __package__ in (None, ""):  # run as a script from a checkout: make `printd`, `drivers` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    console,
    environment,
    filesystem_of,
    median,
    percentile,
    print_json,
    run_table,
    synthetic_card_png,
)
from drivers.base import Card, CardResult, Counters, Driver, PrinterInfo, PrinterStatus
from drivers.sim import SimHandle, make_sim_printer
from printd.jobs import JobState, Priority
from printd.ledger import InvariantError
from printd.logging import configure
from printd.printers import BuiltPrinter
from printd.station import Station
from printd.store import Attempt, Claim, JobContent, JobRecord, NewJob, SqliteStore

TARGET_MS = 1.0
PRINTER = "bench-1"
SUBMIT_CHUNK = 500

Event = tuple[str, int, int]
"""(what, start ns, end ns): one driver or store call made by the printer's worker thread."""


class TimedDriver:
    """A thin proxy over a real driver that records how long each ``status`` and ``print_card`` call takes.

    ``finished`` is set at the ``status`` call that follows the last expected card: the end of that card's cycle.
    With ``profiler``, the worker thread is profiled from ``open`` to ``close`` (cProfile is per thread).
    """

    def __init__(
        self, driver: Driver, events: list[Event], status_calls: int, profiler: cProfile.Profile | None = None
    ) -> None:
        self._driver = driver
        self._events = events
        self._status_calls_expected = status_calls
        self._status_calls = 0
        self._profiler = profiler
        self.finished = threading.Event()

    def open(self) -> PrinterInfo:
        if self._profiler is not None:
            self._profiler.enable()
        return self._driver.open()

    def close(self) -> None:
        try:
            self._driver.close()
        finally:
            if self._profiler is not None:
                self._profiler.disable()

    def status(self) -> PrinterStatus:
        start = time.perf_counter_ns()
        try:
            return self._driver.status()
        finally:
            self._events.append(("status", start, time.perf_counter_ns()))
            self._status_calls += 1
            if self._status_calls >= self._status_calls_expected:
                self.finished.set()

    def print_card(self, card: Card) -> CardResult:
        start = time.perf_counter_ns()
        try:
            return self._driver.print_card(card)
        finally:
            self._events.append(("print", start, time.perf_counter_ns()))

    def clear_errors(self) -> None:
        self._driver.clear_errors()


class TimedStore(SqliteStore):
    """The real SQLite store, with the two write-ahead transactions of a card timed from outside."""

    events: list[Event]
    starved: threading.Event  # set when claim_next found nothing to print (no queued job or no blank)

    def claim_next(self, printer: str, counters: Counters | None) -> Claim | None:
        start = time.perf_counter_ns()
        claim = super().claim_next(printer, counters)
        self.events.append(("claim" if claim is not None else "claim-none", start, time.perf_counter_ns()))
        if claim is None:
            self.starved.set()
        return claim

    def settle_and_claim(
        self, attempt: Attempt, result: CardResult, counters: Counters | None
    ) -> tuple[JobRecord, Claim | None]:
        start = time.perf_counter_ns()
        job, claim = super().settle_and_claim(attempt, result, counters)
        # one transaction books the previous card and claims this one: counted as this card's claim
        self.events.append(("claim" if claim is not None else "claim-none", start, time.perf_counter_ns()))
        if claim is None:
            self.starved.set()
        return job, claim

    def settle_attempt(
        self, attempt: Attempt, result: CardResult, actor: str = "printd", *, unprintable: bool = False
    ) -> JobRecord:
        start = time.perf_counter_ns()
        try:
            return super().settle_attempt(attempt, result, actor, unprintable=unprintable)
        finally:
            self.events.append(("settle", start, time.perf_counter_ns()))

    def durability(self) -> dict[str, str]:
        """The settings the store's own connection runs with (read back, not assumed)."""
        with self._read() as db:
            journal = db.execute("PRAGMA journal_mode").fetchone()[0]
            level = int(db.execute("PRAGMA synchronous").fetchone()[0])
        return {"journal_mode": str(journal), "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[level]}


@dataclass
class RunResult:
    cards: int = 0
    seconds: float = 0.0
    setup_seconds: float = 0.0
    overhead_ms: list[float] = field(default_factory=list)
    claim_ms: list[float] = field(default_factory=list)
    settle_ms: list[float] = field(default_factory=list)
    other_ms: list[float] = field(default_factory=list)
    status_ms: list[float] = field(default_factory=list)
    print_ms: list[float] = field(default_factory=list)
    durability: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def cards_per_second(self) -> float:
        return self.cards / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, float]:
        def mean(values: list[float]) -> float:
            return sum(values) / len(values) if values else 0.0

        return {
            "cards_per_second": self.cards_per_second,
            "overhead_p50_ms": percentile(self.overhead_ms, 50),
            "overhead_p90_ms": percentile(self.overhead_ms, 90),
            "overhead_p99_ms": percentile(self.overhead_ms, 99),
            "overhead_mean_ms": mean(self.overhead_ms),
            "claim_p50_ms": percentile(self.claim_ms, 50),
            "settle_p50_ms": percentile(self.settle_ms, 50),
            "other_p50_ms": percentile(self.other_ms, 50),
            "claim_mean_ms": mean(self.claim_ms),
            "settle_mean_ms": mean(self.settle_ms),
            "other_mean_ms": mean(self.other_ms),
            "status_p50_ms": percentile(self.status_ms, 50),
            "print_card_p50_ms": percentile(self.print_ms, 50),
            "seconds": self.seconds,
            "setup_seconds": self.setup_seconds,
        }


def card_cycles(events: list[Event], result: RunResult) -> None:
    """Cut the worker's calls into card cycles: from one ``status`` call's start to the next one's start.

    A cycle that claimed a job is one card: status, claim_next, print_card, settle_attempt and the station's
    own work around them (logging, the stock check, bookkeeping). Overhead = cycle wall time minus the time
    inside the driver; "other" = overhead minus the claim and settle transactions.
    """
    starts = [i for i, (what, _, _) in enumerate(events) if what == "status"]
    first: int | None = None
    last = 0
    for a, b in itertools.pairwise(starts):
        cycle = events[a:b]
        if not any(what == "claim" for what, _, _ in cycle):
            continue
        spent: dict[str, int] = {}
        for what, start, end in cycle:
            spent[what] = spent.get(what, 0) + end - start
        wall = events[b][1] - events[a][1]
        driver = spent.get("status", 0) + spent.get("print", 0)
        overhead = wall - driver
        ms = 1e-6
        result.overhead_ms.append(overhead * ms)
        result.claim_ms.append(spent.get("claim", 0) * ms)
        result.settle_ms.append(spent.get("settle", 0) * ms)
        result.other_ms.append((overhead - spent.get("claim", 0) - spent.get("settle", 0)) * ms)
        result.status_ms.append(spent.get("status", 0) * ms)
        result.print_ms.append(spent.get("print", 0) * ms)
        result.cards += 1
        first = events[a][1] if first is None else first
        last = events[b][1]
    result.seconds = (last - first) / 1e9 if first is not None else 0.0


def fill_store(store: SqliteStore, jobs: int, faces: list[bytes]) -> None:
    """A delivery of exactly ``jobs`` blanks and ``jobs`` pre-rendered jobs, queued in submission order."""
    store.receive_stock(jobs, "BENCH-DELIVERY-0001", actor="bench")
    for start in range(0, jobs, SUBMIT_CHUNK):
        batch = [
            NewJob(f"bench-{n:06d}", Priority.NORMAL, JobContent(front=faces[n % len(faces)]))
            for n in range(start, min(jobs, start + SUBMIT_CHUNK))
        ]
        store.submit_many(batch, actor="bench")


def verify(store: SqliteStore, handle: SimHandle, jobs: int, result: RunResult) -> None:
    problems = result.problems
    counts = store.queue_counts()
    if counts[JobState.DONE.value] != jobs:
        problems.append(f"{counts[JobState.DONE.value]} of {jobs} jobs done; queue: {counts}")
    others = {state: n for state, n in counts.items() if n and state != JobState.DONE.value}
    if others:
        problems.append(f"jobs not done: {others}")
    if store.open_attempts():
        problems.append(f"{len(store.open_attempts())} attempt(s) left without an outcome")
    ledger = store.balance_from_ledger()
    try:
        ledger.check()
    except InvariantError as exc:
        problems.append(f"ledger invariant broken: {exc}")
    cached = store.balance()
    if cached != ledger:
        problems.append(f"cached stock totals {cached.as_dict()} differ from the ledger fold {ledger.as_dict()}")
    truth = handle.model.physical_truth()
    if not (ledger.issued == jobs == truth.in_hopper == truth.cards_fed):
        problems.append(
            f"issued {ledger.issued}, cards in the output hopper {truth.in_hopper}, cards fed {truth.cards_fed};"
            f" expected {jobs} each"
        )
    if ledger.spoiled or ledger.in_doubt or truth.in_reject_box:
        problems.append(
            f"spoiled {ledger.spoiled}, in doubt {ledger.in_doubt}, reject box {truth.in_reject_box}; expected none"
        )
    if result.cards != jobs:
        problems.append(f"measured {result.cards} card cycles, expected {jobs}")


def run_once(
    jobs: int, faces: list[bytes], base_dir: Path | None, log_level: str, profiler: cProfile.Profile | None = None
) -> RunResult:
    result = RunResult()
    with tempfile.TemporaryDirectory(prefix="printd-bench-dispatch-", dir=base_dir) as tmp:
        directory = Path(tmp)
        log_file: IO[str]
        with (directory / "printd.log").open("w", encoding="utf-8") as log_file:
            # As under systemd: JSON lines at the daemon's level, here to a file instead of journald.
            configure(log_level, json=True, stream=log_file)
            began = time.perf_counter()
            events: list[Event] = []
            store = TimedStore(directory / "printd.db", station="bench")
            store.events, store.starved = events, threading.Event()
            try:
                result.durability = store.durability()
                fill_store(store, jobs, faces)
                # A few blanks more in the feeder than booked: the run ends on "no stock", not on feeder empty.
                handle = make_sim_printer(PRINTER, cards=jobs + 20, seconds_per_card=0.0, ribbon="kb")
                handle.model.replace_ribbon(cards=jobs + 1000)
                driver = TimedDriver(handle.driver(), events, status_calls=jobs + 1, profiler=profiler)
                station = Station(store, [BuiltPrinter(PRINTER, driver, handle)], low_stock_threshold=0)
                result.setup_seconds = time.perf_counter() - began
                deadline = time.monotonic() + 60.0 + jobs * 0.1
                station.start()
                try:
                    while not driver.finished.wait(0.2):
                        view = station.worker(PRINTER).view
                        if view.paused:
                            result.problems.append(f"the printer paused: {view.pause_reason}")
                            break
                        if store.starved.is_set():
                            result.problems.append("the station ran out of jobs or blanks before every card was done")
                            break
                        if time.monotonic() > deadline:
                            result.problems.append("timed out waiting for the cards")
                            break
                finally:
                    if not station.stop(30.0):
                        result.problems.append("the printer's worker did not stop")
                card_cycles(events, result)
                verify(store, handle, jobs, result)
            finally:
                store.close()
                configure("error", json=True, stream=sys.stderr)  # the log file closes with the run
    return result


def profile_report(profiler: cProfile.Profile, path: Path | None, lines: int = 30) -> str:
    """The controller's side of the profile: printd, the store's SQLite calls and logging, by cumulative time
    (the driver, excluded from the overhead, dominates any unfiltered listing)."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    if path is not None:
        stats.dump_stats(str(path))
    stats.sort_stats("cumulative").print_stats(r"printd/|structlog|sqlite3|bench/dispatch", lines)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/dispatch.py",
        description=(
            "Drive the real printd Station (status -> settle the card before + claim -> print_card, SQLite WAL,"
            " synchronous=FULL) over one simulated printer with zero mechanical time, and report cards per second"
            " and the controller overhead per card: wall time minus the time spent inside the driver."
        ),
    )
    parser.add_argument("--jobs", type=int, default=2000, help="pre-rendered jobs per run (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; figures are medians over them (default 3)")
    parser.add_argument("--faces", type=int, default=8, help="distinct card faces the jobs cycle through (default 8)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the temporary database goes (its file system sets fsync cost)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="after the measured runs, do one more run under cProfile (worker thread) and save its stats to FILE",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.runs < 1 or args.faces < 1:
        parser.error("--jobs, --runs and --faces must be at least 1")

    out = console()
    say: Callable[[str], None] = (lambda _: None) if args.json else out.print
    faces = [synthetic_card_png(f"FACE {n + 1} OF {args.faces}") for n in range(args.faces)]
    base_dir = args.dir or Path(tempfile.gettempdir())
    filesystem = filesystem_of(base_dir)
    say(
        f"dispatch: {args.jobs} jobs x {args.runs} run(s), one simulated Evolis printer (0 s/card, ribbon kb),"
        f" faces: {args.faces} synthetic 1016x648 PNGs of ~{sum(map(len, faces)) // len(faces) // 1024} KiB;"
        f" database under {base_dir} ({filesystem})"
    )
    if filesystem in ("tmpfs", "ramfs"):
        say("[yellow]warning: the database is on a RAM file system, so fsync costs nothing; use --dir on a disk[/]")

    results: list[RunResult] = []
    for n in range(args.runs):
        result = run_once(args.jobs, faces, args.dir, args.log_level)
        results.append(result)
        say(
            f"  run {n + 1}: {result.cards_per_second:,.0f} cards/s, overhead p50"
            f" {percentile(result.overhead_ms, 50):.3f} ms"
            + (f" [red]PROBLEMS: {'; '.join(result.problems)}[/]" if result.problems else "")
        )

    summaries = [r.summary() for r in results]
    med = {key: median([s[key] for s in summaries]) for key in summaries[0]}
    problems = [f"run {n + 1}: {p}" for n, r in enumerate(results) for p in r.problems]
    verified = not problems
    met = med["overhead_p50_ms"] <= TARGET_MS
    durability = results[0].durability

    if not args.json:
        table = run_table(
            f"Dispatch: {args.jobs} cards per run, SQLite {durability.get('journal_mode')}"
            f" synchronous={durability.get('synchronous')} (medians over {args.runs} run(s))",
            args.runs,
        )
        rows: list[tuple[str, str, str]] = [
            ("cards per second", "cards_per_second", "{:,.0f}"),
            ("overhead per card p50 (ms)", "overhead_p50_ms", "{:.3f}"),
            ("overhead per card p90 (ms)", "overhead_p90_ms", "{:.3f}"),
            ("overhead per card p99 (ms)", "overhead_p99_ms", "{:.3f}"),
            ("overhead per card mean (ms)", "overhead_mean_ms", "{:.3f}"),
            ("  claim (+ settle of the card before) txn p50 (ms)", "claim_p50_ms", "{:.3f}"),
            ("  settle alone txn p50 (ms)", "settle_p50_ms", "{:.3f}"),
            ("  other p50 (ms)", "other_p50_ms", "{:.3f}"),
            ("  claim (+ settle before) mean (ms)", "claim_mean_ms", "{:.3f}"),
            ("  settle alone mean (ms)", "settle_mean_ms", "{:.3f}"),
            ("  other mean (ms)", "other_mean_ms", "{:.3f}"),
            ("driver status() p50 (ms, excluded)", "status_p50_ms", "{:.3f}"),
            ("driver print_card() p50 (ms, excluded)", "print_card_p50_ms", "{:.3f}"),
            ("measured seconds", "seconds", "{:.2f}"),
            ("setup seconds (not measured)", "setup_seconds", "{:.2f}"),
        ]
        for label, key, fmt in rows:
            table.add_row(label, fmt.format(med[key]), *(fmt.format(s[key]) for s in summaries))
        out.print(table)
        out.print(
            "Overhead = card cycle (status start to next status start) minus time inside the driver; the split"
            " times are measured around the store calls, their medians need not add up (the means do)."
        )
        verdict = "[green]MET[/]" if met else "[red]MISSED[/]"
        out.print(
            f"Target: median overhead <= {TARGET_MS:.1f} ms per card: {verdict} ({med['overhead_p50_ms']:.3f} ms)"
        )
        if verified:
            out.print(
                f"Verified every run: {args.jobs} jobs done, ledger invariant holds, cached totals = ledger fold,"
                f" issued = {args.jobs} = cards in the sim's output hopper."
            )
        else:
            out.print("[red]Verification FAILED:[/]\n  " + "\n  ".join(problems))

    profile_text = None
    if args.profile is not None:
        profiler = cProfile.Profile()
        run_once(args.jobs, faces, args.dir, args.log_level, profiler)
        profile_text = profile_report(profiler, args.profile)
        if not args.json:
            out.print(f"Profile of one extra run (worker thread, cProfile; not part of the figures) in {args.profile}:")
            print(profile_text, flush=True)

    payload: dict[str, object] = {
        "benchmark": "dispatch",
        "jobs": args.jobs,
        "runs": args.runs,
        "cards_per_second": round(med["cards_per_second"], 1),
        "overhead_ms": {q: round(med[f"overhead_{q}_ms"], 4) for q in ("p50", "p90", "p99", "mean")},
        "split_p50_ms": {part: round(med[f"{part}_p50_ms"], 4) for part in ("claim", "settle", "other")},
        "split_mean_ms": {part: round(med[f"{part}_mean_ms"], 4) for part in ("claim", "settle", "other")},
        "driver_p50_ms": {"status": round(med["status_p50_ms"], 4), "print_card": round(med["print_card_p50_ms"], 4)},
        "target_ms": TARGET_MS,
        "target_met": met,
        "verified": verified,
        "problems": problems,
        "durability": durability,
        "filesystem": filesystem,
        "per_run": [{key: round(value, 4) for key, value in s.items()} for s in summaries],
        "environment": environment(),
    }
    print_json(payload)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
