"""Stations benchmark: 1, 2, 4 and 8 printd daemons sharing one PostgreSQL database, the single SQLite station
beside them, the store's claim under contention, and ``status`` with 1,000,000 jobs queued.

What is measured, and how:

- cards/s: real daemons (subprocesses), each a station with two simulated printers of zero mechanical time, on a
  fresh database of a throwaway cluster. Every job is submitted through the first station's socket
  (``jobs.submit_batch``, chunks of 5000) before the clock starts, while no station holds a blank, so nothing
  prints; then each station's own custody receives the blanks (``stock.receive`` on its own socket) and printing
  starts. cards/s = issued events in the ledger / (the last issued event's time - the first attempt's start).
  A simulated printer is not free: the real Evolis driver renders each card's panels and the simulator decodes
  them (about 25 ms of CPU a card), so on a small machine this figure is bounded by the CPU the simulators take.
- claim latency, in the daemons: the printer worker's wall time around its claim transaction (``claim_next``, or
  ``settle_and_claim``, which books the card before and claims the next in one commit), timed inside each daemon
  process around those two store calls; only claims that took a job count. It includes the waits for row locks,
  for the CPU and for the interpreter lock.
- claim latency, store only: one process per station, each a ``PostgresStore`` with two threads doing nothing but
  what the printers' workers do with the store (claim, then settle the card and claim the next in one
  transaction), no printing in between: the same wall time around each claim transaction, and the cards/s the
  store itself sustains under that contention.
- double claims: after each run, from the database: jobs with more than one issued card, and pairs of attempts of
  one job of which the second started before the first was settled (goal 0). Every job done, every attempt
  settled, and the ledger invariant per station and for the whole queue are checked too.
- status with 1,000,000 queued: the jobs are inserted in bulk (INSERT ... SELECT over generate_series into jobs,
  job_content and job_events, queue_counts moved by as much) into the schema the station migrated, then VACUUM
  ANALYZE as autovacuum would; then ``status`` over the station's socket N times on one connection, each call's
  wall time: idle (no blank booked, nothing prints), and while the station's two printers print from the backlog.

The daemons run printd's own ``main`` through this script (``--serve-station``), which gives each simulated
printer a ribbon roll for every card of the run (the simulator's holds 500) and no state file (the simulator
would rewrite its whole output hopper after every card), times the claim transactions, and at exit writes the
timings and each printer's physical truth (blanks fed, cards in the output hopper) for the checks.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: make `printd`, `drivers`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.table import Table

from bench.common import (
    bulk_queue,
    console,
    environment,
    filesystem_of,
    percentile,
    print_json,
    synthetic_card_png,
)
from printd.control.client import ControlClient
from printd.jobs import Priority
from printd.ledger import InvariantError
from printd.store import JobContent, NewJob
from printd.store.engines import is_postgres, open_store
from tests.daemon_harness import DaemonProcess, SimSpec
from tests.kill_campaign import connected

ROOT = Path(__file__).resolve().parent.parent
SUBMIT_CHUNK = 5000  # jobs.submit_batch takes at most this many
STATION_SETTINGS = {"low_stock_threshold": 0}
WARMUP_CALLS = 10
CLAIM_GOAL_MS = 20.0
STATUS_GOAL_MS = 10.0
PRINTERS_PER_STATION = 2

DEFAULTS: dict[str, Any] = {
    "jobs": 20_000,
    "stations": "1,2,4,8",
    "claim_jobs": 5000,
    "queued": 1_000_000,
    "status_calls": 1000,
}
QUICK: dict[str, Any] = {"jobs": 40, "stations": "1,2", "claim_jobs": 60, "queued": 2000, "status_calls": 20}


# ---------------------------------------------------------------------------------------- the daemons


def serve_station(config: Path, ribbon_cards: int, report: Path) -> int:
    """printd's own ``main`` on ``config``, each simulated printer with a ribbon for ``ribbon_cards`` cards and the
    claim transactions timed; at exit the timings and each printer's physical truth are written to ``report``."""
    import drivers.sim
    from printd import daemon
    from printd.store.core import SqlStore

    handles: list[Any] = []
    claims_ns: list[int] = []
    make_sim_printer = drivers.sim.make_sim_printer
    claim_next, settle_and_claim = SqlStore.claim_next, SqlStore.settle_and_claim

    def make_with_long_ribbon(name: str, **options: Any) -> Any:
        handle = make_sim_printer(name, **options)
        handle.model.replace_ribbon(cards=ribbon_cards)
        handles.append(handle)
        return handle

    def timed_claim_next(self: SqlStore, printer: str, counters: Any) -> Any:
        start = time.perf_counter_ns()
        claim = claim_next(self, printer, counters)
        if claim is not None:
            claims_ns.append(time.perf_counter_ns() - start)
        return claim

    def timed_settle_and_claim(self: SqlStore, attempt: Any, result: Any, counters: Any) -> Any:
        start = time.perf_counter_ns()
        job, claim = settle_and_claim(self, attempt, result, counters)
        if claim is not None:
            claims_ns.append(time.perf_counter_ns() - start)
        return job, claim

    drivers.sim.make_sim_printer = make_with_long_ribbon  # build_printer looks it up when it builds a printer
    SqlStore.claim_next = timed_claim_next  # type: ignore[method-assign]
    SqlStore.settle_and_claim = timed_settle_and_claim  # type: ignore[method-assign]
    try:
        return daemon.main(["run", "--config", str(config)])
    finally:
        truths = {handle.name: vars(handle.model.physical_truth()) for handle in handles}
        report.write_text(json.dumps({"claim_ms": [ns / 1e6 for ns in claims_ns], "sims": truths}))


@dataclass
class BenchDaemon(DaemonProcess):
    """A station of the benchmark: printd run through `serve_station` (see the module's docstring)."""

    ribbon_cards: int = 1000

    @property
    def report_path(self) -> Path:
        return self.directory / "bench-report.json"

    def write_config(self, extra_station: dict[str, Any] | None = None) -> Path:
        path = super().write_config(extra_station)
        lines = path.read_text().splitlines()
        path.write_text("\n".join(line for line in lines if not line.startswith("state_file = ")) + "\n")
        return path

    def spawn(self, extra_station: dict[str, Any] | None = None) -> subprocess.Popen[bytes]:
        config = self.write_config(extra_station)
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve-station", str(config)]
        argv += ["--ribbon-cards", str(self.ribbon_cards), "--report", str(self.report_path)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=os.environ | {"PYTHONUNBUFFERED": "1"}
            )
        return self.process

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.report_path.read_text())
        return data


class Database:
    """Queries past the daemons, on a connection of the benchmark's own: a SQLite file or a PostgreSQL URL."""

    def __init__(self, setting: str) -> None:
        self.conn: Any
        if is_postgres(setting):
            import psycopg

            self.conn = psycopg.connect(setting, autocommit=True)
            self.param = "%s"
        else:
            self.conn = sqlite3.connect(setting, isolation_level=None, timeout=30)
            self.param = "?"

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.conn.execute(sql.replace("?", self.param), tuple(params)).fetchall()]

    def value(self, sql: str, params: Sequence[object] = ()) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def queue(self) -> dict[str, int]:
        rows = self.rows("SELECT state, sum(count) FROM queue_counts GROUP BY state")
        return {state: int(count) for state, count in rows}

    def close(self) -> None:
        self.conn.close()


DOUBLE_ISSUED = (
    "SELECT count(*) FROM (SELECT job_id FROM ledger WHERE kind = 'issued' GROUP BY job_id HAVING count(*) > 1) t"
)
OVERLAPPING = (
    "SELECT count(*) FROM attempts a JOIN attempts b ON b.job_id = a.job_id AND b.id > a.id"
    " WHERE a.settled_at IS NULL OR b.started_at < a.settled_at"
)


@dataclass
class StationsRun:
    """One run: ``stations`` daemons on one database, ``jobs`` printed."""

    engine: str
    stations: int
    jobs: int
    cards: int = 0
    seconds: float = 0.0
    setup_seconds: float = 0.0
    claim_ms: list[float] = field(default_factory=list)
    double_issued: int = 0
    overlapping: int = 0
    retried_jobs: int = 0
    cards_by_station: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def cards_per_second(self) -> float:
        return self.cards / self.seconds if self.seconds > 0 else 0.0

    @property
    def double_claims(self) -> int:
        return self.double_issued + self.overlapping

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "stations": self.stations,
            "printers": self.stations * PRINTERS_PER_STATION,
            "jobs": self.jobs,
            "cards": self.cards,
            "seconds": round(self.seconds, 2),
            "setup_seconds": round(self.setup_seconds, 1),
            "cards_per_second": round(self.cards_per_second, 1),
            "claim_ms": latency(self.claim_ms),
            "double_claims": self.double_claims,
            "double_issued": self.double_issued,
            "overlapping_attempts": self.overlapping,
            "jobs_with_more_than_one_attempt": self.retried_jobs,
            "cards_by_station": self.cards_by_station,
            "problems": self.problems,
        }


def latency(values: Sequence[float]) -> dict[str, object]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3) if values else None,
    }


def job_dicts(first: int, last: int, front: str) -> list[dict[str, object]]:
    return [{"ref": f"bench-{n:07d}", "front": front} for n in range(first, last)]


def submit(client: ControlClient, jobs: int, front: str, problems: list[str]) -> None:
    for first in range(0, jobs, SUBMIT_CHUNK):
        batch = job_dicts(first, min(jobs, first + SUBMIT_CHUNK), front)
        reply = client.call("jobs.submit_batch", {"jobs": batch})
        accepted = reply.get("accepted") if isinstance(reply, dict) else None
        if not isinstance(accepted, list) or len(accepted) != len(batch):
            problems.append(f"a batch of {len(batch)} jobs: {len(accepted or [])} accepted")
            return


def run_stations(
    engine: str, count: int, jobs: int, face: Path, base: Path, url: str | None, say: Callable[[str], None]
) -> StationsRun:
    """``count`` stations on the database ``url`` (None: one station on its own SQLite file) print ``jobs``."""
    run = StationsRun(engine, count, jobs)
    began = time.monotonic()
    daemons = []
    for k in range(1, count + 1):
        directory = base / f"{engine[0]}{count}-{k}"
        directory.mkdir()
        printers = [
            SimSpec(f"st{k}-{letter}", cards=jobs + 10, seconds_per_card=0.0, ribbon="kb", encoder=False)
            for letter in "ab"[:PRINTERS_PER_STATION]
        ]
        daemons.append(BenchDaemon(directory, printers, station=f"st{k}", database_url=url, ribbon_cards=jobs + 10))
    setting = daemons[0].store_setting
    clients: list[ControlClient] = []
    try:
        for daemon in daemons:  # one after the other: each migrates, registers and locks its station
            daemon.spawn(STATION_SETTINGS)
            clients.append(connected(daemon, 60, 600))
        submit(clients[0], jobs, str(face), run.problems)
        run.setup_seconds = time.monotonic() - began
        if run.problems:
            return run
        for k, client in enumerate(clients, start=1):  # printing starts as each station's custody gets blanks
            client.call("stock.receive", {"count": jobs, "ref": f"DO-{engine}-{count}-{k}"})
        wait_done(Database(setting), daemons, jobs, run, say)
        for client in clients:
            client.close()
        for daemon in daemons:
            code = daemon.stop()
            if code != 0:
                run.problems.append(f"station {daemon.station} exited {code} on SIGTERM")
        measure(run, daemons, setting)
    finally:
        for client in clients:
            client.close()
        for daemon in daemons:
            daemon.kill()
    return run


def wait_done(
    db: Database, daemons: list[BenchDaemon], jobs: int, run: StationsRun, say: Callable[[str], None]
) -> None:
    deadline = time.monotonic() + 120 + jobs * 0.2
    shown = time.monotonic()
    try:
        while True:
            queue = db.queue()
            done = queue.get("done", 0)
            if done + queue.get("failed", 0) + queue.get("in_doubt", 0) >= jobs and not queue.get("printing"):
                return
            dead = [d.station for d in daemons if d.process is not None and d.process.poll() is not None]
            if dead or time.monotonic() > deadline:
                run.problems.append(f"stations {dead} exited" if dead else f"timed out: {queue}")
                return
            if time.monotonic() - shown > 30:
                say(f"    {done:,} of {jobs:,} cards")
                shown = time.monotonic()
            time.sleep(0.25)
    finally:
        db.close()


def measure(run: StationsRun, daemons: list[BenchDaemon], setting: str) -> None:
    """The figures from the ledger and the daemons' reports, and every check, once the daemons have stopped."""
    db = Database(setting)
    try:
        run.cards = int(db.value("SELECT count(*) FROM ledger WHERE kind = 'issued'") or 0)
        first = db.value("SELECT min(started_at) FROM attempts")
        last = db.value("SELECT max(at) FROM ledger WHERE kind = 'issued'")
        run.seconds = float(last) - float(first) if first is not None and last is not None else 0.0
        run.double_issued = int(db.value(DOUBLE_ISSUED) or 0)
        run.overlapping = int(db.value(OVERLAPPING) or 0)
        run.retried_jobs = int(
            db.value("SELECT count(*) FROM (SELECT job_id FROM attempts GROUP BY job_id HAVING count(*) > 1) t") or 0
        )
        run.cards_by_station = {
            str(station): int(n)
            for station, n in db.rows("SELECT station, count(*) FROM ledger WHERE kind = 'issued' GROUP BY station")
        }
        by_printer = {
            str(printer): int(n)
            for printer, n in db.rows("SELECT printer, count(*) FROM ledger WHERE kind = 'issued' GROUP BY printer")
        }
        queue = db.queue()
    finally:
        db.close()
    problems = run.problems
    if queue.get("done") != run.jobs or any(n for state, n in queue.items() if state != "done"):
        problems.append(f"not every job done: {queue}")
    if run.cards != run.jobs:
        problems.append(f"{run.cards} cards issued for {run.jobs} jobs")
    if run.double_claims:
        problems.append(f"double claims: {run.double_issued} jobs issued twice, {run.overlapping} overlapping attempts")
    for daemon in daemons:
        report = daemon.report()
        run.claim_ms += report["claim_ms"]
        for name, truth in report["sims"].items():
            if truth["in_hopper"] != by_printer.get(name, 0) or truth["cards_fed"] != truth["in_hopper"]:
                problems.append(f"printer {name}: ledger issued {by_printer.get(name, 0)}, simulator {truth}")
    check_ledger(setting, daemons[0].station, problems)


def check_ledger(setting: str, station: str, problems: list[str]) -> None:
    """The invariant per station and for the whole queue; every kept total equal to a fold of the ledger."""
    store = open_store(setting, station=station)
    try:
        folded = store.balance_from_ledger()
        per_station = store.balance_by_station_from_ledger()
        for balance in [folded, *per_station.values()]:
            balance.check()
        if store.balance() != folded or store.balance_by_station() != per_station:
            problems.append("the kept stock totals differ from the ledger's fold")
        if store.open_attempts():
            problems.append("attempts left open")
    except InvariantError as exc:
        problems.append(f"ledger invariant broken: {exc}")
    finally:
        store.close()


# ------------------------------------------------------------------------------------ the store alone


def claim_worker(url: str, station: str, go: ProcessEvent, out: Connection) -> None:
    """One station's store in a process of its own, two threads claiming and settling as printers' workers do."""
    from drivers.base import CardResult, Counters, Outcome
    from printd.store.postgres import PostgresStore

    store = PostgresStore(url, station=station)
    found: dict[str, Any] = {}

    def printer(name: str) -> None:
        fed, claims_ns = 0, []
        try:
            go.wait()
            first = time.monotonic()
            start = time.perf_counter_ns()
            claim = store.claim_next(name, Counters(fed))
            while claim is not None:
                claims_ns.append(time.perf_counter_ns() - start)
                fed += 1
                printed = CardResult(Outcome.PRINTED, counters_after=Counters(fed))
                start = time.perf_counter_ns()
                _, claim = store.settle_and_claim(claim.attempt, printed, Counters(fed))
            found[name] = {"cards": fed, "claim_ms": [ns / 1e6 for ns in claims_ns], "from": first}
            found[name]["to"] = time.monotonic()
        except Exception as exc:
            found[name] = {"error": f"{type(exc).__name__}: {exc}"}

    threads = [threading.Thread(target=printer, args=(f"{station}-{n}",)) for n in "ab"[:PRINTERS_PER_STATION]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    out.send(found)
    out.close()


@dataclass
class ClaimRun:
    stations: int
    jobs: int
    cards: int = 0
    seconds: float = 0.0
    claim_ms: list[float] = field(default_factory=list)
    double_issued: int = 0
    overlapping: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def cards_per_second(self) -> float:
        return self.cards / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "stations": self.stations,
            "threads": self.stations * PRINTERS_PER_STATION,
            "jobs": self.jobs,
            "cards": self.cards,
            "seconds": round(self.seconds, 2),
            "cards_per_second": round(self.cards_per_second, 1),
            "claim_ms": latency(self.claim_ms),
            "double_claims": self.double_issued + self.overlapping,
            "problems": self.problems,
        }


def run_store_claims(count: int, jobs: int, face: bytes, url: str) -> ClaimRun:
    run = ClaimRun(count, jobs)
    names = [f"st{k}" for k in range(1, count + 1)]
    for name in names:
        store = open_store(url, station=name)
        try:
            store.register_station([f"{name}-{n}" for n in "ab"[:PRINTERS_PER_STATION]], socket.gethostname(), 0)
            store.receive_stock(jobs, f"DO-{name}", actor="bench")
            if name == names[0]:
                for first in range(0, jobs, SUBMIT_CHUNK):
                    batch = [
                        NewJob(f"claim-{n:07d}", Priority.NORMAL, JobContent(front=face))
                        for n in range(first, min(jobs, first + SUBMIT_CHUNK))
                    ]
                    store.submit_many(batch, actor="bench")
        finally:
            store.close()
    context = multiprocessing.get_context("fork")  # no connection is open here now
    go = context.Event()
    pipes, processes = [], []
    for name in names:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=claim_worker, args=(url, name, go, send), daemon=True)
        process.start()
        send.close()
        pipes.append(receive)
        processes.append(process)
    time.sleep(1.0)  # every process connected and waiting
    go.set()
    spans = []
    for receive, process in zip(pipes, processes, strict=True):
        found: dict[str, Any] = receive.recv() if receive.poll(600) else {"?": {"error": "no answer"}}
        process.join(30)
        for name, result in found.items():
            if "error" in result:
                run.problems.append(f"{name}: {result['error']}")
                continue
            run.cards += result["cards"]
            run.claim_ms += result["claim_ms"]
            spans.append((result["from"], result["to"]))
    run.seconds = max(to for _, to in spans) - min(start for start, _ in spans) if spans else 0.0
    db = Database(url)
    try:
        run.double_issued = int(db.value(DOUBLE_ISSUED) or 0)
        run.overlapping = int(db.value(OVERLAPPING) or 0)
        issued = int(db.value("SELECT count(*) FROM ledger WHERE kind = 'issued'") or 0)
    finally:
        db.close()
    if run.cards != jobs or issued != jobs:
        run.problems.append(f"{run.cards} claims and {issued} issued for {jobs} jobs")
    if run.double_issued or run.overlapping:
        run.problems.append(f"double claims: {run.double_issued} issued twice, {run.overlapping} overlapping")
    return run


# ----------------------------------------------------------------------------- status over a deep queue


def printing_started(client: ControlClient, timeout: float) -> bool:
    """Wait until a card is printing or printed (the printers wake up to the stock), so that status is timed while
    printing; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.call("status", {})
        queue = status.get("queue", {}) if isinstance(status, dict) else {}
        if queue.get("printing", 0) or queue.get("done", 0):
            return True
        time.sleep(0.01)
    return False


@dataclass
class StatusRun:
    queued: int
    insert_seconds: float = 0.0
    idle_ms: list[float] = field(default_factory=list)
    printing_ms: list[float] = field(default_factory=list)
    printed_meanwhile: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "queued": self.queued,
            "insert_seconds": round(self.insert_seconds, 1),
            "status_idle_ms": latency(self.idle_ms),
            "status_printing_ms": latency(self.printing_ms),
            "printed_while_measured": self.printed_meanwhile,
            "problems": self.problems,
        }


def time_status(client: ControlClient, calls: int) -> list[float]:
    for _ in range(WARMUP_CALLS):
        client.call("status", {})
    found = []
    for _ in range(calls):
        start = time.perf_counter()
        client.call("status", {})
        found.append((time.perf_counter() - start) * 1e3)
    return found


def run_status(queued: int, calls: int, face: bytes, base: Path, url: str, say: Callable[[str], None]) -> StatusRun:
    run = StatusRun(queued)
    directory = base / "queued"
    directory.mkdir()
    printers = [SimSpec(f"q-{n}", cards=5000, seconds_per_card=0.0, ribbon="kb", encoder=False) for n in "ab"]
    daemon = BenchDaemon(directory, printers, station="queued", database_url=url, ribbon_cards=5000)
    open_store(url, station="queued").close()  # the schema, migrated as the station would
    began = time.monotonic()
    bulk_queue(url, queued, face)
    run.insert_seconds = time.monotonic() - began
    say(f"  {queued:,} jobs queued in {run.insert_seconds:.0f} s (bulk insert and VACUUM ANALYZE)")
    try:
        daemon.spawn(STATION_SETTINGS)
        with connected(daemon, 60, 600) as client:
            status = client.call("status", {})
            seen = status.get("queue", {}).get("queued") if isinstance(status, dict) else None
            if seen != queued:
                run.problems.append(f"status says {seen!r} jobs queued, not {queued}")
            run.idle_ms = time_status(client, calls)
            client.call("stock.receive", {"count": 5000, "ref": "DO-QUEUED"})
            if not printing_started(client, 60):
                run.problems.append("no card was printing within 60 s of the stock arriving")
            run.printing_ms = time_status(client, calls)
        code = daemon.stop()
        if code != 0:
            run.problems.append(f"the station exited {code} on SIGTERM")
    finally:
        daemon.kill()
    db = Database(url)
    try:
        queue = db.queue()
        run.printed_meanwhile = int(db.value("SELECT count(*) FROM ledger WHERE kind = 'issued'") or 0)
    finally:
        db.close()
    if sum(queue.values()) != queued or queue.get("done", 0) != run.printed_meanwhile:
        run.problems.append(f"queue after the run: {queue}, {run.printed_meanwhile} issued")
    if run.printed_meanwhile == 0:
        run.problems.append("nothing printed while status was timed during printing")
    return run


# ------------------------------------------------------------------------------------------- the run


def server_facts(url: str) -> dict[str, str]:
    db = Database(url)
    try:
        names = ("server_version", "fsync", "synchronous_commit", "shared_buffers", "max_connections")
        return {name: str(db.value(f"SHOW {name}")) for name in names}
    finally:
        db.close()


def station_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--stations takes counts like 1,2,4,8, not {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("--stations takes counts of at least 1")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/stations.py",
        description=(
            "Real printd daemons as stations on one throwaway PostgreSQL cluster (two zero-delay simulated printers"
            " each), the single SQLite station in the same run, the store's claim under contention, and status with"
            " a deep queue; figures: cards/s, claim latency, double claims, status latency. See the module's"
            " docstring for what is measured how."
        ),
    )
    parser.add_argument("--jobs", type=int, default=None, help=f"jobs each run prints (default {DEFAULTS['jobs']})")
    parser.add_argument(
        "--stations", type=station_counts, default=None, help=f"station counts (default {DEFAULTS['stations']})"
    )
    parser.add_argument(
        "--claim-jobs", type=int, default=None, help=f"jobs of each store-only run (default {DEFAULTS['claim_jobs']})"
    )
    parser.add_argument(
        "--queued", type=int, default=None, help=f"queued jobs for status (default {DEFAULTS['queued']})"
    )
    parser.add_argument(
        "--status-calls", type=int, default=None, help=f"status calls timed (default {DEFAULTS['status_calls']})"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--dir", type=Path, default=None, help="where the daemons' files go (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--serve-station", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ribbon-cards", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_station is not None:
        assert args.report is not None
        return serve_station(args.serve_station, args.ribbon_cards, args.report)
    sizes = QUICK if args.quick else DEFAULTS
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, station_counts(value) if key == "stations" else value)
    if min(args.jobs, args.claim_jobs, args.queued, args.status_calls) < 1:
        parser.error("--jobs, --claim-jobs, --queued and --status-calls must be at least 1")

    from tests.postgres import missing, throwaway_cluster

    why = missing()
    if why is not None:
        print(f"bench/stations.py needs a PostgreSQL server: {why}", file=sys.stderr)
        return 2
    out = console()
    say: Callable[[str], None] = (lambda _: None) if args.json else out.print
    signal.signal(signal.SIGTERM, _exit_cleanly)  # the daemons and the cluster are stopped on the way out
    load_before = os.getloadavg()
    face_png = synthetic_card_png("STATIONS BENCHMARK", colour=False)
    tiny_png = synthetic_card_png("QUEUED", size=(64, 40), colour=False)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="st-", dir=args.dir) as tmp, throwaway_cluster() as cluster:
        base = Path(tmp)
        face = base / "face.png"
        face.write_bytes(face_png)
        server = server_facts(cluster.url())
        say(
            f"stations: {args.jobs:,} jobs a run, stations {args.stations}, {PRINTERS_PER_STATION} simulated printers"
            f" a station (0 s a card, {len(face_png):,} B faces); PostgreSQL {server['server_version']} (fsync"
            f" {server['fsync']}, synchronous_commit {server['synchronous_commit']}); files under {base}"
            f" ({filesystem_of(base)}), cluster under {cluster.directory} ({filesystem_of(cluster.directory)})"
        )
        runs: list[StationsRun] = []
        for engine, count in [("sqlite", 1)] + [("postgresql", n) for n in args.stations]:
            say(f"  {engine}, {count} station(s): {count * PRINTERS_PER_STATION} printers print {args.jobs:,} jobs")
            url = cluster.fresh_database() if engine == "postgresql" else None
            run = run_stations(engine, count, args.jobs, face, base, url, say)
            runs.append(run)
            claims = latency(run.claim_ms)
            say(
                f"    {run.cards_per_second:,.1f} cards/s, claim p50 {claims['p50']} ms p99 {claims['p99']} ms,"
                f" double claims {run.double_claims}" + (f" [red]PROBLEMS: {run.problems}[/]" if run.problems else "")
            )
        claim_runs: list[ClaimRun] = []
        for count in args.stations:
            claim_run = run_store_claims(count, args.claim_jobs, face_png, cluster.fresh_database())
            claim_runs.append(claim_run)
            claims = latency(claim_run.claim_ms)
            say(
                f"  store only, {count} station process(es) x {PRINTERS_PER_STATION} threads:"
                f" {claim_run.cards_per_second:,.0f} cards/s, claim p50 {claims['p50']} ms"
                f" p99 {claims['p99']} ms" + (f" [red]PROBLEMS: {claim_run.problems}[/]" if claim_run.problems else "")
            )
        status = run_status(args.queued, args.status_calls, tiny_png, base, cluster.fresh_database(), say)
    problems += [f"{r.engine} {r.stations}: {p}" for r in runs for p in r.problems]
    problems += [f"store only {r.stations}: {p}" for r in claim_runs for p in r.problems]
    problems += [f"status: {p}" for p in status.problems]
    goals = judge(runs, claim_runs, status)
    load_after = os.getloadavg()
    if not args.json:
        out.print(stations_table(runs, claim_runs, args.jobs))
        out.print(status_table(status))
        for line in goal_lines(goals):
            out.print(line)
        out.print(
            f"Load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load_before)} at the start,"
            f" {', '.join(f'{x:.2f}' for x in load_after)} at the end; {os.cpu_count()} CPUs."
        )
        if problems:
            out.print("[red]Verification FAILED:[/]\n  " + "\n  ".join(problems))
        else:
            out.print(
                "Verified every run: every job done with one issued card, no double claim, every attempt settled, the"
                " ledger invariant per station and for the queue, issued = each simulator's output hopper."
            )
    payload: dict[str, object] = {
        "benchmark": "stations",
        "jobs": args.jobs,
        "stations": args.stations,
        "printers_per_station": PRINTERS_PER_STATION,
        "runs": [r.as_dict() for r in runs],
        "store_only": [r.as_dict() for r in claim_runs],
        "status_queued": status.as_dict(),
        "goals": goals,
        "verified": not problems,
        "problems": problems,
        "postgresql": server,
        "load_average": {"start": [round(x, 2) for x in load_before], "end": [round(x, 2) for x in load_after]},
        "environment": environment(),
    }
    print_json(payload)
    return 0 if not problems else 1


def judge(runs: list[StationsRun], claim_runs: list[ClaimRun], status: StatusRun) -> dict[str, object]:
    pg = {r.stations: r for r in runs if r.engine == "postgresql"}
    one, most = pg.get(1), pg.get(max(pg)) if pg else None
    daemon_p99 = max((percentile(r.claim_ms, 99) for r in pg.values()), default=math.nan)
    store_p99 = max((percentile(r.claim_ms, 99) for r in claim_runs), default=math.nan)
    return {
        "cards_per_second_most_vs_one": {
            "stations": most.stations if most else None,
            "ratio": round(most.cards_per_second / one.cards_per_second, 3) if one and most and one.cards else None,
            "met": bool(one and most and most.cards_per_second >= one.cards_per_second),
        },
        "claim_p99_ms": {
            "goal": CLAIM_GOAL_MS,
            "worst_in_daemons": round(daemon_p99, 3),
            "worst_store_only": round(store_p99, 3),
            "met_in_daemons": daemon_p99 <= CLAIM_GOAL_MS,
            "met_store_only": store_p99 <= CLAIM_GOAL_MS,
        },
        "double_claims": {"total": sum(r.double_claims for r in runs), "met": all(not r.double_claims for r in runs)},
        "status_p99_ms": {
            "goal": STATUS_GOAL_MS,
            "idle": round(percentile(status.idle_ms, 99), 3),
            "printing": round(percentile(status.printing_ms, 99), 3),
            "met_idle": percentile(status.idle_ms, 99) <= STATUS_GOAL_MS,
            "met_printing": percentile(status.printing_ms, 99) <= STATUS_GOAL_MS,
        },
    }


def _verdict(met: object) -> str:
    return "[green]MET[/]" if met else "[red]MISSED[/]"


def goal_lines(goals: dict[str, Any]) -> list[str]:
    ratio, claim = goals["cards_per_second_most_vs_one"], goals["claim_p99_ms"]
    status = goals["status_p99_ms"]
    return [
        f"Goal: total cards/s with {ratio['stations']} stations >= 1 station: {_verdict(ratio['met'])}"
        f" (ratio {ratio['ratio']})",
        f"Goal: claim p99 <= {CLAIM_GOAL_MS:g} ms at every station count: in the daemons"
        f" {_verdict(claim['met_in_daemons'])} (worst {claim['worst_in_daemons']} ms), store only"
        f" {_verdict(claim['met_store_only'])} (worst {claim['worst_store_only']} ms)",
        f"Goal: double claims 0: {_verdict(goals['double_claims']['met'])} ({goals['double_claims']['total']})",
        f"Goal: status p99 <= {STATUS_GOAL_MS:g} ms with the queue deep: idle {_verdict(status['met_idle'])}"
        f" ({status['idle']} ms), while printing {_verdict(status['met_printing'])} ({status['printing']} ms)",
    ]


def stations_table(runs: list[StationsRun], claim_runs: list[ClaimRun], jobs: int) -> Table:
    """A row a figure, a column a run: SQLite's one station, then PostgreSQL's station counts."""
    table = Table(
        title=f"Stations: {jobs:,} jobs a run, {PRINTERS_PER_STATION} zero-delay simulated printers a station",
        title_justify="left",
    )
    table.add_column("figure")
    for run in runs:
        table.add_column(f"{'SQLite' if run.engine == 'sqlite' else 'PG'} {run.stations}", justify="right")
    one = next((r for r in runs if r.engine == "postgresql" and r.stations == 1), None)
    store_only = {r.stations: r for r in claim_runs}

    def row(label: str, cell: Callable[[StationsRun], str], postgres_only: bool = False) -> None:
        table.add_row(label, *("-" if postgres_only and r.engine != "postgresql" else cell(r) for r in runs))

    def store_cell(run: StationsRun, cell: Callable[[ClaimRun], str]) -> str:
        found = store_only.get(run.stations)
        return cell(found) if found is not None else "-"

    row("cards/s (daemons)", lambda r: f"{r.cards_per_second:,.1f}")
    if one is not None and one.cards_per_second:
        row("  vs 1 PostgreSQL station", lambda r: f"{r.cards_per_second / one.cards_per_second:.2f}", True)
    row("claim p50 ms (daemons)", lambda r: f"{percentile(r.claim_ms, 50):.2f}")
    row("claim p99 ms (daemons)", lambda r: f"{percentile(r.claim_ms, 99):.2f}")
    row("double claims", lambda r: str(r.double_claims))
    row("measured seconds", lambda r: f"{r.seconds:.1f}")
    row("store-only cards/s", lambda r: store_cell(r, lambda c: f"{c.cards_per_second:,.0f}"), True)
    row("store-only claim p50 ms", lambda r: store_cell(r, lambda c: f"{percentile(c.claim_ms, 50):.2f}"), True)
    row("store-only claim p99 ms", lambda r: store_cell(r, lambda c: f"{percentile(c.claim_ms, 99):.2f}"), True)
    row("store-only double claims", lambda r: store_cell(r, lambda c: str(c.double_issued + c.overlapping)), True)
    return table


def status_table(status: StatusRun) -> Table:
    table = Table(title=f"status over the socket, {status.queued:,} jobs queued on PostgreSQL", title_justify="left")
    for column in ("station", "calls", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "station" else "right")
    for label, values in (("idle (no blanks)", status.idle_ms), ("its 2 printers printing", status.printing_ms)):
        figures = latency(values)
        table.add_row(label, str(figures["n"]), f"{figures['p50']:.2f}", f"{figures['p99']:.2f}", f"{figures['max']}")
    return table


def _exit_cleanly(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
