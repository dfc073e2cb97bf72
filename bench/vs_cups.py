"""printd against CUPS in one run: intake, dispatch overhead per card, and a deep backlog, with the goals."""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: make `printd`, `drivers` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.table import Table

from bench import dispatch as printd_dispatch
from bench import intake as printd_intake
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
from drivers.base import Card
from drivers.cups.document import encode_card
from printd.control.client import ControlClient, DaemonUnreachableError
from tests.components import stop_process

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZES = (500, 5000)
BACKLOG_BATCH = 5000
TINY_SIZE = (64, 40)
PROBE_INTERVAL = 0.1  # seconds between the status calls made while the backlog is queued
WARMUP_JOBS = 10
MB = 1_000_000
BUSY_LOAD = 0.5  # a 1-minute load average above this before the start: something else is running

DEFAULTS: dict[str, int] = {
    "runs": 3,
    "jobs": 1000,
    "batch_jobs": 20_000,
    "dispatch_jobs": 200,
    "cups_backlog": 10_000,
    "backlog": 1_000_000,
    "status_calls": 2000,
    "backend_runs": 5,
}
QUICK: dict[str, int] = {
    "runs": 1,
    "jobs": 100,
    "batch_jobs": 5000,
    "dispatch_jobs": 30,
    "cups_backlog": 1000,
    "backlog": 20_000,
    "status_calls": 200,
    "backend_runs": 2,
}


@dataclass(frozen=True)
class Goal:
    key: str
    label: str
    figure: float
    target: float
    higher_is_better: bool
    unit: str

    @property
    def met(self) -> bool:
        return self.figure >= self.target if self.higher_is_better else self.figure <= self.target

    @property
    def of_goal(self) -> float:
        """The figure as a multiple of the goal (above 1 is better for a floor, below 1 for a ceiling)."""
        return self.figure / self.target if self.target else 0.0

    def show(self, value: float) -> str:
        return f"{value:.2f}x" if self.unit == "x" else f"{value:,.{2 if self.unit == 'ms' else 1}f} {self.unit}"

    def verdict(self) -> str:
        if self.met:
            return "[green]met[/]"
        factor = self.target / self.figure if self.higher_is_better and self.figure else self.of_goal
        return f"[red]missed by {factor:.2f}x[/]"

    def as_dict(self) -> dict[str, object]:
        return {
            "figure": round(self.figure, 4),
            "goal": self.target,
            "op": ">=" if self.higher_is_better else "<=",
            "unit": self.unit,
            "met": self.met,
            "of_goal": round(self.of_goal, 4),
        }


# --------------------------------------------------------------------------------------- printd, a process


class DaemonProcess:
    """The real daemon as systemd runs it: `python -m printd.daemon run --config ...`, in its own session,
    on a station in ``directory`` (bench/intake.py's configuration: one simulated printer, no blanks)."""

    def __init__(self, directory: Path, log_level: str) -> None:
        self.directory = directory
        self.config = printd_intake.write_config(directory)
        self.socket = str(directory / "printd.sock")
        self.database = directory / "printd.db"
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        argv = [sys.executable, "-m", "printd.daemon", "run", "--config", str(self.config)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with (self.directory / "printd.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*argv, "--log-level", self.log_level],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the benchmark, which stops the daemon itself
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"printd exited with status {self.process.returncode} at start:\n{self.log()}")
            try:
                with ControlClient(self.socket, timeout=5.0) as client:
                    client.call("status", {})
                return
            except DaemonUnreachableError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"printd did not answer within {timeout:g} s:\n{self.log()}") from None
                time.sleep(0.05)

    def stop(self, timeout: float = 60.0) -> None:
        process, self.process = self.process, None
        stop_process(process, timeout)

    def memory_kb(self) -> dict[str, int]:
        """VmRSS and VmHWM of the daemon (kB), from /proc/<pid>/status."""
        assert self.process is not None
        found: dict[str, int] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
        return found

    def database_bytes(self) -> dict[str, int]:
        return {
            suffix or "db": (self.database.with_name(self.database.name + suffix).stat().st_size)
            for suffix in ("", "-wal", "-shm")
            if self.database.with_name(self.database.name + suffix).exists()
        }

    def log(self, lines: int = 20) -> str:
        path = self.directory / "printd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@contextlib.contextmanager
def running_daemon(directory: Path, log_level: str) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(directory, log_level)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


def _probe(socket_path: str, interval: float, stop: ProcessEvent, out: Connection) -> None:
    """In a process of its own (no GIL shared with the submitter): time a status call every ``interval``."""
    latencies: list[float] = []
    try:
        with ControlClient(socket_path, timeout=60.0) as client:
            while not stop.is_set():
                start = time.perf_counter()
                client.call("status", {})
                latencies.append((time.perf_counter() - start) * 1e3)
                stop.wait(interval)
    finally:
        out.send(latencies)
        out.close()


@contextlib.contextmanager
def status_probe(socket_path: str) -> Iterator[Callable[[], list[float]]]:
    """Status calls made from another process while the block runs; call the yielded function to stop them
    and get their latencies (ms)."""
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_probe, args=(socket_path, PROBE_INTERVAL, stop, send), daemon=True)
    process.start()
    send.close()
    collected: list[float] = []

    def finish() -> list[float]:
        if not stop.is_set():
            stop.set()
            with contextlib.suppress(EOFError):  # the prober died: it reports no calls, which is checked
                if receive.poll(60.0):
                    collected.extend(receive.recv())
            process.join(10.0)
        return collected

    try:
        yield finish
    finally:
        stop.set()
        process.join(10.0)
        if process.is_alive():
            process.terminate()
            process.join(5.0)


# ------------------------------------------------------------------------------------------------ intake


@dataclass
class IntakeRun:
    printd: printd_intake.RunResult
    cups: dict[str, Any] = field(default_factory=dict)  # method -> cups_side.IntakeRun
    problems: list[str] = field(default_factory=list)


def intake_once(
    run: int, args: argparse.Namespace, directory: Path, front: Path, side: Any, cups_side: Any
) -> IntakeRun:
    result = IntakeRun(printd_intake.RunResult())
    station = directory / f"intake-{run}"
    station.mkdir()
    with running_daemon(station, args.log_level) as daemon, ControlClient(daemon.socket, timeout=300.0) as client:
        client.call("printers.pause", {"printer": printd_intake.PRINTER})  # and no blanks: nothing can print
        for n in range(WARMUP_JOBS):
            client.call("jobs.submit", {"job": printd_intake.job(f"warmup-{run}-{n:03d}", str(front))})
        refs = [f"bench-{run}-single-{n:07d}" for n in range(args.jobs)]
        printd = result.printd
        printd.modes["single"] = printd_intake.measure_single(client, refs, str(front), printd)
        for size in BATCH_SIZES:
            refs = [f"bench-{run}-batch{size}-{n:07d}" for n in range(args.batch_jobs)]
            printd.modes[f"batch{size}"] = printd_intake.measure_batches(client, refs, str(front), size, printd)
        printd_intake.check(client, WARMUP_JOBS + args.jobs + len(BATCH_SIZES) * args.batch_jobs, printd)
    result.problems += [f"printd: {p}" for p in printd.problems]

    queue = side.queue(cards=10, held=True)
    for name, submit in side.methods().items():
        for _ in range(WARMUP_JOBS):
            submit(side.conn, queue.name)
        side.purge(queue.name)
        measured = cups_side.measure_intake(side, queue.name, submit, args.jobs)
        result.cups[name] = measured
        result.problems += [f"CUPS {name}: {p}" for p in measured.problems]
    return result


def intake_summary(runs: list[IntakeRun]) -> dict[str, Any]:
    printd_names = ["single", *(f"batch{size}" for size in BATCH_SIZES)]
    per_run: list[dict[str, dict[str, float]]] = []
    for r in runs:
        entry: dict[str, dict[str, float]] = {}
        for name in printd_names:
            mode = r.printd.modes.get(name)
            if mode is not None:
                entry[f"printd_{name}"] = {
                    "jobs": mode.jobs,
                    "jobs_per_second": round(mode.jobs_per_second, 1),
                    "request_p50_ms": round(percentile(mode.request_ms, 50), 3),
                }
        for name, measured in r.cups.items():
            entry[f"cups_{name}"] = {
                "jobs": measured.jobs,
                "jobs_per_second": round(measured.jobs_per_second, 1),
                "request_p50_ms": round(percentile(measured.request_ms, 50), 3),
            }
        per_run.append(entry)
    keys = [key for key in per_run[0]] if per_run else []
    rate = {key: median([run[key]["jobs_per_second"] for run in per_run if key in run]) for key in keys}
    latency = {key: median([run[key]["request_p50_ms"] for run in per_run if key in run]) for key in keys}
    cups_rates = {key[5:]: value for key, value in rate.items() if key.startswith("cups_")}
    best = max(cups_rates, key=lambda k: cups_rates[k]) if cups_rates else ""
    cups_rate = cups_rates.get(best, 0.0)
    ratio = {name: (rate.get(f"printd_{name}", 0.0) / cups_rate if cups_rate else 0.0) for name in printd_names}
    for run in per_run:
        best_here = max((v["jobs_per_second"] for k, v in run.items() if k.startswith("cups_")), default=0.0)
        for name in printd_names:
            run.setdefault("ratio", {})[name] = (
                round(run[f"printd_{name}"]["jobs_per_second"] / best_here, 3)
                if best_here and f"printd_{name}" in run
                else 0.0
            )
    return {
        "printd_jobs_per_second": {name: round(rate.get(f"printd_{name}", 0.0), 1) for name in printd_names},
        "cups_jobs_per_second": {name: round(value, 1) for name, value in cups_rates.items()},
        "cups_method": best,
        "request_p50_ms": {key: round(value, 3) for key, value in latency.items()},
        "ratio": {name: round(value, 3) for name, value in ratio.items()},
        "per_run": per_run,
    }


# ---------------------------------------------------------------------------------------------- dispatch


@dataclass
class DispatchRun:
    printd: printd_dispatch.RunResult
    cups: Any  # cups_side.DispatchRun


def dispatch_summary(runs: list[DispatchRun], backend_direct_ms: list[float]) -> dict[str, Any]:
    per_run = [
        {
            "printd_overhead_p50_ms": round(percentile(r.printd.overhead_ms, 50), 4),
            "printd_overhead_mean_ms": round(r.printd.summary()["overhead_mean_ms"], 4),
            "printd_txn_p50_ms": round(percentile(r.printd.claim_ms, 50), 4),
            "printd_cards_per_second": round(r.printd.cards_per_second, 1),
            "cups_jobs": r.cups.jobs,
            "cups_per_job_ms": round(r.cups.per_job_ms, 3),
            "cups_backend_ms": round(r.cups.backend_mean_ms, 3),
            "cups_overhead_ms": round(r.cups.overhead_ms, 4),
            "cups_gap_p50_ms": round(percentile(r.cups.gap_ms, 50), 4),
            "cups_submit_seconds": round(r.cups.submit_seconds, 3),
        }
        for r in runs
    ]
    med = {key: median([run[key] for run in per_run]) for key in per_run[0]} if per_run else {}
    cups_overhead = med.get("cups_overhead_ms", 0.0)
    # CUPS's overhead is a difference of two measured figures: should it come out at 0 or below, no ratio
    ratio = med.get("printd_overhead_p50_ms", 0.0) / cups_overhead if cups_overhead > 0 else math.nan
    for run in per_run:
        run["ratio"] = (
            round(run["printd_overhead_p50_ms"] / run["cups_overhead_ms"], 4)
            if run["cups_overhead_ms"] > 0
            else math.nan
        )
    return {
        **{key: round(value, 4) for key, value in med.items()},
        "backend_direct_ms": round(median(backend_direct_ms), 2) if backend_direct_ms else None,
        "backend_time_source": "cupsd error_log (LogTimeFormat usecs): Started backend -> Job completed",
        "ratio": round(ratio, 4),
        "per_run": per_run,
    }


def finite(value: object) -> object:
    """``value`` with NaN and infinities replaced by None, all the way down: the JSON line stays standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


# ----------------------------------------------------------------------------------------------- backlog


def backlog_jobs(start: int, stop: int, front: str) -> list[dict[str, object]]:
    return [printd_intake.job(f"backlog-{n:07d}", front) for n in range(start, stop)]


def submit_backlog(client: ControlClient, start: int, stop: int, front: str, problems: list[str]) -> int:
    """Queue jobs ``start``..``stop`` with jobs.submit_batch of BACKLOG_BATCH; returns how many were accepted."""
    accepted_total = 0
    for first in range(start, stop, BACKLOG_BATCH):
        batch = backlog_jobs(first, min(stop, first + BACKLOG_BATCH), front)
        reply = client.call("jobs.submit_batch", {"jobs": batch})
        accepted = reply.get("accepted") if isinstance(reply, dict) else None
        rejected = reply.get("rejected") if isinstance(reply, dict) else None
        if not isinstance(accepted, list) or len(accepted) != len(batch) or rejected:
            problems.append(f"printd: a backlog batch of {len(batch)}: {len(accepted or [])} accepted, {rejected!r}")
            break
        accepted_total += len(accepted)
    return accepted_total


def printd_backlog(args: argparse.Namespace, directory: Path, say: Callable[[str], None]) -> dict[str, Any]:
    station = directory / "backlog"
    station.mkdir()
    tiny = station / "tiny.png"
    tiny.write_bytes(synthetic_card_png("BACKLOG", size=TINY_SIZE, colour=False))
    total = max(args.backlog, args.cups_backlog)
    problems: list[str] = []
    out: dict[str, Any] = {"jobs": total, "image_bytes": tiny.stat().st_size, "image_size": list(TINY_SIZE)}
    with running_daemon(station, args.log_level) as daemon, ControlClient(daemon.socket, timeout=300.0) as client:
        client.call("printers.pause", {"printer": printd_intake.PRINTER})
        with status_probe(daemon.socket) as finish_probe:
            began = time.perf_counter()
            queued = submit_backlog(client, 0, args.cups_backlog, str(tiny), problems)
            out["first_jobs"] = args.cups_backlog
            out["first_seconds"] = round(time.perf_counter() - began, 3)
            step = max(BACKLOG_BATCH, (total // 10) // BACKLOG_BATCH * BACKLOG_BATCH)
            for start in range(args.cups_backlog, total, step):
                queued += submit_backlog(client, start, min(total, start + step), str(tiny), problems)
                say(f"    printd backlog: {queued:,} queued, {time.perf_counter() - began:.1f} s")
                if problems:
                    break
            out["seconds"] = round(time.perf_counter() - began, 3)
            during = finish_probe()
        if not during:
            problems.append("printd: no status call completed while the backlog was queued")
        out["queued"] = queued
        out["jobs_per_second"] = round(queued / out["seconds"], 1) if out["seconds"] else 0.0
        status = client.call("status", {})
        counted = status.get("queue", {}).get("queued") if isinstance(status, dict) else None
        if counted != total:
            problems.append(f"printd: expected {total:,} queued jobs, status says {counted!r}")
        after: list[float] = []
        for _ in range(args.status_calls):
            call_began = time.perf_counter()
            client.call("status", {})
            after.append((time.perf_counter() - call_began) * 1e3)
        memory = daemon.memory_kb()
        sizes = daemon.database_bytes()
    db_total = sum(sizes.values())
    out.update(
        {
            "status_during_intake": {
                "calls": len(during),
                "p50_ms": round(percentile(during, 50), 3),
                "p99_ms": round(percentile(during, 99), 3),
            },
            "status_after": {
                "calls": len(after),
                "p50_ms": round(percentile(after, 50), 3),
                "p99_ms": round(percentile(after, 99), 3),
                "max_ms": round(max(after), 3) if after else None,
            },
            "vmrss_mb": round(memory.get("VmRSS", 0) * 1024 / MB, 1),
            "vmhwm_mb": round(memory.get("VmHWM", 0) * 1024 / MB, 1),
            "database_bytes": sizes,
            "database_mb": round(db_total / MB, 1),
            "database_bytes_per_job": round(db_total / total, 1) if total else None,
            "problems": problems,
        }
    )
    return out


def cups_backlog_summary(run: Any, cups_side: Any) -> dict[str, Any]:
    refusals = [
        {
            "status": status,
            "status_hex": f"{status:#06x}",
            "name": cups_side.status_name(status),
            "text": text,
            "count": n,
        }
        for (status, text), n in sorted(run.refusals.items())
    ]
    return {
        "jobs": run.submitted,
        "accepted": run.accepted,
        "refused": run.refused,
        "first_refusal": run.first_refusal,
        "refusals": refusals,
        "seconds": round(run.seconds, 3),
        "problems": run.problems,
    }


# ------------------------------------------------------------------------------------------------ output


def goals_of(intake: dict[str, Any], dispatch: dict[str, Any], backlog: dict[str, Any]) -> list[Goal]:
    method = intake["cups_method"]
    printd = backlog["printd"]
    return [
        Goal("intake_single", f"intake: printd jobs.submit / CUPS {method}", intake["ratio"]["single"], 2.0, True, "x"),
        *(
            Goal(
                f"intake_batch{size}",
                f"intake: printd submit_batch of {size:,} / CUPS {method}",
                intake["ratio"][f"batch{size}"],
                20.0,
                True,
                "x",
            )
            for size in BATCH_SIZES
        ),
        Goal("dispatch", "dispatch: printd overhead p50 / CUPS overhead per job", dispatch["ratio"], 0.4, False, "x"),
        Goal(
            "status_p99",
            f"status p99 with {printd['jobs']:,} queued",
            printd["status_after"]["p99_ms"],
            10.0,
            False,
            "ms",
        ),
        Goal("rss", f"daemon VmRSS with {printd['jobs']:,} queued", printd["vmrss_mb"], 100.0, False, "MB"),
    ]


def print_tables(
    out: Any,
    args: argparse.Namespace,
    intake: dict[str, Any],
    dispatch: dict[str, Any],
    backlog: dict[str, Any],
    goals: list[Goal],
) -> None:
    runs = args.runs
    per_run = intake["per_run"]
    table = run_table(
        f"1. Intake: jobs accepted per second, one card each (medians over {runs} run(s); CUPS: held queue)", runs
    )
    labels = {
        "printd_single": f"printd jobs.submit, one job a request ({args.jobs:,} jobs)",
        **{
            f"printd_batch{size}": f"printd jobs.submit_batch of {size:,} ({args.batch_jobs:,} jobs)"
            for size in BATCH_SIZES
        },
        "cups_printFile": f"CUPS pycups printFile, one job a request ({args.jobs:,} jobs)",
        "cups_createJob": f"CUPS pycups createJob+startDocument ({args.jobs:,} jobs)",
    }
    for key, label in labels.items():
        if per_run and key in per_run[0]:
            value = median([run[key]["jobs_per_second"] for run in per_run])
            table.add_row(
                f"{label} (jobs/s)", f"{value:,.0f}", *(f"{run[key]['jobs_per_second']:,.0f}" for run in per_run)
            )
    for key in labels:
        if per_run and key in per_run[0]:
            table.add_row(
                f"  {key.replace('_', ' ', 1)} request p50 (ms)",
                f"{intake['request_p50_ms'][key]:.2f}",
                *(f"{run[key]['request_p50_ms']:.2f}" for run in per_run),
            )
    goal_of = {"single": "2x", **{f"batch{size}": "20x" for size in BATCH_SIZES}}
    for name, value in intake["ratio"].items():
        table.add_row(
            f"ratio printd {name} / CUPS {intake['cups_method']} (goal >= {goal_of[name]})",
            f"{value:.2f}x",
            *(f"{run['ratio'][name]:.2f}x" for run in per_run),
        )
    out.print(table)

    per = dispatch["per_run"]
    table = run_table(
        f"2. Dispatch: {args.dispatch_jobs} cards on a zero-delay simulated printer (medians over {runs} run(s))", runs
    )
    rows: list[tuple[str, str, str]] = [
        ("printd controller overhead per card p50 (ms)", "printd_overhead_p50_ms", "{:.3f}"),
        ("printd controller overhead per card mean (ms)", "printd_overhead_mean_ms", "{:.3f}"),
        ("  printd settle + claim transaction p50 (ms, SQLite FULL commit)", "printd_txn_p50_ms", "{:.3f}"),
        ("printd cards per second", "printd_cards_per_second", "{:,.0f}"),
        ("CUPS wall time per job, first submit to last completed (ms)", "cups_per_job_ms", "{:.2f}"),
        ("CUPS backend's own time per job, mean (ms, subtracted)", "cups_backend_ms", "{:.2f}"),
        ("CUPS overhead per job = wall per job - backend (ms)", "cups_overhead_ms", "{:.3f}"),
        ("  CUPS gap, job completed -> next backend started, p50 (ms)", "cups_gap_p50_ms", "{:.3f}"),
        ("  CUPS time to submit all jobs (s, overlaps printing)", "cups_submit_seconds", "{:.2f}"),
        ("ratio printd overhead p50 / CUPS overhead (goal <= 0.4x)", "ratio", "{:.2f}x"),
    ]
    for label, key, fmt in rows:
        table.add_row(label, fmt.format(dispatch[key]), *(fmt.format(run[key]) for run in per))
    if dispatch.get("backend_direct_ms") is not None:
        table.add_row(
            f"  printdsim backend run directly on the document, median of {args.backend_runs} (ms)",
            f"{dispatch['backend_direct_ms']:.1f}",
            *([""] * runs),
        )
    out.print(table)

    cups, printd = backlog["cups"], backlog["printd"]
    table = Table(title="3. Backlog (one pass)", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right", style="bold")
    table.add_row(f"CUPS: {cups['jobs']:,} jobs, one request each, to a held queue: accepted", f"{cups['accepted']:,}")
    table.add_row("CUPS: refused", f"{cups['refused']:,}")
    if cups["first_refusal"] is not None:
        table.add_row("CUPS: first refused job", f"#{cups['first_refusal']:,}")
    for refusal in cups["refusals"]:
        table.add_row(
            f"CUPS said ({refusal['count']:,}x)",
            f"{refusal['name']} ({refusal['status_hex']}): {refusal['text']}",
        )
    table.add_row("CUPS: time for all the requests (s)", f"{cups['seconds']:.2f}")
    table.add_row(
        f"printd: the same {printd['first_jobs']:,} jobs, submit_batch of {BACKLOG_BATCH:,}: accepted in (s)",
        f"{printd['first_seconds']:.2f}",
    )
    table.add_row(
        f"printd: {printd['jobs']:,} jobs queued ({TINY_SIZE[0]}x{TINY_SIZE[1]} PNG of {printd['image_bytes']} B)",
        f"{printd['queued']:,}",
    )
    table.add_row("printd: time to queue them all (s)", f"{printd['seconds']:.1f}")
    table.add_row("printd: jobs per second over the whole backlog", f"{printd['jobs_per_second']:,.0f}")
    during, after = printd["status_during_intake"], printd["status_after"]
    table.add_row(
        f"printd: status during the intake p50 / p99 (ms, {during['calls']} calls)",
        f"{during['p50_ms']:.2f} / {during['p99_ms']:.2f}",
    )
    table.add_row(
        f"printd: status once queued p50 / p99 (ms, {after['calls']:,} calls; goal p99 <= 10 ms)",
        f"{after['p50_ms']:.2f} / {after['p99_ms']:.2f}",
    )
    table.add_row(
        "printd: daemon VmRSS / VmHWM (MB; goal RSS <= 100 MB)", f"{printd['vmrss_mb']} / {printd['vmhwm_mb']}"
    )
    parts = ", ".join(f"{name} {size / MB:,.1f}" for name, size in printd["database_bytes"].items())
    table.add_row(f"printd: database size (MB: {parts})", f"{printd['database_mb']:,.1f}")
    table.add_row("printd: database bytes per queued job", f"{printd['database_bytes_per_job']:,.0f}")
    out.print(table)

    table = Table(title="Goals", title_justify="left")
    for column in ("goal", "figure", "target", "verdict", "figure / target"):
        table.add_column(column, justify="left" if column in ("goal", "verdict") else "right")
    for goal in goals:
        op = ">=" if goal.higher_is_better else "<="
        table.add_row(
            goal.label, goal.show(goal.figure), f"{op} {goal.show(goal.target)}", goal.verdict(), f"{goal.of_goal:.2f}"
        )
    out.print(table)


# -------------------------------------------------------------------------------------------------- main


def _sizes(profile: dict[str, int]) -> str:
    return ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in profile.items())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/vs_cups.py",
        description=(
            "printd and CUPS side by side, in one run, on a private cupsd (tests/cupsd.py) and printd daemons in"
            " temporary directories. 1. Intake: jobs/s printd accepts over its socket (jobs.submit, jobs.submit_batch"
            " of 500 and 5,000) against one-job pycups requests to a held CUPS queue (goals: 2x single, 20x batch)."
            " 2. Dispatch: printd's controller overhead per card (bench/dispatch.py) against CUPS's per-job time"
            " minus its printdsim backend's own time, both on zero-delay simulated printers (goal: 0.4x)."
            " 3. Backlog: 10,000 jobs into both (CUPS's MaxJobs refusals), then a deep printd backlog: status"
            " latency, daemon memory, database size (goals: status p99 <= 10 ms, RSS <= 100 MB)."
            f" Defaults: {_sizes(DEFAULTS)}."
        ),
    )
    parser.add_argument("--quick", action="store_true", help=f"a ~30 s run: {_sizes(QUICK)} (options given win)")
    parser.add_argument("--runs", type=int, help="repetitions of intake and dispatch; figures are medians")
    parser.add_argument("--jobs", type=int, help="single-request intake jobs per mode and run, printd and CUPS each")
    parser.add_argument("--batch-jobs", type=int, help="jobs per batch mode and run (printd; at least 5000)")
    parser.add_argument(
        "--dispatch-jobs", type=int, help="cards printed per dispatch run, printd and CUPS each (at most 450)"
    )
    parser.add_argument("--cups-backlog", type=int, help="jobs queued into both CUPS and printd in the backlog section")
    parser.add_argument("--backlog", type=int, help="jobs queued into printd in all (batches of 5000)")
    parser.add_argument("--status-calls", type=int, help="status calls timed once the backlog is queued")
    parser.add_argument("--backend-runs", type=int, help="direct runs of the printdsim backend, for reference")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where printd's temporary stations go (its file system sets fsync cost)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else DEFAULTS
    for key, value in profile.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.runs, args.jobs, args.dispatch_jobs, args.cups_backlog, args.backlog, args.status_calls) < 1:
        parser.error("--runs, --jobs, --dispatch-jobs, --cups-backlog, --backlog and --status-calls must be >= 1")
    if args.batch_jobs < max(BATCH_SIZES):
        parser.error(f"--batch-jobs must be at least {max(BATCH_SIZES)}: one full batch of the largest size")
    if args.dispatch_jobs > 450:
        parser.error("--dispatch-jobs is at most 450: CUPS holds 500 active jobs (MaxJobs), the kb ribbon 500 cards")
    if args.backend_runs < 0:
        parser.error("--backend-runs cannot be negative")
    return args


def _interrupt(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = console()
    say: Callable[[str], None] = (lambda _: None) if args.json else out.print
    try:
        from bench import cups_side
    except ImportError as exc:
        print(f"bench/vs_cups.py: cannot drive CUPS: {exc}", file=sys.stderr)
        return 2
    reason = cups_side.unavailable()
    if reason is not None:
        print(f"bench/vs_cups.py: a private CUPS scheduler cannot run here: {reason}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # so that the daemons and cupsd are stopped as on Ctrl-C
    try:
        return run(args, out, say, cups_side)
    except KeyboardInterrupt:
        print(
            "bench/vs_cups.py: interrupted; daemons and cupsd stopped, temporary directories removed", file=sys.stderr
        )
        return 130


def run(args: argparse.Namespace, out: Any, say: Callable[[str], None], cups_side: Any) -> int:
    base_dir = args.dir or Path(tempfile.gettempdir())
    filesystem = filesystem_of(base_dir)
    load_before = os.getloadavg()
    if load_before[0] >= BUSY_LOAD:
        say(
            f"[yellow]warning: the 1-minute load average is {load_before[0]:.2f} before the start: other work competes"
            " for the CPUs and the figures will be noisy[/]"
        )
    png = synthetic_card_png("VS CUPS", colour=False)
    document = encode_card(Card(front=png))
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="printd-bench-vs-cups-", dir=args.dir)))
        front = directory / "card.png"
        front.write_bytes(png)
        server = stack.enter_context(cups_side.scheduler())
        side = cups_side.CupsSide(server, document, directory)
        cups_fs = filesystem_of(server.root)
        say(
            f"vs_cups: one card = a {len(png):,}-byte 1016x648 PNG (printd: its file path; CUPS: the same bytes in"
            f" printd's {len(document):,}-byte raw card document). printd stations under {base_dir} ({filesystem}),"
            f" the private cupsd under {server.root.parent} ({cups_fs}); CUPS runs with its defaults (MaxJobs 500,"
            " no fsync of spool files), printd with SQLite WAL synchronous=FULL."
        )
        if filesystem in ("tmpfs", "ramfs"):
            say("[yellow]warning: printd's database is on a RAM file system, so fsync costs nothing[/]")

        say(f"1. intake: {args.jobs:,} single jobs and {args.batch_jobs:,} per batch mode, x {args.runs} run(s)")
        intake_runs: list[IntakeRun] = []
        for n in range(args.runs):
            result = intake_once(n + 1, args, directory, front, side, cups_side)
            intake_runs.append(result)
            figures = ", ".join(
                [f"printd {k} {m.jobs_per_second:,.0f}/s" for k, m in result.printd.modes.items()]
                + [f"CUPS {k} {m.jobs_per_second:,.0f}/s" for k, m in result.cups.items()]
            )
            say(
                f"  run {n + 1}: {figures}"
                + (f" [red]PROBLEMS: {'; '.join(result.problems)}[/]" if result.problems else "")
            )
        intake = intake_summary(intake_runs)

        say(f"2. dispatch: {args.dispatch_jobs} cards x {args.runs} run(s), printd then CUPS")
        dispatch_runs: list[DispatchRun] = []
        for n in range(args.runs):
            printd_run = printd_dispatch.run_once(args.dispatch_jobs, [png], args.dir, args.log_level)
            cups_run = cups_side.measure_dispatch(side, args.dispatch_jobs, timeout=60.0 + 3.0 * args.dispatch_jobs)
            dispatch_runs.append(DispatchRun(printd_run, cups_run))
            say(
                f"  run {n + 1}: printd overhead p50 {percentile(printd_run.overhead_ms, 50):.3f} ms;"
                f" CUPS {cups_run.per_job_ms:.1f} ms/job, backend {cups_run.backend_mean_ms:.1f} ms,"
                f" overhead {cups_run.overhead_ms:.3f} ms"
            )
        direct = cups_side.backend_direct(document, args.backend_runs, directory) if args.backend_runs else []
        dispatch = dispatch_summary(dispatch_runs, direct)
        dispatch["jobs"] = args.dispatch_jobs

        say(
            f"3. backlog: {args.cups_backlog:,} jobs into CUPS, then"
            f" {max(args.backlog, args.cups_backlog):,} into printd"
        )
        cups_backlog = cups_backlog_summary(cups_side.measure_backlog(side, args.cups_backlog), cups_side)
        say(
            f"  CUPS accepted {cups_backlog['accepted']:,} of {cups_backlog['jobs']:,}"
            f" in {cups_backlog['seconds']:.1f} s"
        )
        backlog = {"cups": cups_backlog, "printd": printd_backlog(args, directory, say)}

    load_after = os.getloadavg()
    problems = [f"intake run {n + 1}: {p}" for n, r in enumerate(intake_runs) for p in r.problems]
    problems += [f"dispatch run {n + 1}: printd: {p}" for n, r in enumerate(dispatch_runs) for p in r.printd.problems]
    problems += [f"dispatch run {n + 1}: CUPS: {p}" for n, r in enumerate(dispatch_runs) for p in r.cups.problems]
    problems += [f"backlog: CUPS: {p}" for p in backlog["cups"]["problems"]]
    problems += [f"backlog: {p}" for p in backlog["printd"]["problems"]]
    if not math.isfinite(dispatch["ratio"]):
        problems.append("dispatch: CUPS's overhead per job came out at 0 or below: no ratio (rerun with more jobs)")
    goals = goals_of(intake, dispatch, backlog)

    if not args.json:
        print_tables(out, args, intake, dispatch, backlog, goals)
        out.print(
            f"Load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load_before)} at the start,"
            f" {', '.join(f'{x:.2f}' for x in load_after)} at the end (the benchmark itself keeps up to 2 CPUs busy)."
        )
        if problems:
            out.print("[red]Verification FAILED:[/]\n  " + "\n  ".join(problems))
        else:
            out.print(
                "Verified: every intake job accepted once and left pending/queued, nothing printed; every dispatched"
                " card printed once on both sides (printd's ledger, CUPS's job states and the simulated printers'"
                " counters agree); every backlog job queued."
            )

    payload: dict[str, object] = {
        "benchmark": "vs_cups",
        "quick": args.quick,
        "runs": args.runs,
        "sizes": {
            key: getattr(args, key)
            for key in ("jobs", "batch_jobs", "dispatch_jobs", "cups_backlog", "backlog", "status_calls")
        },
        "card": {"png_bytes": len(png), "size": [1016, 648], "cups_document_bytes": len(document)},
        "intake": intake,
        "dispatch": dispatch,
        "backlog": backlog,
        "goals": {goal.key: goal.as_dict() for goal in goals},
        "goals_met": all(goal.met for goal in goals),
        "verified": not problems,
        "problems": problems,
        "filesystem": filesystem,
        "loadavg": {"start": [round(x, 2) for x in load_before], "end": [round(x, 2) for x in load_after]},
        "environment": environment(),
    }
    print_json({key: finite(value) for key, value in payload.items()})
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
