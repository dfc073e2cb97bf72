"""Dashboard benchmark: printd-web's page server time with 1,000,000 jobs queued, and the update delay and memory
with 50 live pages open.

What is measured, and how:

- One station: the real printd (``python -m printd.daemon run``, tests/daemon_harness.py) on a SQLite file under
  ``--dir``, two simulated printers of SECONDS_PER_CARD a card, and the real printd-web (``python -m
  printd.web.server``, tests/web_harness.py) against its socket. Before printd starts, ``--jobs`` backlog jobs are
  inserted in bulk into the migrated store (``bench/common.py`` ``bulk_queue``: jobs, their content and history
  rows, the kept queue count); then WALK_INS walk-in and NORMALS normal jobs are submitted through the socket as a
  counter would, and BLANKS blanks are received. Both printers are paused, so the queue stays deep.
- Page server time: signed in as an operator (the pages with every form), each of ``/``, ``/jobs``,
  ``/jobs?state=queued`` (a page of the queue), ``/stock`` and ``/metrics`` is asked WARMUP times, then
  ``--requests`` times, one request after another on one keep-alive HTTP/1.1 connection (httpx); each request's wall
  time from sending it to the last byte of the body. Whatever printd-web asks printd for a page (the jobs list, the
  stock history, status for /metrics) is in that time; the live sections come from its poller's latest reply.
- Live pages: ``--clients`` sessions, each signed in as the operator, hold ``/events`` open (one connection each,
  all in one asyncio process of their own, httpx streaming) and stamp each event with the wall clock when its last
  line arrives. Then changes are made for ``--seconds``: both printers are resumed and print from the queue (walk-ins
  first) at SECONDS_PER_CARD a card, printer p2 is paused and resumed through the socket every TOGGLE_SECONDS, and
  at the end both are paused again. A delay is measured for every (page, change) pair:
  * a card printed: from the ``at`` printd wrote in the card's ``issued`` ledger event (taken in the transaction
    that books the card, just before its commit) to the arrival of the first queue section showing at least that
    many jobs done (the k-th issued card makes the done count k: no card is spoiled or reprinted here);
  * a printer paused or resumed: from just before the ``printers.pause``/``printers.resume`` call is sent on the
    socket (so the call's own round trip is included) to the arrival of the first printers section showing that
    printer in its new state.
  A change that has not reached a page ``--settle`` seconds after the last change is counted as missed. printd-web's
  resident memory is read from /proc/PID/status (VmRSS) with no live page, and with every page open after the
  changes (VmHWM, the peak, too).
- ``--runs`` repeats the page times and the live pages on the same station (the queue stays about ``--jobs`` deep:
  a run prints a few dozen cards); the tables show the median over the runs and each run.
- Checked at the end, with both processes stopped: every response was 200, status counted the queue as inserted,
  the kept queue counts equal a count of the jobs, the ledger balances and its totals equal a fold of its events,
  the done count equals the issued cards, and each simulator fed exactly the blanks the ledger books for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: make `printd`, `drivers`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from rich.table import Table

from bench.common import (
    bulk_queue,
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
from printd.jobs import Priority
from printd.ledger import InvariantError
from printd.store.engines import open_store
from printd.web.live import POLL_SECONDS
from tests.daemon_harness import DaemonProcess, SimSpec
from tests.web_harness import WebProcess

STATION = "bench-web"
PRINTERS = ("p1", "p2")
TOGGLED = "p2"  # paused and resumed during the live run
PAGES = ("/", "/jobs", "/jobs?state=queued", "/stock", "/metrics")
SECONDS_PER_CARD = 0.5
TOGGLE_SECONDS = 2.5
WARMUP = 5
WALK_INS = 20
NORMALS = 200
BLANKS = 50_000
ACCOUNT = "bench-operator"
QUANTILES = ("p50", "p99", "max")
PAGE_GOAL_MS = 100.0
LIVE_GOAL_S = 1.0
READY_TIMEOUT = 120.0

DEFAULTS: dict[str, Any] = {
    "jobs": 1_000_000,
    "requests": 200,
    "clients": 50,
    "seconds": 20.0,
    "settle": 3.0,
    "runs": 3,
}


# ------------------------------------------------------------------------------------------- the station


@dataclass
class Station:
    daemon: DaemonProcess
    web: WebProcess
    face: Path

    def call(self, method: str, params: dict[str, object] | None = None) -> Any:
        with ControlClient(self.daemon.socket, timeout=120) as client:
            return client.call(method, params)


def prepare(directory: Path, jobs: int, say: Callable[[str], None], problems: list[str]) -> tuple[Station, float]:
    """The station with ``jobs`` backlog jobs inserted in bulk, printd and printd-web running; the fill's seconds."""
    printers = [SimSpec(name, seconds_per_card=SECONDS_PER_CARD, encoder=False) for name in PRINTERS]
    daemon = DaemonProcess(directory, printers, station=STATION)
    face = directory / "face.png"
    tiny = synthetic_card_png("QUEUED", size=(64, 40), colour=False)
    face.write_bytes(tiny)
    open_store(daemon.database, station=STATION).close()  # the schema, migrated as printd would
    began = time.monotonic()
    bulk_queue(daemon.database, jobs, tiny, station=STATION, priority=Priority.BACKLOG, prefix="backlog-")
    fill_seconds = time.monotonic() - began
    say(f"  {jobs:,} backlog jobs inserted in {fill_seconds:.1f} s ({daemon.database.stat().st_size / 1e6:,.0f} MB)")
    daemon.start()
    web = WebProcess(daemon, directory)
    station = Station(daemon, web, face)
    for name in PRINTERS:
        station.call("printers.pause", {"printer": name})
    station.call("stock.receive", {"count": BLANKS, "ref": "DO-BENCH-WEB"})
    counter = [
        {"ref": f"{kind}-{n:04d}", "front": str(face), "priority": kind}
        for kind, count in (("walk_in", WALK_INS), ("normal", NORMALS))
        for n in range(count)
    ]
    reply = station.call("jobs.submit_batch", {"jobs": counter})
    if len(reply.get("accepted") or []) != len(counter):
        problems.append(f"the counter's jobs were not all accepted: {reply.get('rejected')!r}")
    queued = station.call("status")["queue"]["queued"]
    if queued != jobs + len(counter):
        problems.append(f"status says {queued} jobs queued, not {jobs + len(counter)}")
    web.start()
    web.add_account(ACCOUNT, "operator")
    return station, fill_seconds


@contextlib.contextmanager
def signed_in(web: WebProcess) -> Iterator[httpx.Client]:
    """An HTTP client of printd-web signed in as the benchmark's operator."""
    with web.client() as http:
        response = web.login(http, ACCOUNT)
        if response.status_code != 303:
            raise RuntimeError(f"signing in as {ACCOUNT} answered {response.status_code}; see {web.log_path}")
        yield http


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of process ``pid``, in kB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


# -------------------------------------------------------------------------------------------- page times


def time_pages(web: WebProcess, requests: int, problems: list[str]) -> dict[str, list[float]]:
    """Each page's request wall times (ms) on one keep-alive connection."""
    found: dict[str, list[float]] = {}
    with signed_in(web) as http:
        for path in PAGES:
            times: list[float] = []
            statuses: set[int] = set()
            for n in range(WARMUP + requests):
                start = time.perf_counter()
                response = http.get(path)
                elapsed = (time.perf_counter() - start) * 1e3
                statuses.add(response.status_code)
                if n >= WARMUP:
                    times.append(elapsed)
            if statuses != {200}:
                problems.append(f"GET {path} answered {sorted(statuses)}: its times are left out")
                times = []
            found[path] = times
    return found


# ------------------------------------------------------------------------------------------- live pages

DONE = re.compile(r'class="job-done(?: nonzero)?">([^<]*)<')
ARTICLE = re.compile(r"<article\b.*?<h3>([^<]*)</h3>(.*?)</article>", re.S)

Arrival = tuple[float, str, Any]  # (wall time, section, what it shows: the done count, or the paused printers)


def summary(name: str, data: str) -> Any:
    """What the benchmark reads in a section: the queue's done count; the printers shown paused."""
    if name == "queue":
        found = DONE.search(data)
        return int(re.sub(r"\D", "", found.group(1)) or -1) if found else None
    if name == "printers":
        return frozenset(m.group(1) for m in ARTICLE.finditer(data) if "/actions/printers/resume" in m.group(2))
    return None


async def listen(url: str, cookies: dict[str, str], arrivals: list[Arrival], ready: asyncio.Event) -> None:
    """One live page: the event stream, each event stamped when its last line arrives."""
    async with (
        httpx.AsyncClient(base_url=url, cookies=cookies, timeout=httpx.Timeout(30.0, read=None)) as http,
        http.stream("GET", "/events") as response,
    ):
        if response.status_code != 200:
            raise RuntimeError(f"/events answered {response.status_code}")
        name, data = "", []
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").removeprefix(" "))
            elif not line:
                if name:
                    arrivals.append((time.time(), name, summary(name, "\n".join(data))))
                    if {"queue", "printers"} <= {a[1] for a in arrivals}:
                        ready.set()
                name, data = "", []


def live_pages(
    url: str, sessions: list[dict[str, str]], ready: ProcessEvent, stop: ProcessEvent, out: Connection
) -> None:
    """In a process of its own: every session's page open until ``stop``; sends each page's arrivals (or an error)."""

    async def run() -> list[list[Arrival]]:
        arrivals: list[list[Arrival]] = [[] for _ in sessions]
        opened = [asyncio.Event() for _ in sessions]
        tasks = [asyncio.create_task(listen(url, s, a, o)) for s, a, o in zip(sessions, arrivals, opened, strict=True)]
        try:
            while not stop.is_set():
                failed = [t for t in tasks if t.done()]
                if failed:
                    raise RuntimeError(f"a live page's stream ended: {failed[0].exception()!r}")
                if all(o.is_set() for o in opened):
                    ready.set()
                await asyncio.sleep(0.05)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return arrivals

    try:
        out.send(("ok", asyncio.run(run())))
    except Exception as exc:  # the parent reports it as a problem
        out.send(("error", repr(exc)))
    finally:
        out.close()


@dataclass
class Change:
    sent: float  # wall time just before the socket call was sent
    printer: str
    paused: bool


@dataclass
class LiveRun:
    clients: int
    card_delays: list[float] = field(default_factory=list)  # seconds, one a (page, card)
    printer_delays: list[float] = field(default_factory=list)  # seconds, one a (page, pause or resume)
    cards: int = 0
    changes: int = 0
    missed: int = 0
    rss_idle_kb: int = 0
    rss_open_kb: int = 0
    hwm_kb: int = 0

    @property
    def delays(self) -> list[float]:
        return self.card_delays + self.printer_delays


def toggle(station: Station, printer: str, paused: bool, changes: list[Change]) -> None:
    sent = time.time()
    station.call("printers.pause" if paused else "printers.resume", {"printer": printer})
    changes.append(Change(sent, printer, paused))


def issued_times(database: Path) -> list[float]:
    """The ``at`` of every issued event, in booking order."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return [float(at) for (at,) in db.execute("SELECT at FROM ledger WHERE kind = 'issued' ORDER BY id")]


def sign_in_pages(web: WebProcess, count: int) -> list[dict[str, str]]:
    """The cookies of ``count`` sessions signed in as the operator, one a live page (kept over the runs)."""
    sessions = []
    for _ in range(count):
        with signed_in(web) as http:
            sessions.append(dict(http.cookies.items()))
    return sessions


def run_live(
    station: Station, sessions: list[dict[str, str]], seconds: float, settle: float, problems: list[str]
) -> LiveRun:
    clients = len(sessions)
    run = LiveRun(clients)
    web = station.web
    assert web.process is not None
    run.rss_idle_kb = memory_kb(web.process.pid)["VmRSS"]
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    receiver, sender = context.Pipe(duplex=False)
    pages = context.Process(target=live_pages, args=(web.url, sessions, ready, stop, sender), name="live-pages")
    pages.start()
    sender.close()
    changes: list[Change] = []
    try:
        if not ready.wait(READY_TIMEOUT):
            raise RuntimeError(f"the {clients} live pages did not all open within {READY_TIMEOUT:.0f} s")
        time.sleep(0.5)
        began = time.time()
        for name in PRINTERS:
            toggle(station, name, False, changes)
        paused = False
        while time.time() - began < seconds:
            time.sleep(min(TOGGLE_SECONDS, max(0.0, seconds - (time.time() - began))))
            if time.time() - began < seconds:
                paused = not paused
                toggle(station, TOGGLED, paused, changes)
        for name in PRINTERS:
            if not (name == TOGGLED and paused):
                toggle(station, name, True, changes)
        ended = time.time()
        time.sleep(settle)
        memory = memory_kb(web.process.pid)
        run.rss_open_kb, run.hwm_kb = memory["VmRSS"], memory.get("VmHWM", 0)
    finally:
        stop.set()
    reply: tuple[str, Any] = receiver.recv() if receiver.poll(60) else ("error", "the live pages sent nothing")
    status, received = reply
    pages.join(30)
    if status != "ok":
        problems.append(f"live pages: {received}")
        return run
    arrivals: list[list[Arrival]] = received
    booked = issued_times(station.daemon.database)
    cards = [(k, at) for k, at in enumerate(booked, start=1) if began <= at <= ended + SECONDS_PER_CARD * 2]
    run.cards, run.changes = len(cards), len(changes)
    if not cards:
        problems.append("no card was printed while the live pages were open")
    for page in arrivals:
        done = [(t, shown) for t, name, shown in page if name == "queue" and isinstance(shown, int)]
        printers = [(t, shown) for t, name, shown in page if name == "printers" and isinstance(shown, frozenset)]
        for k, at in cards:
            seen = next((t for t, shown in done if shown >= k), None)
            if seen is None:
                run.missed += 1
            else:
                run.card_delays.append(seen - at)
        for change in changes:
            seen = next(
                (t for t, shown in printers if t > change.sent and (change.printer in shown) == change.paused), None
            )
            if seen is None:
                run.missed += 1
            else:
                run.printer_delays.append(seen - change.sent)
    if run.missed:
        problems.append(f"{run.missed} change(s) never reached a live page")
    return run


# ------------------------------------------------------------------------------------------------ checks


def check_store(station: Station, problems: list[str]) -> None:
    """With printd stopped: kept counts, the ledger invariant and folds, done = issued, the simulators' blanks."""
    store = open_store(station.daemon.database, station=STATION)
    try:
        if store.queue_counts() != store.queue_counts_from_jobs():
            problems.append(f"kept queue counts {store.queue_counts()} differ from the jobs")
        ledger = store.balance_from_ledger()
        try:
            ledger.check()
        except InvariantError as exc:
            problems.append(f"ledger invariant broken: {exc}")
        if store.balance() != ledger:
            problems.append("the kept stock totals differ from the ledger's fold")
        if store.queue_counts()["done"] != ledger.issued or ledger.spoiled or ledger.in_doubt:
            problems.append(f"done {store.queue_counts()['done']}, issued {ledger.issued}, spoiled {ledger.spoiled}")
        per_printer = store.balance_by_printer_from_ledger()
    finally:
        store.close()
    for name in PRINTERS:
        truth, _ = station.daemon.physical_truth(name)
        issued = per_printer[name].issued if name in per_printer else 0
        if truth.cards_fed != issued:
            problems.append(f"{name} fed {truth.cards_fed} blanks, the ledger books {issued}")


# ------------------------------------------------------------------------------------------------ report


def ms(values: Sequence[float], q: float, scale: float = 1.0) -> float:
    return round(percentile(values, q) * scale, 2)


def page_figures(times: dict[str, list[float]]) -> dict[str, dict[str, float | None]]:
    """p50, p99 and max of each page (ms); None for a page that did not answer 200."""
    return {
        path: {"p50": ms(v, 50), "p99": ms(v, 99), "max": round(max(v), 2)} if v else dict.fromkeys(QUANTILES)
        for path, v in times.items()
    }


def shown(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def live_figures(run: LiveRun) -> dict[str, Any]:
    return {
        "clients": run.clients,
        "cards": run.cards,
        "printer_changes": run.changes,
        "samples": len(run.delays),
        "missed": run.missed,
        "delay_ms": {"p50": ms(run.delays, 50, 1e3), "p99": ms(run.delays, 99, 1e3), "max": ms(run.delays, 100, 1e3)},
        "card_delay_ms": {"p50": ms(run.card_delays, 50, 1e3), "p99": ms(run.card_delays, 99, 1e3)},
        "printer_delay_ms": {"p50": ms(run.printer_delays, 50, 1e3), "p99": ms(run.printer_delays, 99, 1e3)},
        "rss_mb": {
            "idle": round(run.rss_idle_kb / 1024, 1),
            "open": round(run.rss_open_kb / 1024, 1),
            "peak": round(run.hwm_kb / 1024, 1),
        },
    }


def verdict(met: bool) -> str:
    return "[green]MET[/]" if met else "[red]MISSED[/]"


def tables(
    per_run: list[dict[str, Any]], pages: dict[str, Any], live: dict[str, Any], args: argparse.Namespace
) -> list[Table]:
    runs = len(per_run)
    page_table = run_table(
        f"Page server time with {args.jobs:,} jobs queued, ms ({args.requests} requests a page a run, keep-alive;"
        f" medians over {runs} run(s))",
        runs,
    )
    for path in PAGES:
        for q in ("p50", "p99"):
            page_table.add_row(f"{path} {q}", shown(pages[path][q]), *(shown(r["pages"][path][q]) for r in per_run))
    live_table = run_table(
        f"{args.clients} live pages: update delay and printd-web's memory (medians over {runs} run(s))", runs
    )
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("changes: cards printed", lambda f: f"{f['cards']}"),
        ("changes: printer paused or resumed", lambda f: f"{f['printer_changes']}"),
        ("delays measured (page x change)", lambda f: f"{f['samples']:,}"),
        ("missed", lambda f: f"{f['missed']}"),
        ("delay p50 (ms)", lambda f: f"{f['delay_ms']['p50']:.0f}"),
        ("delay p99 (ms)", lambda f: f"{f['delay_ms']['p99']:.0f}"),
        ("delay max (ms)", lambda f: f"{f['delay_ms']['max']:.0f}"),
        (
            "  card printed p50 / p99 (ms)",
            lambda f: f"{f['card_delay_ms']['p50']:.0f} / {f['card_delay_ms']['p99']:.0f}",
        ),
        (
            "  printer paused/resumed p50 / p99 (ms)",
            lambda f: f"{f['printer_delay_ms']['p50']:.0f} / {f['printer_delay_ms']['p99']:.0f}",
        ),
        ("printd-web RSS, no page open (MB)", lambda f: f"{f['rss_mb']['idle']:.1f}"),
        (f"printd-web RSS, {args.clients} pages open (MB)", lambda f: f"{f['rss_mb']['open']:.1f}"),
        ("printd-web peak RSS (MB)", lambda f: f"{f['rss_mb']['peak']:.1f}"),
    ]
    for label, cell in rows:
        live_table.add_row(label, cell(live), *(cell(r["live"]) for r in per_run))
    return [page_table, live_table]


def medians(per_run: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    def page_median(path: str, q: str) -> float | None:
        values = [r["pages"][path][q] for r in per_run if r["pages"][path][q] is not None]
        return round(median(values), 2) if values else None

    pages = {path: {q: page_median(path, q) for q in QUANTILES} for path in PAGES}

    def mid(*keys: str) -> float:
        values = []
        for r in per_run:
            value: Any = r["live"]
            for key in keys:
                value = value[key]
            values.append(value)
        return median(values)

    live = {
        "clients": per_run[0]["live"]["clients"],
        "cards": mid("cards"),
        "printer_changes": mid("printer_changes"),
        "samples": mid("samples"),
        "missed": mid("missed"),
        **{
            group: {q: mid(group, q) for q in per_run[0]["live"][group]}
            for group in ("delay_ms", "card_delay_ms", "printer_delay_ms", "rss_mb")
        },
    }
    return pages, live


# -------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/web.py",
        description=(
            "printd-web against a real printd whose queue holds --jobs jobs: page server time of the station, jobs,"
            " stock and metrics pages, then --clients live pages (server-sent events) while cards print and a"
            " printer is paused and resumed: the delay from each change to each page, and printd-web's memory. See"
            " the module's docstring for what is measured how."
        ),
    )
    parser.add_argument("--jobs", type=int, default=DEFAULTS["jobs"], help="backlog jobs queued (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=DEFAULTS["requests"], help="requests a page a run (200)")
    parser.add_argument("--clients", type=int, default=DEFAULTS["clients"], help="live pages open (default 50)")
    parser.add_argument("--seconds", type=float, default=DEFAULTS["seconds"], help="changes made a run (default 20)")
    parser.add_argument(
        "--settle", type=float, default=DEFAULTS["settle"], help="pages kept open after the last change (default 3)"
    )
    parser.add_argument("--runs", type=int, default=DEFAULTS["runs"], help="repetitions on the station (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary station goes (default: $TMPDIR)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if min(args.jobs, args.requests, args.clients, args.runs) < 1 or min(args.seconds, args.settle) <= 0:
        parser.error("--jobs, --requests, --clients and --runs must be at least 1, --seconds and --settle above 0")

    out = console()
    say: Callable[[str], None] = (lambda _: None) if args.json else out.print
    problems: list[str] = []
    per_run: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="printd-bench-web-", dir=args.dir) as tmp:
        directory = Path(tmp)
        say(
            f"web: {args.jobs:,} backlog jobs + {WALK_INS} walk-in + {NORMALS} normal queued, two simulated printers"
            f" ({SECONDS_PER_CARD} s a card); printd-web polls printd every {POLL_SECONDS * 1000:.0f} ms; station under"
            f" {directory} ({filesystem_of(directory)})"
        )
        station, fill_seconds = prepare(directory, args.jobs, say, problems)
        try:
            sessions = sign_in_pages(station.web, args.clients)
            for n in range(args.runs):
                pages = page_figures(time_pages(station.web, args.requests, problems))
                live = live_figures(run_live(station, sessions, args.seconds, args.settle, problems))
                per_run.append({"pages": pages, "live": live})
                say(
                    f"  run {n + 1}: "
                    + ", ".join(f"{path} p99 {shown(f['p99'])} ms" for path, f in pages.items())
                    + f"; live delay p99 {live['delay_ms']['p99']:.0f} ms over {live['samples']:,} (missed"
                    f" {live['missed']}), RSS {live['rss_mb']['open']:.1f} MB with {args.clients} pages"
                )
            code = station.web.stop()
            if code not in (0, -15):
                problems.append(f"printd-web exited {code} on SIGTERM")
            if station.daemon.stop() != 0:
                problems.append("printd did not exit 0 on SIGTERM")
            check_store(station, problems)
        finally:
            station.web.kill()
            station.daemon.kill()
    load_after = os.getloadavg()
    pages, live = medians(per_run)
    measured = [p99 for path in PAGES if (p99 := pages[path]["p99"]) is not None]
    worst_page_p99 = max(measured) if measured else None
    unmeasured = [path for path in PAGES if pages[path]["p99"] is None]
    goals = {
        "page_p99_ms": {
            "goal": PAGE_GOAL_MS,
            "worst": worst_page_p99,
            "unmeasured": unmeasured,
            "met": worst_page_p99 is not None and worst_page_p99 <= PAGE_GOAL_MS and not unmeasured,
        },
        "live_p99_ms": {
            "goal": LIVE_GOAL_S * 1e3,
            "p99": live["delay_ms"]["p99"],
            "met": live["delay_ms"]["p99"] <= LIVE_GOAL_S * 1e3 and not live["missed"],
        },
    }
    if not args.json:
        for table in tables(per_run, pages, live, args):
            out.print(table)
        out.print(
            f"Goal: page p99 <= {PAGE_GOAL_MS:g} ms with {args.jobs:,} jobs queued: "
            f"{verdict(goals['page_p99_ms']['met'])} (worst {shown(worst_page_p99)} ms"
            + (f"; not measured: {', '.join(unmeasured)})" if unmeasured else ")")
        )
        out.print(
            f"Goal: update delay p99 <= {LIVE_GOAL_S:g} s with {args.clients} pages open, none missed:"
            f" {verdict(goals['live_p99_ms']['met'])} ({live['delay_ms']['p99']:.0f} ms)"
        )
        out.print(
            f"Load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load_before)} at the start,"
            f" {', '.join(f'{x:.2f}' for x in load_after)} at the end; {os.cpu_count()} CPUs."
        )
        if problems:
            out.print("[red]Verification FAILED:[/]\n  " + "\n  ".join(problems))
        else:
            out.print(
                "Verified: every page answered 200, the queue as inserted, kept counts = the jobs, the ledger"
                " invariant and folds, done = issued, each simulator fed what the ledger books."
            )
    print_json(
        {
            "benchmark": "web",
            "jobs": args.jobs,
            "requests": args.requests,
            "clients": args.clients,
            "seconds": args.seconds,
            "runs": args.runs,
            "fill_seconds": round(fill_seconds, 1),
            "seconds_per_card": SECONDS_PER_CARD,
            "poll_ms": POLL_SECONDS * 1000,
            "pages_ms": pages,
            "live": live,
            "goals": goals,
            "verified": not problems,
            "problems": problems,
            "per_run": per_run,
            "load_average": {"start": [round(x, 2) for x in load_before], "end": [round(x, 2) for x in load_after]},
            "environment": environment(),
        }
    )
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
