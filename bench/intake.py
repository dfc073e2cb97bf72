"""Intake benchmark: jobs/s the real daemon accepts over its Unix socket, single jobs.submit vs jobs.submit_batch."""

from __future__ import annotations

import argparse
import asyncio
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
from printd.config import load_config
from printd.control.client import ControlClient
from printd.daemon import Daemon
from printd.logging import configure

PRINTER = "bench-1"
BATCH_SIZES = (100, 500)
WARMUP_JOBS = 10


@dataclass
class ModeResult:
    jobs: int = 0
    seconds: float = 0.0
    request_ms: list[float] = field(default_factory=list)

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


@dataclass
class RunResult:
    modes: dict[str, ModeResult] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    startup_seconds: float = 0.0


def write_config(directory: Path) -> Path:
    """A station in ``directory``: SQLite and socket there, one simulated printer and no blanks booked."""
    path = directory / "printd.toml"
    path.write_text(
        f"""
[station]
name = "bench"
database = "{directory / "printd.db"}"
socket = "{directory / "printd.sock"}"
low_stock_threshold = 0

[[printer]]
name = "{PRINTER}"
type = "sim"
cards = 100
seconds_per_card = 0.0
ribbon = "kb"
""",
        encoding="utf-8",
    )
    return path


class DaemonThread:
    """The real printd daemon in this process: its own thread and asyncio loop, as `make run` does it."""

    def __init__(self, config_path: Path) -> None:
        self.config = load_config(config_path)
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.daemon: Daemon | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="printd", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.daemon = Daemon(self.config)
            self.loop.run_until_complete(self.daemon.run(on_ready=lambda _: self.ready.set()))
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            self.loop.close()

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        if not self.ready.wait(timeout) or self.error is not None:
            raise RuntimeError(f"printd did not start: {self.error!r}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.daemon is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.daemon.request_stop)
        self.thread.join(timeout)


def job(ref: str, front: str) -> dict[str, object]:
    return {"ref": ref, "front": front}


def measure_single(client: ControlClient, refs: list[str], front: str, result: RunResult) -> ModeResult:
    mode = ModeResult()
    began = time.perf_counter()
    for ref in refs:
        start = time.perf_counter()
        reply = client.call("jobs.submit", {"job": job(ref, front)})
        mode.request_ms.append((time.perf_counter() - start) * 1e3)
        if not isinstance(reply, dict) or reply.get("duplicate") is not False or reply.get("state") != "queued":
            result.problems.append(f"jobs.submit {ref}: unexpected reply {reply!r}")
            break
        mode.jobs += 1
    mode.seconds = time.perf_counter() - began
    return mode


def measure_batches(client: ControlClient, refs: list[str], front: str, size: int, result: RunResult) -> ModeResult:
    mode = ModeResult()
    batches = [[job(ref, front) for ref in refs[i : i + size]] for i in range(0, len(refs), size)]
    began = time.perf_counter()
    for batch in batches:
        start = time.perf_counter()
        reply = client.call("jobs.submit_batch", {"jobs": batch})
        mode.request_ms.append((time.perf_counter() - start) * 1e3)
        accepted = reply.get("accepted") if isinstance(reply, dict) else None
        rejected = reply.get("rejected") if isinstance(reply, dict) else None
        fresh = isinstance(accepted, list) and all(
            isinstance(a, dict) and a.get("duplicate") is False for a in accepted
        )
        if not fresh or len(accepted or []) != len(batch) or rejected:
            result.problems.append(f"jobs.submit_batch of {len(batch)}: {len(accepted or [])} accepted, {rejected!r}")
            break
        mode.jobs += len(batch)
    mode.seconds = time.perf_counter() - began
    return mode


def run_once(jobs: int, run: int, base_dir: Path | None, log_level: str) -> RunResult:
    result = RunResult()
    with tempfile.TemporaryDirectory(prefix="printd-bench-intake-", dir=base_dir) as tmp:
        directory = Path(tmp)
        front = directory / "card.png"
        front.write_bytes(synthetic_card_png("INTAKE", colour=False))
        log_file: IO[str]
        with (directory / "printd.log").open("w", encoding="utf-8") as log_file:
            configure(log_level, json=True, stream=log_file)
            began = time.perf_counter()
            printd = DaemonThread(write_config(directory))
            printd.start()
            result.startup_seconds = time.perf_counter() - began
            try:
                with ControlClient(printd.config.station.socket, timeout=120.0) as client:
                    # Nothing may print while we measure: no blanks are booked, and the printer is paused too.
                    client.call("printers.pause", {"printer": PRINTER})
                    for n in range(WARMUP_JOBS):
                        client.call("jobs.submit", {"job": job(f"warmup-{run}-{n:03d}", str(front))})
                    modes: list[tuple[str, int | None]] = [("single", None)]
                    modes += [(f"batch{size}", size) for size in BATCH_SIZES]
                    for name, size in modes:
                        refs = [f"bench-{run}-{name}-{n:06d}" for n in range(jobs)]
                        if size is None:
                            result.modes[name] = measure_single(client, refs, str(front), result)
                        else:
                            result.modes[name] = measure_batches(client, refs, str(front), size, result)
                    check(client, jobs * len(modes) + WARMUP_JOBS, result)
            finally:
                printd.stop()
                configure("error", json=True, stream=sys.stderr)  # the log file closes with the run
    return result


def check(client: ControlClient, expected: int, result: RunResult) -> None:
    """Every measured job is queued once, nothing printed, no blank moved."""
    status = client.call("status", {})
    if not isinstance(status, dict):
        result.problems.append(f"status: unexpected reply {status!r}")
        return
    queue, stock = status["queue"], status["stock"]
    if queue.get("queued") != expected or sum(queue.values()) != expected:
        result.problems.append(f"expected {expected} queued jobs, the daemon has {queue}")
    if stock.get("issued") or stock.get("spoiled") or stock.get("in_doubt"):
        result.problems.append(f"blanks moved during the measurement: {stock}")
    printer = next((p for p in status["printers"] if p["name"] == PRINTER), None)
    if printer is None or not printer["paused"]:
        result.problems.append("the printer was not paused")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/intake.py",
        description=(
            "Start the real printd daemon in-process (SQLite in a temp dir, one paused simulated printer, no blanks)"
            " and measure, through its Unix socket with ControlClient, how many jobs per second it accepts with"
            " single jobs.submit requests and with jobs.submit_batch in batches of"
            f" {' and '.join(map(str, BATCH_SIZES))}."
        ),
    )
    parser.add_argument("--jobs", type=int, default=2000, help="jobs submitted in each mode, each run (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions, each on a fresh daemon; medians (default 3)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the temporary station goes (its file system sets fsync cost)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.runs < 1:
        parser.error("--jobs and --runs must be at least 1")

    out = console()
    say: Callable[[str], None] = (lambda _: None) if args.json else out.print
    base_dir = args.dir or Path(tempfile.gettempdir())
    filesystem = filesystem_of(base_dir)
    image = synthetic_card_png("INTAKE", colour=False)
    say(
        f"intake: {args.jobs} jobs per mode x {args.runs} run(s); each job's front is one {len(image):,}-byte"
        " 1016x648 PNG written to the temp dir and referenced by absolute file path (the daemon reads and checks it"
        f" per job); every job has a unique ref; station under {base_dir} ({filesystem})"
    )
    if filesystem in ("tmpfs", "ramfs"):
        say("[yellow]warning: the database is on a RAM file system, so fsync costs nothing; use --dir on a disk[/]")

    results: list[RunResult] = []
    for n in range(args.runs):
        result = run_once(args.jobs, n + 1, args.dir, args.log_level)
        results.append(result)
        figures = ", ".join(f"{name} {mode.jobs_per_second:,.0f} jobs/s" for name, mode in result.modes.items())
        say(
            f"  run {n + 1}: {figures}"
            + (f" [red]PROBLEMS: {'; '.join(result.problems)}[/]" if result.problems else "")
        )

    names = ["single", *(f"batch{size}" for size in BATCH_SIZES)]
    per_run = [
        {
            name: {
                "jobs": r.modes[name].jobs,
                "seconds": round(r.modes[name].seconds, 4),
                "jobs_per_second": round(r.modes[name].jobs_per_second, 1),
                "request_p50_ms": round(percentile(r.modes[name].request_ms, 50), 3),
                "request_p99_ms": round(percentile(r.modes[name].request_ms, 99), 3),
            }
            for name in names
            if name in r.modes
        }
        for r in results
    ]
    rate = {name: median([run[name]["jobs_per_second"] for run in per_run if name in run]) for name in names}
    latency = {name: median([run[name]["request_p50_ms"] for run in per_run if name in run]) for name in names}
    ratio = {f"{name}_vs_single": rate[name] / rate["single"] if rate["single"] else 0.0 for name in names[1:]}
    problems = [f"run {n + 1}: {p}" for n, r in enumerate(results) for p in r.problems]

    if not args.json:
        table = run_table(f"Intake through the control socket (medians over {args.runs} run(s))", args.runs)
        for name in names:
            label = "jobs.submit, one job a request" if name == "single" else f"jobs.submit_batch of {name[5:]}"
            table.add_row(
                f"{label} (jobs/s)", f"{rate[name]:,.0f}", *(f"{run[name]['jobs_per_second']:,.0f}" for run in per_run)
            )
        for name in names:
            table.add_row(
                f"  {name} request p50 (ms)",
                f"{latency[name]:.2f}",
                *(f"{run[name]['request_p50_ms']:.2f}" for run in per_run),
            )
        for key, value in ratio.items():
            table.add_row(f"ratio {key.replace('_vs_', ' / ')}", f"{value:.1f}x", *([""] * args.runs))
        out.print(table)
        if problems:
            out.print("[red]Verification FAILED:[/]\n  " + "\n  ".join(problems))
        else:
            out.print("Verified every run: every job accepted once and queued, the printer paused, no blank moved.")

    print_json(
        {
            "benchmark": "intake",
            "jobs": args.jobs,
            "runs": args.runs,
            "batch_sizes": list(BATCH_SIZES),
            "image": {"format": "PNG", "bytes": len(image), "size": [1016, 648], "reference": "absolute file path"},
            "jobs_per_second": {name: round(value, 1) for name, value in rate.items()},
            "request_p50_ms": {name: round(value, 3) for name, value in latency.items()},
            "ratio": {key: round(value, 2) for key, value in ratio.items()},
            "verified": not problems,
            "problems": problems,
            "filesystem": filesystem,
            "per_run": per_run,
            "environment": environment(),
        }
    )
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
