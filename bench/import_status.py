"""Import benchmark: how long ``status`` takes on its own connection while a 6,000-job batch file is imported.

What is measured, and how:

- The real daemon (``python -m printd.daemon run``, tests/daemon_harness.py) with two simulated printers. By
  default they print during the whole run (blanks are booked first; half a second a card), as they do at a
  counter while a school's batch arrives; ``--idle`` keeps them paused with no blanks.
- The batch is a JSON-lines file as staff write it: a job a line with its reference, priority ``backlog``, a front
  image by path relative to the file (one of 16 synthetic 1016x648 PNG card faces, as the other benchmarks use) and
  a chip payload. It is imported two ways, one after the other, each with fresh references:
  ``printctl``: ``printctl submit --batch FILE`` in its own process, as staff run it (printctl sends it in chunks);
  ``api``: one ``jobs.submit_batch`` request for as many jobs as the daemon takes in one (then the rest), as a
  script or ``bench/stations.py`` does, in a process of its own too.
- Meanwhile a separate process asks ``status`` on a connection of its own every ``--interval-ms`` (the next call
  at once when one took longer) and records each call's wall time. The figures "during" count the calls that
  began between the import's start and its end; "idle" is the same poller for a while before any import.
- Each run records the machine's load average as it began: other work on the CPUs shows in every latency here,
  so compare runs made under like load. The medians are over the runs; "pooled" figures are over every status
  call of every run together.
- Import wall time: for ``printctl``, from starting it to its exit (its start-up included: that is what staff wait
  for); for ``api``, from its first request to its last reply. jobs/s is jobs / that time.
- Checked after every run: each import accepted every job once (none a duplicate, none rejected), status counts
  every job, and, with the daemon stopped, the store holds each reference once, its kept queue counts equal a count
  of the jobs, the ledger balances (``received + transfers + adjusted = on_hand + issued + spoiled + in_doubt``,
  for the queue and per station) and its totals equal a fold of its events, and each simulator fed exactly the
  blanks the ledger books for its printer.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: make `printd`, `drivers`, `tests` importable
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
from printd.control.client import ControlClient
from printd.control.methods import MAX_BATCH
from printd.ledger import InvariantError
from tests.daemon_harness import ROOT, DaemonProcess, SimSpec
from tests.kill_campaign import connected

WAYS = ("printctl", "api")
PRINTERS = ("counter-1", "counter-2")
FACES = 16
SECONDS_PER_CARD = 0.5
WARMUP_CALLS = 20
STATUS_GOAL_MS = 20.0
STATION_SETTINGS = {"low_stock_threshold": 0}


# ------------------------------------------------------------------------------------------- the poller


def poll_status(socket: str, interval: float, pipe: Connection) -> None:
    """In a process of its own: ``status`` every ``interval`` seconds until told to stop; then send back each call's
    (monotonic start, seconds)."""
    samples: list[tuple[float, float]] = []
    with ControlClient(socket, timeout=60) as client:
        client.call("status", {})
        pipe.send("ready")
        next_call = time.monotonic()
        while not pipe.poll(max(0.0, next_call - time.monotonic())):
            began = time.monotonic()
            client.call("status", {})
            samples.append((began, time.monotonic() - began))
            next_call = began + interval
    pipe.recv()
    pipe.send(samples)


@contextmanager
def status_poller(socket: str, interval: float) -> Iterator[list[tuple[float, float]]]:
    """Poll ``status`` in another process for the duration of the block; the list is filled when it ends."""
    context = multiprocessing.get_context("fork")  # this process runs no thread of its own to copy
    mine, theirs = context.Pipe()
    process = context.Process(target=poll_status, args=(socket, interval, theirs), daemon=True)
    process.start()
    samples: list[tuple[float, float]] = []
    try:
        if not mine.poll(60) or mine.recv() != "ready":
            raise RuntimeError("the status poller did not start")
        yield samples
        mine.send("stop")
        if not mine.poll(60):
            raise RuntimeError("the status poller did not stop")
        samples.extend(mine.recv())
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


# ------------------------------------------------------------------------------------------- the import


def write_faces(directory: Path) -> list[str]:
    """The card faces the batch files name, relative to ``directory``."""
    faces = directory / "faces"
    faces.mkdir()
    names = []
    for n in range(FACES):
        (faces / f"face-{n:02d}.png").write_bytes(synthetic_card_png(f"IMPORT {n:02d}", colour=n % 2 == 0))
        names.append(f"faces/face-{n:02d}.png")
    return names


def batch_jobs(prefix: str, jobs: int, faces: list[str]) -> list[dict[str, object]]:
    return [
        {
            "ref": f"{prefix}-{n:06d}",
            "priority": "backlog",
            "front": faces[n % len(faces)],
            "chip": f"BENCHMARK-CHIP-{prefix}-{n:06d}",
        }
        for n in range(jobs)
    ]


def api_import(socket: str, batch_file: str, result_file: str) -> int:
    """``--api-import``: the batch file's jobs sent with jobs.submit_batch, as many a request as the daemon takes; the
    replies' accepted and rejected entries written to ``result_file``."""
    base = Path(batch_file).parent
    jobs = [json.loads(line) for line in Path(batch_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    for job in jobs:
        job["front"] = str(base / job["front"])
    accepted: list[object] = []
    rejected: list[object] = []
    with ControlClient(socket, timeout=600) as client:
        client.call("status", {})  # connected and served once: the clock measures the requests alone
        began = time.monotonic()
        for first in range(0, len(jobs), MAX_BATCH):
            reply = client.call("jobs.submit_batch", {"jobs": jobs[first : first + MAX_BATCH]})
            assert isinstance(reply, dict)
            accepted += reply["accepted"]
            rejected += reply["rejected"]
        ended = time.monotonic()
    reply = {"accepted": accepted, "rejected": rejected, "began": began, "ended": ended}
    Path(result_file).write_text(json.dumps(reply), encoding="utf-8")
    return 0


def import_argv(way: str, socket: str, batch_file: Path, result_file: Path) -> list[str]:
    if way == "printctl":
        return [sys.executable, "-m", "printd.cli", "--socket", socket, "--json", "submit", "--batch", str(batch_file)]
    script = str(Path(__file__).resolve())
    return [sys.executable, script, "--api-import", socket, str(batch_file), str(result_file)]


@dataclass
class WayResult:
    seconds: float = 0.0
    jobs: int = 0
    during_ms: list[float] = field(default_factory=list)

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


@dataclass
class RunResult:
    engine: str
    load: float = 0.0
    """The machine's load average (1 min) as the run began: other work on the machine's CPUs."""
    idle_ms: list[float] = field(default_factory=list)
    ways: dict[str, WayResult] = field(default_factory=dict)
    cards_printed: int = 0
    problems: list[str] = field(default_factory=list)


def run_import(
    way: str, daemon: DaemonProcess, directory: Path, prefix: str, jobs: int, faces: list[str], interval: float
) -> tuple[WayResult, set[str], list[str]]:
    """One import of ``jobs`` fresh jobs while ``status`` is polled; its figures, its refs and what went wrong."""
    batch = batch_jobs(prefix, jobs, faces)
    batch_file = directory / f"{prefix}.jsonl"
    batch_file.write_text("".join(json.dumps(job) + "\n" for job in batch), encoding="utf-8")
    result_file = directory / f"{prefix}.result.json"
    outcome = WayResult(jobs=jobs)
    problems: list[str] = []
    with status_poller(daemon.socket, interval) as samples:
        time.sleep(0.2)  # the poller's first calls happen before the import: its own warm-up
        began = time.monotonic()
        proc = subprocess.run(
            import_argv(way, daemon.socket, batch_file, result_file),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        ended = time.monotonic()
    if proc.returncode != 0:
        problems.append(f"{way}: the import exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return outcome, set(), problems
    reply = json.loads(proc.stdout) if way == "printctl" else json.loads(result_file.read_text(encoding="utf-8"))
    if way == "api":  # its requests alone, not the start-up of a Python process importing this module
        began, ended = reply["began"], reply["ended"]
    outcome.seconds = ended - began
    outcome.during_ms = [seconds * 1e3 for start, seconds in samples if began <= start <= ended]
    accepted, rejected = reply.get("accepted", []), reply.get("rejected", [])
    fresh = {a["ref"] for a in accepted if a.get("duplicate") is False}
    refs = {str(job["ref"]) for job in batch}
    if rejected or len(accepted) != jobs or fresh != refs:
        problems.append(f"{way}: {len(accepted)} accepted ({len(fresh)} new), {len(rejected)} rejected of {jobs}")
    return outcome, refs, problems


# ------------------------------------------------------------------------------------------- one run


def run_once(
    run: int, jobs: int, interval: float, base: Path | None, url: str | None, idle: bool, idle_seconds: float
) -> RunResult:
    engine = "postgresql" if url else "sqlite"
    result = RunResult(engine, load=os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="printd-bench-import-", dir=base) as tmp:
        directory = Path(tmp)
        faces = write_faces(directory)
        printers = [SimSpec(name, cards=1000, seconds_per_card=SECONDS_PER_CARD) for name in PRINTERS]
        daemon = DaemonProcess(directory, printers, station="import", database_url=url)
        daemon.spawn(STATION_SETTINGS)
        refs: set[str] = set()
        try:
            with connected(daemon, 60, 600) as client:
                if idle:
                    for name in PRINTERS:
                        client.call("printers.pause", {"printer": name})
                else:
                    client.call("stock.receive", {"count": 2000, "ref": f"DO-import-{run}"})
                for _ in range(WARMUP_CALLS):
                    client.call("status", {})
                with status_poller(daemon.socket, interval) as samples:
                    time.sleep(idle_seconds)
                result.idle_ms = [seconds * 1e3 for _, seconds in samples]
                for way in WAYS:
                    outcome, way_refs, problems = run_import(
                        way, daemon, directory, f"{engine[:2]}{run}-{way}", jobs, faces, interval
                    )
                    result.ways[way] = outcome
                    result.problems += problems
                    refs |= way_refs
                status = client.call("status", {})
                assert isinstance(status, dict)
                if sum(status["queue"].values()) != len(refs):
                    result.problems.append(f"status counts {sum(status['queue'].values())} jobs, not {len(refs)}")
        finally:
            if daemon.process is not None:
                daemon.stop()
        if refs:
            result.cards_printed = check_store(daemon, refs, result.problems)
    return result


def check_store(daemon: DaemonProcess, refs: set[str], problems: list[str]) -> int:
    """With the daemon stopped: every job once, the kept counts and the ledger sound, the sims agreeing with it;
    the cards the ledger books as issued."""
    store = daemon.open_store()
    try:
        stored = [job.ref for job in store.list_jobs(limit=len(refs) + 1)]
        if sorted(stored) != sorted(refs):
            problems.append(f"the store holds {len(stored)} jobs ({len(set(stored))} refs), not the {len(refs)} sent")
        if store.queue_counts() != store.queue_counts_from_jobs():
            problems.append("the kept queue counts differ from a count of the jobs")
        folded = store.balance_from_ledger()
        try:
            folded.check()
            for balance in store.balance_by_station_from_ledger().values():
                balance.check()
        except InvariantError as exc:
            problems.append(f"the ledger does not balance: {exc}")
        if store.balance() != folded or store.balance_by_station() != store.balance_by_station_from_ledger():
            problems.append("the kept stock totals differ from a fold of the ledger")
        if not store.quarters_consistent():
            problems.append("the quarter-hour sums differ from the ledger")
        booked = store.balance_by_printer_from_ledger()
    finally:
        store.close()
    for name in PRINTERS:
        truth, _ = daemon.physical_truth(name)
        mine = booked.get(name)
        used = mine.issued + mine.spoiled + mine.in_doubt if mine else 0
        if truth.cards_fed != used:
            problems.append(f"{name} fed {truth.cards_fed} blanks, the ledger books {used}")
    return folded.issued


# ------------------------------------------------------------------------------------------- output


def latency(values: list[float]) -> dict[str, object]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3) if values else None,
    }


def run_summary(r: RunResult) -> dict[str, object]:
    return {
        "engine": r.engine,
        "load": round(r.load, 2),
        "status_idle_ms": latency(r.idle_ms),
        "ways": {
            way: {
                "seconds": round(w.seconds, 3),
                "jobs_per_second": round(w.jobs_per_second, 1),
                "status_during_ms": latency(w.during_ms),
            }
            for way, w in r.ways.items()
        },
        "cards_printed": r.cards_printed,
        "problems": r.problems,
    }


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs."""
    summary: dict[str, Any] = {
        "status_idle_ms": {
            q: round(median([run["status_idle_ms"][q] for run in runs]), 3) for q in ("p50", "p99", "max")
        },
    }
    for way in WAYS:
        found = [run for run in runs if way in run["ways"]]
        if not found:
            continue
        summary[way] = {
            "seconds": round(median([run["ways"][way]["seconds"] for run in found]), 3),
            "jobs_per_second": round(median([run["ways"][way]["jobs_per_second"] for run in found]), 1),
            "status_during_ms": {
                q: round(median([run["ways"][way]["status_during_ms"][q] for run in found]), 3)
                for q in ("p50", "p99", "max")
            },
        }
    return summary


def table_rows(runs: list[dict[str, Any]], summary: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(metric, median, one cell a run) for the table."""
    rows = [("machine load as the run began", "", [f"{run['load']:.1f}" for run in runs])]
    for q in ("p50", "p99", "max"):
        cells = [f"{run['status_idle_ms'][q]:.1f}" for run in runs]
        rows.append((f"status {q} idle (ms)", f"{summary['status_idle_ms'][q]:.1f}", cells))
    for way in WAYS:
        if way not in summary:
            continue
        label = "printctl submit --batch" if way == "printctl" else f"jobs.submit_batch of {MAX_BATCH:,}"
        for q in ("p50", "p99", "max"):
            cells = [f"{run['ways'][way]['status_during_ms'][q]:.1f}" for run in runs]
            rows.append((f"{label}: status {q} (ms)", f"{summary[way]['status_during_ms'][q]:.1f}", cells))
        pooled = summary["pooled"][way]
        rows.append((f"{label}: status p99 pooled (ms)", f"{pooled['p99']:.1f}", [""] * len(runs)))
        cells = [f"{run['ways'][way]['seconds']:.2f}" for run in runs]
        rows.append((f"{label}: import (s)", f"{summary[way]['seconds']:.2f}", cells))
        cells = [f"{run['ways'][way]['jobs_per_second']:,.0f}" for run in runs]
        rows.append((f"{label}: jobs/s", f"{summary[way]['jobs_per_second']:,.0f}", cells))
    return rows


# ------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--api-import"]:
        return api_import(*argv[1:4])
    parser = argparse.ArgumentParser(
        prog="bench/import_status.py",
        description=(
            "Start the real printd daemon (two simulated printers printing), import a batch file of --jobs jobs with"
            " printctl and with jobs.submit_batch, and measure how long status takes meanwhile on a connection of its"
            " own. See the module's docstring for what is measured and checked."
        ),
    )
    parser.add_argument("--jobs", type=int, default=6000, help="jobs in each imported batch file (default 6000)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions, each on a fresh daemon; medians (default 3)")
    parser.add_argument("--interval-ms", type=float, default=10.0, help="status every this many ms (default 10)")
    parser.add_argument("--idle", action="store_true", help="the printers stay paused with no blanks")
    parser.add_argument(
        "--idle-seconds", type=float, default=2.0, help="status polled this long before any import (default 2)"
    )
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL cluster")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the temporary stations go (its file system sets fsync cost)"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.runs < 1 or args.interval_ms <= 0 or args.idle_seconds <= 0:
        parser.error("--jobs and --runs must be at least 1, --interval-ms and --idle-seconds positive")

    out = console()
    say: Callable[[str], None] = (lambda _: None) if args.json else out.print
    base = args.dir or Path(tempfile.gettempdir())
    filesystem = filesystem_of(base)
    say(
        f"import_status: {args.jobs:,} jobs a batch file, imported with printctl and with jobs.submit_batch, status"
        f" every {args.interval_ms:g} ms on its own connection; printers {'idle' if args.idle else 'printing'};"
        f" {args.runs} run(s); stations under {base} ({filesystem})"
    )
    if filesystem in ("tmpfs", "ramfs"):
        say("[yellow]warning: the database is on a RAM file system, so fsync costs nothing; use --dir on a disk[/]")

    engines: dict[str, list[RunResult]] = {"sqlite": []}
    with postgres_cluster(args.postgres) as cluster:
        if cluster is not None:
            engines["postgresql"] = []
        for n in range(args.runs):
            for engine, results in engines.items():
                url = cluster.fresh_database() if engine == "postgresql" and cluster is not None else None
                interval = args.interval_ms / 1e3
                result = run_once(n + 1, args.jobs, interval, args.dir, url, args.idle, args.idle_seconds)
                results.append(result)
                figures = ", ".join(
                    f"{way} {w.seconds:.2f} s, status p99 {percentile(w.during_ms, 99):.1f} ms"
                    for way, w in result.ways.items()
                )
                if result.load > (os.cpu_count() or 1):
                    say(f"[yellow]  the machine was busy with other work (load {result.load:.1f}): figures inflated[/]")
                say(
                    f"  {engine} run {n + 1} (load {result.load:.1f}): {figures}"
                    + (f" [red]PROBLEMS: {'; '.join(result.problems)}[/]" if result.problems else "")
                )

    per_engine: dict[str, Any] = {}
    problems: list[str] = []
    for engine, results in engines.items():
        runs = [run_summary(r) for r in results]
        summary = medians(runs)
        summary["pooled"] = {
            way: latency([ms for r in results if way in r.ways for ms in r.ways[way].during_ms]) for way in WAYS
        }
        per_engine[engine] = {"median": summary, "per_run": runs}
        problems += [f"{engine} run {n + 1}: {p}" for n, r in enumerate(results) for p in r.problems]
        if not args.json:
            table = run_table(f"status while {args.jobs:,} jobs are imported, {engine} (medians)", args.runs)
            for label, value, cells in table_rows(runs, summary):
                table.add_row(label, value, *cells)
            out.print(table)
    worst = max(
        (
            e["median"][way]["status_during_ms"]["p99"]
            for e in per_engine.values()
            for way in WAYS
            if way in e["median"]
        ),
        default=float("nan"),
    )
    if not args.json:
        if problems:
            out.print("[red]Verification FAILED:[/]\n  " + "\n  ".join(problems))
        else:
            out.print(
                "Verified every run: every job accepted once and stored once, queue counts and ledger sound,"
                " each simulator fed what the ledger books."
            )
        out.print(f"Goal: status p99 during the import <= {STATUS_GOAL_MS:g} ms; worst median p99 {worst:.1f} ms.")
    print_json(
        {
            "benchmark": "import_status",
            "jobs": args.jobs,
            "runs": args.runs,
            "interval_ms": args.interval_ms,
            "printers": "idle" if args.idle else f"{len(PRINTERS)} printing, {SECONDS_PER_CARD} s a card",
            "max_batch": MAX_BATCH,
            "engines": per_engine,
            "goal": {"status_p99_ms": STATUS_GOAL_MS, "worst_median_p99_ms": worst, "met": worst <= STATUS_GOAL_MS},
            "verified": not problems,
            "problems": problems,
            "filesystem": filesystem,
            "environment": environment(),
        }
    )
    return 0 if not problems else 1


@contextmanager
def postgres_cluster(wanted: bool) -> Iterator[Any]:
    """A throwaway PostgreSQL cluster (tests/postgres.py) if ``wanted``, else None."""
    if not wanted:
        yield None
        return
    from tests.postgres import missing, throwaway_cluster

    why = missing()
    if why is not None:
        raise SystemExit(f"--postgres: {why}")
    with throwaway_cluster() as cluster:
        yield cluster


if __name__ == "__main__":
    sys.exit(main())
