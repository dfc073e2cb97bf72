"""The CUPS side of bench/vs_cups.py: held-queue intake, raw-job dispatch through printdsim, MaxJobs refusals."""

# The scheduler is the private cupsd of tests/cupsd.py (its `private_cupsd` context manager, used as it is),
# with two lines added to its cupsd.conf through its `extra_conf`: LogLevel info (its own debug level would
# tax every job with ~50 log lines, which a production CUPS does not write) and LogTimeFormat usecs, so that
# the error_log's "Started backend" and "Job completed" lines time each job's backend to the microsecond.
# The rest is tests/cupsd.py's configuration, which leaves MaxJobs (500) and SyncOnClose (No: no fsync of the
# spool and job files) at CUPS's defaults.

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cups

from tests.cupsd import PrivateCupsd, SimQueue, missing, private_cupsd

ROOT = Path(__file__).resolve().parent.parent

EXTRA_CONF = "LogLevel info\nLogTimeFormat usecs"
JOB_NAME = "printd card"
HTTP_CONTINUE = 100
JOB_COMPLETED = 9
TERMINAL_STATES = frozenset({7, 8, 9})
PURGE_EVERY = 400  # CUPS refuses a 501st active job (MaxJobs 500): intake is measured in chunks, purged between
MAX_DISPATCH_JOBS = 450  # below MaxJobs, and within the 500 cards of the simulated kb ribbon

Submit = Callable[[Any, str], int]
"""Submit one card job to a queue on a connection; returns the job id (raises cups.IPPError when refused)."""

_LOG_LINE = re.compile(
    r"^\w \[(?P<at>[^\]]+)\] \[Job (?P<job>\d+)\] (?P<what>Started backend|Job completed\.)", re.MULTILINE
)


def unavailable() -> str | None:
    """Why a private cupsd cannot run here (tests/cupsd.py's check), or None."""
    return missing()


@contextlib.contextmanager
def scheduler() -> Iterator[PrivateCupsd]:
    """The private cupsd of tests/cupsd.py, started, with the benchmark's log settings; stopped and removed
    when the block ends (Ctrl-C included)."""
    with private_cupsd(extra_conf=EXTRA_CONF) as server:
        yield server


class CupsSide:
    """One private scheduler, one card document, and fresh queues to a zero-delay simulated printer."""

    def __init__(self, server: PrivateCupsd, document: bytes, directory: Path) -> None:
        self.server = server
        self.document = document
        self.document_file = directory / "card.printd"
        self.document_file.write_bytes(document)
        self.conn: Any = server.connection()
        self._queues = 0

    def queue(self, *, cards: int, held: bool) -> SimQueue:
        """A new raw queue to a fresh simulated printer; ``held``: stopped (cupsdisable), still accepting jobs,
        so that jobs pile up as pending and nothing prints."""
        self._queues += 1
        queue = self.server.add_queue(f"bench-{self._queues}", cards=cards, ribbon="kb")
        if held:
            self.conn.disablePrinter(queue.name)
        return queue

    # --- the two ways pycups submits one job: both are Create-Job + Send-Document on the wire ---

    def print_file(self, conn: Any, queue: str) -> int:
        """cupsPrintFile: the document from a file, one call."""
        return int(
            conn.printFile(queue, str(self.document_file), JOB_NAME, {"document-format": "application/vnd.cups-raw"})
        )

    def create_job(self, conn: Any, queue: str) -> int:
        """createJob + startDocument + writeRequestData + finishDocument: the document from memory, as
        drivers/cups/driver.py sends a card."""
        job_id = int(conn.createJob(queue, JOB_NAME, {}))
        if conn.startDocument(queue, job_id, JOB_NAME, "application/vnd.cups-raw", 1) != HTTP_CONTINUE:
            raise RuntimeError("CUPS did not take the document")
        if conn.writeRequestData(self.document, len(self.document)) != HTTP_CONTINUE:
            raise RuntimeError("CUPS did not take the document")
        conn.finishDocument(queue)
        return job_id

    def methods(self) -> dict[str, Submit]:
        return {"printFile": self.print_file, "createJob": self.create_job}

    # --- queue housekeeping ---

    def active(self, queue: str) -> dict[int, int]:
        """Job id -> state of the queue's jobs not yet ended."""
        jobs = self.conn.getJobs(
            which_jobs="not-completed", my_jobs=False, requested_attributes=["job-id", "job-state", "job-printer-uri"]
        )
        return {
            int(job_id): int(attrs.get("job-state", 0))
            for job_id, attrs in jobs.items()
            if str(attrs.get("job-printer-uri", "")).endswith(f"/{queue}")
        }

    def purge(self, queue: str, timeout: float = 60.0) -> None:
        """Cancel and purge every job of the queue, and wait until CUPS counts none of them as active."""
        self.conn.cancelAllJobs(name=queue, purge_jobs=True)
        deadline = time.monotonic() + timeout
        while self.active(queue):
            if time.monotonic() > deadline:
                raise RuntimeError(f"CUPS still holds active jobs on {queue} {timeout:g} s after purging them")
            time.sleep(0.05)

    def log_text(self) -> str:
        path = self.server.root / "log" / "error_log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@dataclass
class IntakeRun:
    jobs: int = 0
    seconds: float = 0.0
    request_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


def measure_intake(side: CupsSide, queue: str, submit: Submit, jobs: int) -> IntakeRun:
    """``jobs`` single-job requests to a held queue, timed, in chunks of PURGE_EVERY purged untimed between
    (CUPS would refuse the 501st active job). Every chunk is checked: all its jobs pending, none printed."""
    run = IntakeRun()
    done = 0
    while done < jobs:
        chunk = min(PURGE_EVERY, jobs - done)
        began = time.perf_counter()
        for _ in range(chunk):
            start = time.perf_counter()
            try:
                submit(side.conn, queue)
            except (cups.IPPError, cups.HTTPError, RuntimeError) as exc:
                run.problems.append(f"CUPS refused an intake job: {describe(exc)}")
                return run
            run.request_ms.append((time.perf_counter() - start) * 1e3)
        run.seconds += time.perf_counter() - began
        run.jobs += chunk
        done += chunk
        states = side.active(queue)
        if len(states) != chunk or any(state != 3 for state in states.values()):  # 3: pending
            run.problems.append(f"expected {chunk} pending jobs on the held queue, CUPS has {len(states)}")
        side.purge(queue)
    return run


@dataclass
class DispatchRun:
    jobs: int = 0
    wall_seconds: float = 0.0  # first submit to the last job's "Job completed"
    backend_ms: list[float] = field(default_factory=list)  # each job's backend: "Started backend" to "Job completed"
    gap_ms: list[float] = field(default_factory=list)  # one job completed -> the next job's backend started
    submit_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def per_job_ms(self) -> float:
        return self.wall_seconds / self.jobs * 1e3 if self.jobs else 0.0

    @property
    def backend_mean_ms(self) -> float:
        return sum(self.backend_ms) / len(self.backend_ms) if self.backend_ms else 0.0

    @property
    def overhead_ms(self) -> float:
        """CUPS's own time per job: wall time per job minus the backend's own mean time per job."""
        return self.per_job_ms - self.backend_mean_ms


def measure_dispatch(side: CupsSide, jobs: int, timeout: float) -> DispatchRun:
    """``jobs`` raw card jobs submitted as fast as pycups can to an enabled queue printing on a zero-delay
    simulated printer; the wall time from the first submit to the last job completed, and each backend's own
    time from the scheduler's log."""
    run = DispatchRun()
    queue = side.queue(cards=jobs + 20, held=False)
    ids: list[int] = []
    first_submit = time.time()
    began = time.perf_counter()
    for _ in range(jobs):
        try:
            ids.append(side.print_file(side.conn, queue.name))
        except (cups.IPPError, cups.HTTPError) as exc:
            run.problems.append(f"CUPS refused a dispatch job: {describe(exc)}")
            break
    run.submit_seconds = time.perf_counter() - began
    deadline = time.monotonic() + timeout
    while ids:
        state = int(side.conn.getJobAttributes(ids[-1], requested_attributes=["job-state"]).get("job-state", 0))
        if state in TERMINAL_STATES:
            break
        if time.monotonic() > deadline:
            run.problems.append(f"CUPS did not finish {jobs} jobs within {timeout:.0f} s")
            break
        time.sleep(0.02)
    polled_end = time.time()
    run.jobs = len(ids)
    events = job_events(side.log_text(), set(ids))
    ended = [events[i]["completed"] for i in ids if "completed" in events.get(i, {})]
    run.wall_seconds = (max(ended) if len(ended) == len(ids) and ended else polled_end) - first_submit
    for job_id in ids:
        times = events.get(job_id, {})
        if "started" in times and "completed" in times:
            run.backend_ms.append((times["completed"] - times["started"]) * 1e3)
    for a, b in itertools.pairwise(ids):
        if "completed" in events.get(a, {}) and "started" in events.get(b, {}):
            run.gap_ms.append((events[b]["started"] - events[a]["completed"]) * 1e3)
    if len(run.backend_ms) != len(ids):
        run.problems.append(f"the scheduler's log timed {len(run.backend_ms)} of {len(ids)} backends")
    verify_dispatch(side, queue, ids, run)
    side.purge(queue.name)
    return run


def verify_dispatch(side: CupsSide, queue: SimQueue, ids: list[int], run: DispatchRun) -> None:
    """Every job completed with one impression, and the printer's own counters show exactly one card each."""
    wrong = 0
    for job_id in ids:
        attrs = side.conn.getJobAttributes(job_id, requested_attributes=["job-state", "job-impressions-completed"])
        if attrs.get("job-state") != JOB_COMPLETED or attrs.get("job-impressions-completed") != 1:
            wrong += 1
    if wrong:
        run.problems.append(f"{wrong} of {len(ids)} CUPS jobs did not complete with one card")
    truth = queue.model().physical_truth()
    if not (truth.cards_fed == truth.in_hopper == len(ids)) or truth.in_reject_box:
        run.problems.append(
            f"the simulated printer fed {truth.cards_fed} cards, {truth.in_hopper} in the output hopper,"
            f" {truth.in_reject_box} rejected; expected {len(ids)} good cards"
        )


def job_events(log: str, ids: set[int]) -> dict[int, dict[str, float]]:
    """For each job in ``ids``: when its backend started and when the job completed (epoch seconds), from the
    scheduler's error_log written with LogTimeFormat usecs."""
    events: dict[int, dict[str, float]] = {}
    for found in _LOG_LINE.finditer(log):
        job_id = int(found["job"])
        if job_id not in ids:
            continue
        at = dt.datetime.strptime(found["at"], "%d/%b/%Y:%H:%M:%S.%f %z").timestamp()
        key = "started" if found["what"].startswith("Started") else "completed"
        events.setdefault(job_id, {})[key] = at
    return events


@dataclass
class BacklogRun:
    submitted: int = 0
    accepted: int = 0
    refused: int = 0
    seconds: float = 0.0
    first_refusal: int | None = None  # 1-based number of the first refused job
    refusals: dict[tuple[int, str], int] = field(default_factory=dict)  # (IPP status, CUPS's text) -> count
    active_after: int = 0
    problems: list[str] = field(default_factory=list)


def measure_backlog(side: CupsSide, jobs: int) -> BacklogRun:
    """Try to queue ``jobs`` single jobs on a held queue; count what CUPS accepts and what it says when not."""
    run = BacklogRun()
    queue = side.queue(cards=10, held=True)
    began = time.perf_counter()
    for n in range(jobs):
        run.submitted += 1
        try:
            side.print_file(side.conn, queue.name)
            run.accepted += 1
        except cups.IPPError as exc:
            status, text = exc.args[0], str(exc.args[1]) if len(exc.args) > 1 else ""
            run.refused += 1
            run.refusals[(int(status), text)] = run.refusals.get((int(status), text), 0) + 1
            if run.first_refusal is None:
                run.first_refusal = n + 1
    run.seconds = time.perf_counter() - began
    run.active_after = len(side.active(queue.name))
    if run.active_after != run.accepted:
        run.problems.append(f"CUPS accepted {run.accepted} jobs but holds {run.active_after} active")
    side.purge(queue.name)
    return run


def describe(exc: BaseException) -> str:
    """An IPP error as 'client-error-not-possible (0x0404): Too many active jobs.'; others as their text."""
    if isinstance(exc, cups.IPPError) and exc.args:
        status = int(exc.args[0])
        text = str(exc.args[1]) if len(exc.args) > 1 else ""
        return f"{status_name(status)} ({status:#06x}): {text}"
    return f"{type(exc).__name__}: {exc}"


def status_name(status: int) -> str:
    return str(cups.ippErrorString(status))


def backend_direct(document: bytes, runs: int, directory: Path) -> list[float]:
    """The printdsim backend run by hand, as CUPS runs it (same argv shape, DEVICE_URI, a clean environment),
    on the same document, ``runs`` times: its wall time each, in ms."""
    state = directory / "direct-sim.json"
    path = directory / "direct-card.printd"
    path.write_bytes(document)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DEVICE_URI": f"printdsim://{state}?cards={runs + 5}&ribbon=kb&seconds_per_card=0",
    }
    timings: list[float] = []
    for n in range(runs):
        options = f"job-uuid=urn:uuid:{uuid.uuid4()}"
        argv = [sys.executable, "-m", "drivers.cups.backend", str(n + 1), "bench", JOB_NAME, "1", options, str(path)]
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=directory, capture_output=True, timeout=60, check=False)
        timings.append((time.perf_counter() - start) * 1e3)
        if done.returncode != 0:
            raise RuntimeError(f"the printdsim backend exited {done.returncode} when run directly")
    return timings
