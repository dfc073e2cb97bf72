"""The SIGKILL campaign: printd killed at random moments in every phase of a card and restarted until the run is
done, the printer simulated in its own process; then every blank checked against the simulator's physical truth.

Each incarnation of the daemon gets a target phase (the least hit so far, now and then one at random), lets a
random number of cards go by, waits for the phase's marker (the simulator's state file, the database, the
daemon's log), waits a random part of the phase's width and sends SIGKILL. The phase the kill landed in is read
from what it left at that moment: the open attempt in the database and the place of its card in the simulator
(which then finishes the one command it was given, before the next daemon starts).

Phases: ``claiming`` (no attempt open: the status read and the claim), ``write_ahead`` (attempt committed, no blank
fed yet), ``encoder`` (the card on its way to or parked at the contactless station, its chip not written yet),
``panels`` (the card in the printer, chip written), ``after_eject`` (the card in the output hopper, its outcome not
committed), ``startup`` (an attempt of an earlier run still open after this run reached the printer); and, not
required, ``booting`` (killed before the printer was reached), ``after_reject`` (a spoiled card in the reject box,
its outcome not committed).

`StationsCampaign` runs the same checks over stations sharing one PostgreSQL database (a throwaway cluster): an
office with two printers and a van with one, each printer a simulator process of its own, the van's blanks
transferred from the office's custody, some jobs bound to one station. Station daemons are killed at random
moments (each printer of a killed daemon is classified into the phases above) and restarted, and the server itself
is killed (SIGKILL), shut down at once (SIGQUIT) or stopped (SIGINT) and started again while they print, now and
then with a daemon killed while it is down. Afterwards every blank each simulator fed is checked against the
ledger, per printer and per station's custody.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from drivers.sim import sim_serial
from drivers.sim.model import EJECT_SHARE, FEED_SHARE, PANELS_SHARE, PrinterModel
from drivers.sim.state import StateFile
from printd.control.client import ControlClient
from printd.store.core import INTERRUPTED
from printd.store.engines import is_postgres
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec
from tests.postgres import Cluster
from tests.sim_serial import ServedSim, served_sim

PRINTER = "crash"
REQUIRED_PHASES = ("claiming", "write_ahead", "encoder", "panels", "after_eject", "startup")
OTHER_PHASES = ("booting", "after_reject", "other")
POLL = 0.001
MARKER_TIMEOUT = 10.0
FINISH_TIMEOUT = 300.0
MAX_TOP_UP = 30
STATION = {"max_attempts": 1000, "low_stock_threshold": 0}
STATIONS = {"office": ("office-1", "office-2"), "van": ("van-1",)}
"""The stations of `StationsCampaign` and their printers; the office receives every blank and hands the van its."""
SERVER_STOPS = ("kill", "immediate", "fast")
"""How `StationsCampaign` takes the server down: SIGKILL, an immediate shutdown (SIGQUIT), a fast one (SIGINT)."""


@dataclass(frozen=True)
class CampaignSettings:
    cards: int = 300
    kills: int = 50
    seconds_per_card: float = 0.02
    seconds_per_encode: float = 0.01
    spoil_rate: float = 0.02
    seed: int = 1
    random_target_share: float = 0.3  # the rest of the time, the least hit phase is the target
    server_restarts: int = 0
    """`StationsCampaign`: times the PostgreSQL server goes down and comes back while the stations print."""

    @property
    def blanks(self) -> int:
        """Blanks loaded in each feeder (and received in the ledger): every card, a spoil a kill, and a margin."""
        return self.cards * 2 + self.kills + 50


@dataclass(frozen=True)
class Kill:
    number: int
    target: str
    phase: str
    after_seconds: float
    printer: str = PRINTER
    """The printer whose phase this is (a daemon killed with two printers makes two of these, one number)."""
    station: str | None = None
    """`StationsCampaign`: the station whose daemon was killed (``target`` is then "random")."""


@dataclass
class CampaignReport:
    settings: CampaignSettings
    kills: list[Kill] = field(default_factory=list)
    server_restarts: list[str] = field(default_factory=list)
    """How the PostgreSQL server went down each time (`SERVER_STOPS`)."""
    in_doubt: int = 0
    settled_not_fed: int = 0
    settled_spoiled: int = 0
    resolved: dict[str, int] = field(default_factory=dict)
    unaccounted: int | None = None
    cards_fed: int = 0
    issued: int = 0
    spoiled: int = 0
    in_hopper: int = 0
    in_reject_box: int = 0
    jobs_done: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def phases(self) -> dict[str, int]:
        counts = collections.Counter(k.phase for k in self.kills)
        return {phase: counts.get(phase, 0) for phase in REQUIRED_PHASES + OTHER_PHASES}

    @property
    def daemon_kills(self) -> int:
        return len({k.number for k in self.kills})

    @property
    def kills_by_station(self) -> dict[str, int]:
        killed = {k.number: k.station for k in self.kills if k.station is not None}
        return dict(sorted(collections.Counter(killed.values()).items()))

    @property
    def auto_settled(self) -> int:
        return self.settled_not_fed + self.settled_spoiled

    def summary(self) -> str:
        phases = ", ".join(f"{phase} {count}" for phase, count in self.phases.items() if count)
        server = f"; server restarts {dict(collections.Counter(self.server_restarts))}" if self.server_restarts else ""
        return (
            f"kills {self.daemon_kills} ({phases}){server}; in doubt {self.in_doubt}; auto-settled"
            f" {self.auto_settled} (not fed {self.settled_not_fed}, spoiled {self.settled_spoiled}); unaccounted"
            f" {self.unaccounted}; issued {self.issued} = hopper {self.in_hopper}; spoiled {self.spoiled} = reject box"
            f" {self.in_reject_box}; {self.seconds:.0f} s"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "cards": self.settings.cards,
            "kills": self.daemon_kills,
            "kills_by_station": self.kills_by_station,
            "phases": self.phases,
            "server_restarts": dict(collections.Counter(self.server_restarts)),
            "in_doubt": self.in_doubt,
            "auto_settled": self.auto_settled,
            "settled_not_fed": self.settled_not_fed,
            "settled_spoiled": self.settled_spoiled,
            "resolved": self.resolved,
            "unaccounted": self.unaccounted,
            "cards_fed": self.cards_fed,
            "issued": self.issued,
            "spoiled": self.spoiled,
            "in_hopper": self.in_hopper,
            "in_reject_box": self.in_reject_box,
            "jobs_done": self.jobs_done,
            "seconds": round(self.seconds, 1),
            "problems": self.problems,
        }


class _Card(msgspec.Struct):
    index: int
    chip_uid: str
    encoded: bool = False


class SimState(msgspec.Struct):
    """What the campaign reads of the simulator's state file."""

    cards_fed: int
    position: str
    card: _Card | None
    hopper: list[_Card]
    reject_box: list[_Card]
    feeder: dict[str, int]
    blanks_loaded: int


class Probe:
    """Reads, without disturbing them, the stations' database (a SQLite file or a PostgreSQL URL, read-only) and
    the simulators' state files. A PostgreSQL server that is down is waited for."""

    def __init__(self, database: str | Path, state_files: dict[str, Path]) -> None:
        self.database = str(database)
        self.state_files = state_files
        self._db: Any = None
        self._states: dict[str, tuple[tuple[int, int, int], SimState]] = {}

    def sim(self, printer: str = PRINTER) -> SimState:
        path = self.state_files[printer]
        while True:
            try:
                stat = os.stat(path)
                key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
                known = self._states.get(printer)
                if known is None or known[0] != key:
                    known = (key, msgspec.json.decode(path.read_bytes(), type=SimState))
                    self._states[printer] = known
                return known[1]
            except FileNotFoundError:  # between the simulator's write and its rename: look again
                time.sleep(POLL)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """``sql`` with ``?`` parameters, on either engine."""
        if not is_postgres(self.database):
            if self._db is None:
                self._db = sqlite3.connect(self.database, isolation_level=None, timeout=10)
                self._db.execute("PRAGMA query_only=ON")
            return list(self._db.execute(sql, tuple(params)).fetchall())
        import psycopg

        deadline = time.monotonic() + FINISH_TIMEOUT
        while True:
            try:
                if self._db is None or self._db.closed:
                    self._db = psycopg.connect(self.database, autocommit=True, connect_timeout=5)
                    self._db.execute("SET default_transaction_read_only = on")
                return [tuple(row) for row in self._db.execute(sql.replace("?", "%s"), tuple(params)).fetchall()]
            except psycopg.OperationalError:
                self.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def open_attempts(self, printer: str | None = None) -> dict[int, int | None]:
        """Open attempt id -> the printer's card counter committed with it (of one printer, or of any)."""
        where = " AND printer = ?" if printer is not None else ""
        sql = f"SELECT id, cards_fed_before FROM attempts WHERE outcome IS NULL{where} ORDER BY id"
        return dict(self.rows(sql, () if printer is None else (printer,)))

    def queue(self) -> dict[str, int]:
        return {
            state: int(count) for state, count in self.rows("SELECT state, sum(count) FROM queue_counts GROUP BY state")
        }

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def log_size(daemon: DaemonProcess) -> int:
    try:
        return daemon.log_path.stat().st_size
    except FileNotFoundError:
        return 0


def log_since(daemon: DaemonProcess, offset: int) -> str:
    try:
        with daemon.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def opened(log: str, printer: str) -> bool:
    """Whether the daemon's log (JSON lines) says it reached ``printer``."""
    return any('"printer.opened"' in line and f'"printer": "{printer}"' in line for line in log.splitlines())


def classify(attempts: dict[int, int | None], inherited: set[int], reached: bool, sim: SimState) -> str:
    """The phase a kill landed in for one printer, from its open attempts and its simulator as the kill left them
    (the simulator may still finish the command it was given, which start-up settlement then sees); ``inherited``:
    attempts open when this daemon started; ``reached``: the daemon had opened the printer."""
    if not attempts:
        return "claiming" if reached else "booting"
    attempt = max(attempts)
    if attempt in inherited:
        return "startup" if reached else "booting"
    before = attempts[attempt]
    if before is None:
        return "other"
    if sim.cards_fed == before:
        return "write_ahead"
    index = before + 1
    if sim.cards_fed != index:
        return "other"
    if sim.card is not None and sim.card.index == index:
        return "panels" if sim.card.encoded else "encoder"
    if any(card.index == index for card in sim.hopper):
        return "after_eject"
    if any(card.index == index for card in sim.reject_box):
        return "after_reject"
    return "other"


def connected(daemon: DaemonProcess, timeout: float = 30, call_timeout: float = 60) -> ControlClient:
    """A client of ``daemon`` (its calls answered within ``call_timeout``) once it answers ``status``."""
    deadline = time.monotonic() + timeout
    while True:
        client = ControlClient(daemon.socket, timeout=call_timeout)
        try:
            client.connect()
            client.call("status", {})
            return client
        except Exception:
            client.close()
            process = daemon.process
            if time.monotonic() > deadline or (process is not None and process.poll() is not None):
                raise RuntimeError(f"printd did not start:\n{daemon.log_path.read_text()[-3000:]}") from None
            time.sleep(0.05)


class _Verdict:
    """The end of a campaign, whatever killed what: let every station finish, resolve the jobs in doubt from the
    simulators' output hoppers and reject boxes, and check every blank against the physical truth."""

    settings: CampaignSettings
    report: CampaignReport
    probe: Probe
    refs: list[str]
    stations: dict[str, tuple[DaemonProcess, tuple[str, ...]]]
    """Station name -> its daemon and its printers."""

    def _progress(self) -> int:
        """Jobs past their printing: done, in doubt (a card that may be good), failed."""
        queue = self.probe.queue()
        return sum(queue.get(state, 0) for state in ("done", "in_doubt", "failed"))

    def _printers(self) -> list[str]:
        return [printer for _, printers in self.stations.values() for printer in printers]

    def _station_of(self, printer: str) -> str:
        return next(name for name, (_, printers) in self.stations.items() if printer in printers)

    def _finish(self) -> None:
        clients = {}
        for name, (daemon, _) in self.stations.items():
            if daemon.process is None:
                daemon.spawn(STATION)
            clients[name] = connected(daemon)
        self._wait_idle()
        self._check_before_resolving()
        resolved: collections.Counter[str] = collections.Counter()
        for job in self._jobs_in_doubt():
            resolution, printer = self._resolution(job)
            clients[self._station_of(printer)].call(
                "jobs.resolve",
                {"job": job, "resolution": resolution, "note": "checked against the simulator's hopper and reject box"},
            )
            resolved[resolution] += 1
        self.report.resolved = dict(resolved)
        self._wait_idle()
        for name, (daemon, _) in self.stations.items():
            clients[name].close()
            code = daemon.stop()
            if code != 0:
                self.report.problems.append(f"printd of {name} exited {code} on SIGTERM")

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + FINISH_TIMEOUT
        while True:
            queue = self.probe.queue()
            if not queue.get("queued") and not queue.get("printing") and not self.probe.open_attempts():
                return
            if time.monotonic() > deadline:
                logs = "\n".join(log_since(daemon, 0)[-3000:] for daemon, _ in self.stations.values())
                raise RuntimeError(f"the run did not finish: {queue}; logs:\n{logs}")
            time.sleep(0.05)

    def _check_before_resolving(self) -> None:
        """Every blank that left a feeder is in the ledger as issued, spoiled or in doubt."""
        totals = dict(self.probe.rows("SELECT place, sum(count) FROM stock_totals GROUP BY place"))
        fed = sum(self.probe.sim(printer).cards_fed for printer in self._printers())
        booked = sum(int(totals.get(place) or 0) for place in ("issued", "spoiled", "in_doubt"))
        self.report.unaccounted = fed - booked
        if self.report.unaccounted != 0:
            self.report.problems.append(
                f"{fed} blanks left the feeders but {booked} are booked issued, spoiled or in doubt"
            )

    def _jobs_in_doubt(self) -> list[int]:
        return [job for (job,) in self.probe.rows("SELECT id FROM jobs WHERE state = 'in_doubt' ORDER BY id")]

    def _resolution(self, job: int) -> tuple[str, str]:
        """What an operator finds: the in-doubt card in its printer's output hopper (printed) or reject box
        (spoiled); and that printer."""
        before, after, printer = self.probe.rows(
            "SELECT cards_fed_before, cards_fed_after, printer FROM attempts WHERE job_id = ? AND outcome = 'unknown'"
            " ORDER BY id DESC LIMIT 1",
            (job,),
        )[0]
        sim = self.probe.sim(printer)
        if before is None or after != before + 1:
            self.report.problems.append(f"job {job}: in doubt with the counter moving {before} -> {after}")
            return "spoiled", printer
        index = before + 1
        if any(card.index == index for card in sim.hopper):
            return "printed", printer
        if any(card.index == index for card in sim.reject_box):
            return "spoiled", printer
        self.report.problems.append(f"job {job}: its blank {index} is neither in the hopper nor in the reject box")
        return "spoiled", printer

    # ---- the physical truth ---------------------------------------------------------------------------------

    def _check_against_the_truth(self) -> None:
        report, problems = self.report, self.report.problems
        sims = {printer: self.probe.sim(printer) for printer in self._printers()}
        daemon, _ = next(iter(self.stations.values()))
        store = daemon.open_store()
        try:
            try:
                assert_ledger_consistent(store)  # the kept totals equal the ledger's fold; the invariant per station
            except AssertionError as exc:
                problems.append(f"the ledger invariant does not hold: {exc}")
            balance = store.balance()
            custody = store.balance_by_station()
            by_printer = store.balance_by_printer()
            events = store.ledger_events()
        finally:
            store.close()
        report.cards_fed = sum(sim.cards_fed for sim in sims.values())
        report.issued, report.spoiled = balance.issued, balance.spoiled
        report.in_hopper = sum(len(sim.hopper) for sim in sims.values())
        report.in_reject_box = sum(len(sim.reject_box) for sim in sims.values())
        report.in_doubt = sum(1 for e in events if e["kind"] == "in_doubt")
        settled = dict(
            self.probe.rows(
                "SELECT outcome, count(*) FROM attempts WHERE detail LIKE ? GROUP BY outcome", (INTERRUPTED + "%",)
            )
        )
        report.settled_not_fed, report.settled_spoiled = settled.get("not_fed", 0), settled.get("spoiled", 0)
        one = len(sims) == 1
        expect: list[tuple[str, object, object]] = [
            ("in doubt after resolving", balance.in_doubt, 0),
            ("received vs blanks loaded", balance.received, sum(sim.blanks_loaded for sim in sims.values())),
        ]
        for printer, sim in sims.items():
            named = "" if one else f"{printer}: "
            booked = by_printer.get(printer, {})
            expect += [
                (f"{named}blanks in the printer", sim.card is not None, False),
                (f"{named}issued vs cards in the output hopper", booked.get("issued", 0), len(sim.hopper)),
                (f"{named}spoiled vs cards in the reject box", booked.get("spoiled", 0), len(sim.reject_box)),
                (f"{named}blanks fed vs hopper + reject box", sim.cards_fed, len(sim.hopper) + len(sim.reject_box)),
            ]
        for name, (_, printers) in self.stations.items():
            on_hand = custody[name].on_hand if name in custody else 0
            feeders = sum(sims[printer].feeder["count"] for printer in printers)
            expect.append((f"{'' if one else name + ': '}on hand vs blanks in the feeder", on_hand, feeders))
        problems.extend(f"{what}: {got} != {want}" for what, got, want in expect if got != want)
        self._check_each_card(sims)

    def _check_each_card(self, sims: dict[str, SimState]) -> None:
        """Each card in a hopper is one job's good card, each in a reject box a spoiled one; no job lost."""
        problems = self.report.problems
        jobs = dict(self.probe.rows("SELECT ref, state FROM jobs"))
        self.report.jobs_done = sum(1 for state in jobs.values() if state == "done")
        lost = [ref for ref in self.refs if jobs.get(ref) != "done"]
        if lost or len(jobs) != len(self.refs):
            problems.append(f"{len(lost)} job(s) not done (e.g. {lost[:3]}), {len(jobs)} jobs for {len(self.refs)}")
        good: collections.Counter[str] = collections.Counter()
        for printer, sim in sims.items():
            named = "" if len(sims) == 1 else f"{printer}: "
            fed: dict[int, tuple[str, str, str | None]] = {}
            for before, ref, outcome, uid in self.probe.rows(
                "SELECT a.cards_fed_before, j.ref, a.outcome, a.chip_uid FROM attempts a JOIN jobs j ON j.id = a.job_id"
                " WHERE a.outcome != 'not_fed' AND a.printer = ? ORDER BY a.id",
                (printer,),
            ):
                if before + 1 in fed:
                    problems.append(f"{named}blank {before + 1} is booked by two attempts")
                fed[before + 1] = (ref, outcome, uid)
            placed = {card.index for card in sim.hopper} | {card.index for card in sim.reject_box}
            if set(fed) != placed:
                problems.append(
                    f"{named}blanks booked but not fed, or fed but not booked: {sorted(set(fed) ^ placed)[:5]}"
                )
            for card in sim.hopper:
                ref, outcome, uid = fed.get(card.index, (None, None, None))
                if outcome not in ("printed", "resolved:issued"):
                    problems.append(f"{named}blank {card.index} in the output hopper was booked {outcome}")
                if uid is not None and uid != card.chip_uid:
                    problems.append(f"{named}blank {card.index} carries chip {card.chip_uid}, booked as {uid}")
                if ref is not None:
                    good[ref] += 1
            for card in sim.reject_box:
                _, outcome, _ = fed.get(card.index, (None, None, None))
                if outcome not in ("spoiled", "resolved:spoiled"):
                    problems.append(f"{named}blank {card.index} in the reject box was booked {outcome}")
        twice = sorted(ref for ref, n in good.items() if n > 1)
        missing = sorted(set(self.refs) - set(good))
        if twice:
            problems.append(f"{len(twice)} ref(s) with two good cards and no reprint asked: {twice[:3]}")
        if missing:
            problems.append(f"{len(missing)} ref(s) without a good card in an output hopper: {missing[:3]}")


def _sim_options(settings: CampaignSettings, daemon: DaemonProcess, name: str, seed: int) -> dict[str, Any]:
    """How a printer's simulator is served: its state file, link and encoder socket beside its daemon's files."""
    return {
        "state_file": daemon.state_file(name),
        "name": name,
        "cards": settings.blanks,
        "seconds_per_card": settings.seconds_per_card,
        "seconds_per_encode": settings.seconds_per_encode,
        "spoil_rate": settings.spoil_rate,
        "seed": seed,
        "ribbon": "kb",
        "encoder_socket": daemon.directory / f"{name}.enc",
        "link": daemon.directory / f"{name}.tty",
    }


def _served_spec(options: dict[str, Any]) -> SimSpec:
    """The daemon's side of a served simulator: the real Evolis driver over its pty, its encoder beside it."""
    return SimSpec(
        options["name"],
        ribbon="kb",
        transport=f"serial://{options['link']}?baudrate=115200",
        encoder_url=f"sim+unix://{options['encoder_socket']}",
    )


class Campaign(_Verdict):
    """One campaign in ``directory``: a simulator process, a daemon process restarted after each kill."""

    def __init__(
        self, directory: Path, settings: CampaignSettings, on_kill: Callable[[Kill], None] | None = None
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.on_kill = on_kill
        self.rng = random.Random(settings.seed)
        self.report = CampaignReport(settings)
        self.daemon = DaemonProcess(directory, [])
        self.sim_options = _sim_options(settings, self.daemon, PRINTER, settings.seed)
        self.daemon.printers = [_served_spec(self.sim_options)]
        self.stations = {self.daemon.station: (self.daemon, (PRINTER,))}
        self.probe = Probe(self.daemon.database, {PRINTER: self.daemon.state_file(PRINTER)})
        self.refs = [f"crash-{n:05d}" for n in range(settings.cards)]
        self._progress_at_start = 0
        self._skipped = 0

    # ---- the whole run ------------------------------------------------------------------------------------

    def run(self) -> CampaignReport:
        s = self.settings
        started = time.monotonic()
        try:
            with served_sim(self.directory, **self.sim_options) as sim:
                self._submit()
                self._progress_at_start = self._progress()
                while len(self.report.kills) < s.kills and self._progress() < s.cards:
                    self._incarnation()
                for _ in range(MAX_TOP_UP if s.kills >= len(REQUIRED_PHASES) else 0):
                    # a phase never hit by chance gets kills of its own
                    missing = [p for p in REQUIRED_PHASES if self.report.phases[p] == 0]
                    if not missing or self._progress() >= s.cards:
                        break
                    self._incarnation(self.rng.choice(missing))
                self._finish()
                code = sim.stop()
                if code != 0:
                    self.report.problems.append(f"the simulator exited {code} on SIGTERM")
            self._check_against_the_truth()
        finally:
            self.daemon.kill()
            self.probe.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _submit(self) -> None:
        face = self.directory / "face.png"
        face.write_bytes(card_png("CRASH CAMPAIGN - NOT AN IDENTITY DOCUMENT"))
        self.daemon.spawn(STATION)
        client = connected(self.daemon)
        client.call("stock.receive", {"count": self.settings.blanks, "ref": "DO-CRASH"})
        jobs = [{"ref": ref, "front": str(face), "chip": f"CHIP {ref}"} for ref in self.refs]
        result = client.call("jobs.submit_batch", {"jobs": jobs})
        assert isinstance(result, dict) and not result["rejected"], result
        client.close()

    # ---- one incarnation: start, aim, kill, classify ----------------------------------------------------

    def _incarnation(self, target: str | None = None) -> None:
        """Start printd (unless the first one, which took the jobs, still runs), aim, kill, classify."""
        running = self.daemon.process
        inherited = self.probe.open_attempts() if running is None else {}
        if target is None or (target == "startup" and not inherited) or (running and target in ("claiming", "startup")):
            target = self._choose_target(bool(inherited), fresh=running is None)
        progress = self._progress()
        skip = self._cards_to_skip(progress) if target not in ("claiming", "startup") else 0
        self._skipped += skip
        offset = log_size(self.daemon)
        process = running or self.daemon.spawn(STATION)
        spawned = time.monotonic()
        window = self._wait_for_marker(target, set(inherited), offset, min(progress + skip, self.settings.cards - 1))
        time.sleep(self.rng.uniform(0.0, window))
        process.kill()
        process.wait(10)
        self.daemon.process = None
        after = time.monotonic() - spawned
        reached = '"printer.opened"' in log_since(self.daemon, offset)
        phase = classify(self.probe.open_attempts(), set(inherited), reached, self.probe.sim())
        # The simulator finishes the command it was given before the next daemon reaches it.
        time.sleep(self.settings.seconds_per_card + self.settings.seconds_per_encode + 0.02)
        kill = Kill(len(self.report.kills) + 1, target, phase, after)
        self.report.kills.append(kill)
        if self.on_kill is not None:
            self.on_kill(kill)

    def _choose_target(self, inherited: bool, *, fresh: bool) -> str:
        """Start-up settlement whenever it is due and least hit; else the least hit phase, now and then any."""
        counts = collections.Counter(k.phase for k in self.report.kills)
        at_start = () if fresh else ("claiming", "startup")  # phases only a daemon starting now goes through
        candidates = [p for p in REQUIRED_PHASES if (inherited or p != "startup") and p not in at_start]
        if inherited and counts["startup"] <= min(counts[p] for p in REQUIRED_PHASES):
            return "startup"  # the chance to hit it comes only after some kills
        if self.rng.random() < self.settings.random_target_share:
            return self.rng.choice(candidates)
        fewest = min(counts[p] for p in candidates)
        return self.rng.choice([p for p in candidates if counts[p] == fewest])

    def _cards_to_skip(self, progress: int) -> int:
        """Spread the kills over the run: cards let go by before aiming, on average a little less than the cards
        left over the kills left, less what the kills themselves move on (a card killed after its eject is past
        printing; a missed phase may let one through)."""
        kills = len(self.report.kills)
        left = max(1, self.settings.kills - kills)
        moved_by_kills = max(0, progress - self._progress_at_start - self._skipped) / max(1, kills)
        mean = 0.8 * max(0.0, (self.settings.cards - progress) / left - moved_by_kills)
        return math.floor(self.rng.uniform(0, 2 * mean) + self.rng.random())  # E[floor(x + U(0,1))] = x

    def _wait_for_marker(self, target: str, inherited: set[int], offset: int, progress: int) -> float:
        """Wait until the target phase begins; return the width of the phase, to kill at a random part of it."""
        s = self.settings
        width = {
            "claiming": 0.006 if not inherited else 0.0,
            "startup": 0.006 + EJECT_SHARE * s.seconds_per_card,
            "write_ahead": 0.012,
            "encoder": FEED_SHARE * s.seconds_per_card + s.seconds_per_encode,
            "panels": (PANELS_SHARE + EJECT_SHARE) * s.seconds_per_card,
            "after_eject": 0.008,
        }[target]
        # The claim after start-up settlement follows the settlement's commit at once: kill as soon as it shows.
        marker = '"attempt.settled_at_start"' if target == "claiming" and inherited else '"printer.opened"'
        deadline = time.monotonic() + MARKER_TIMEOUT
        while time.monotonic() < deadline:
            process = self.daemon.process
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"printd exited by itself:\n{log_since(self.daemon, offset)[-3000:]}")
            if target in ("claiming", "startup"):
                if marker in log_since(self.daemon, offset):
                    return width
            elif self._progress() >= progress and self._in_phase(target, inherited):
                return width
            time.sleep(POLL)
        return 0.0  # the phase did not come (the queue ran dry?): kill now; the classification says where

    def _in_phase(self, target: str, inherited: set[int]) -> bool:
        attempts = {a: before for a, before in self.probe.open_attempts().items() if a not in inherited}
        if not attempts:
            return False
        before = attempts[max(attempts)]
        if before is None:
            return False
        sim = self.probe.sim()
        card = sim.card
        if target == "write_ahead":
            return sim.cards_fed == before
        if target in ("encoder", "panels"):  # every card of the campaign has a chip, written before it is printed
            return card is not None and card.index == before + 1 and card.encoded == (target == "panels")
        return bool(sim.hopper) and sim.hopper[-1].index == before + 1  # after_eject


class StationsCampaign(_Verdict):
    """Stations on one PostgreSQL database, killed at random while they print, and the server restarted under them.

    The office (two printers) receives every blank and transfers the van's share to it, so each station's custody
    is what its printers' feeders hold; a fifth of the jobs are bound to the van, a tenth to the office, the rest
    go to whichever printer is free. ``settings.kills`` station daemons are killed (SIGKILL) and restarted, and
    ``settings.server_restarts`` times the server goes down (by each of `SERVER_STOPS` in turn) and comes back,
    the events at random moments spread over the run (the server's spread evenly among the kills); now and then a
    kill comes as soon as a restarted daemon answers.
    """

    SERVER_DOWN_SECONDS = (0.2, 1.5)
    KILL_WHILE_DOWN_SHARE = 0.3
    """How often a station daemon is killed too while the server is down (its outcome in hand is then lost)."""
    EARLY_SHARE = 0.25
    """How often a kill comes as soon as the daemon restarted last answers: in its start-up settlement or first
    claims."""

    def __init__(
        self,
        directory: Path,
        settings: CampaignSettings,
        cluster: Cluster,
        on_kill: Callable[[Kill], None] | None = None,
        on_server: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.cluster = cluster
        self.on_kill = on_kill
        self.on_server = on_server
        self.rng = random.Random(settings.seed)
        self.report = CampaignReport(settings)
        self.url = cluster.fresh_database()
        self.sim_options: dict[str, dict[str, Any]] = {}
        self.stations = {}
        for name, printers in STATIONS.items():
            (directory / name).mkdir()
            daemon = DaemonProcess(directory / name, [], station=name, database_url=self.url)
            for printer in printers:
                seed = settings.seed * 10 + len(self.sim_options)
                self.sim_options[printer] = _sim_options(settings, daemon, printer, seed)
                daemon.printers.append(_served_spec(self.sim_options[printer]))
                # A ribbon for every blank (a new simulator's holds 500 cards): whichever printer takes more
                # jobs while the others are down never runs out.
                model = PrinterModel(sim_serial(printer), cards=settings.blanks, ribbon_type="kb")
                model.replace_ribbon(cards=settings.blanks)
                StateFile(daemon.state_file(printer)).save(model)
            self.stations[name] = (daemon, printers)
        self.probe = Probe(self.url, {printer: options["state_file"] for printer, options in self.sim_options.items()})
        self.refs = [f"crash-{n:05d}" for n in range(settings.cards)]
        self.began = 0.0
        self._inherited: dict[str, set[int]] = {}
        self._log_offset: dict[str, int] = {}
        self._spawned: dict[str, float] = {}
        self._last_started = ""

    def run(self) -> CampaignReport:
        started = time.monotonic()
        try:
            with contextlib.ExitStack() as stack:
                served: list[ServedSim] = [
                    stack.enter_context(served_sim(self.sim_options[printer]["state_file"].parent, **options))
                    for printer, options in self.sim_options.items()
                ]
                self._begin()
                events = self._events()
                stops = [SERVER_STOPS[n % len(SERVER_STOPS)] for n in range(self.settings.server_restarts)]
                for number, event in enumerate(events):
                    if self._progress() >= self.settings.cards:
                        break
                    early = event == "station" and self._last_started and self.rng.random() < self.EARLY_SHARE
                    if not early:
                        self._pause_before_next(len(events) - number)
                    self._revive_the_fallen()
                    if event == "server":
                        self._server_down_and_up(stops.pop(0))
                    else:
                        self._kill_station(self._last_started if early else self._victim())
                self._revive_the_fallen()
                self._finish()
                for sim in served:
                    code = sim.stop()
                    if code != 0:
                        self.report.problems.append(f"a simulator exited {code} on SIGTERM")
            self._check_against_the_truth()
        finally:
            for daemon, _ in self.stations.values():
                daemon.kill()
            self.probe.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _events(self) -> list[str]:
        """The station kills, with the server's restarts spread evenly among them (the first one early)."""
        kills, restarts = self.settings.kills, self.settings.server_restarts
        total = kills + restarts
        at = {int((n + 0.5) * total / restarts) for n in range(restarts)} if restarts else set()
        return ["server" if n in at else "station" for n in range(total)]

    def _begin(self) -> None:
        """Both stations running, the blanks received at the office and the van's share transferred to it, the
        jobs submitted at the office; then printing starts."""
        self.stations["office"][0].open_store().close()  # the schema, before anything reads it
        for name in self.stations:
            self._start(name)
        blanks = self.settings.blanks
        office, _ = self.stations["office"]
        face = self.directory / "face.png"
        face.write_bytes(card_png("STATIONS CAMPAIGN - NOT AN IDENTITY DOCUMENT"))
        with connected(office) as client:
            client.call("stock.receive", {"count": blanks * len(self.sim_options), "ref": "DO-CRASH"})
            client.call("stock.transfer", {"count": blanks * len(STATIONS["van"]), "to": "van", "ref": "TR-VAN"})
            jobs: list[dict[str, object]] = []
            for n, ref in enumerate(self.refs):
                job: dict[str, object] = {"ref": ref, "front": str(face), "chip": f"CHIP {ref}"}
                if n % 10 in (1, 6):
                    job["station"] = "van"
                elif n % 10 == 3:
                    job["station"] = "office"
                jobs.append(job)
            result = client.call("jobs.submit_batch", {"jobs": jobs})
            assert isinstance(result, dict) and not result["rejected"], result
        self.began = time.monotonic()

    def _start(self, name: str) -> None:
        """Start the station's daemon and wait until it answers; a start refused (its station lock not yet let go
        by the killed one's connection) is tried again, as systemd would."""
        daemon, printers = self.stations[name]
        self._inherited[name] = {a for printer in printers for a in self.probe.open_attempts(printer)}
        self._log_offset[name] = log_size(daemon)
        for attempt in range(20):
            daemon.spawn(STATION)
            self._spawned[name] = time.monotonic()
            try:
                connected(daemon).close()
                self._last_started = name
                return
            except RuntimeError:
                daemon.kill()
                if attempt == 19:
                    raise
                time.sleep(0.5)

    def _revive_the_fallen(self) -> None:
        """A daemon that exited by itself is a finding; it is started again so the run can end."""
        for name, (daemon, _) in self.stations.items():
            process = daemon.process
            if process is not None and process.poll() is not None:
                self.report.problems.append(f"printd of {name} exited {process.returncode} by itself")
                daemon.process = None
            if daemon.process is None:
                self._start(name)

    def _pause_before_next(self, events_left: int) -> None:
        """A random pause, on average the time the cards left will take shared out over the events left."""
        elapsed = max(0.1, time.monotonic() - self.began)
        done = self._progress()
        guess = len(self.sim_options) / (self.settings.seconds_per_card + self.settings.seconds_per_encode + 0.05)
        rate = done / elapsed if done >= 10 else guess
        mean = max(0.05, 0.6 * (self.settings.cards - done) / rate / (events_left + 1))
        time.sleep(self.rng.uniform(0.0, 2 * mean))

    def _victim(self) -> str:
        """A station, the office (two printers) twice as often as the van."""
        return self.rng.choice([name for name, (_, printers) in self.stations.items() for _ in printers])

    def _kill_station(self, name: str) -> None:
        self._record_kill(name, *self._sigkill(name))
        # The simulators finish the command they were given before the next daemon reaches them.
        time.sleep(self.settings.seconds_per_card + self.settings.seconds_per_encode + 0.02)
        self._start(name)

    def _sigkill(self, name: str) -> tuple[float, dict[str, SimState], str]:
        """Kill the station's daemon; what the kill left: seconds since its start, its simulators, its log."""
        daemon, printers = self.stations[name]
        process = daemon.process
        assert process is not None
        process.kill()
        process.wait(10)
        daemon.process = None
        after = time.monotonic() - self._spawned[name]
        return (
            after,
            {printer: self.probe.sim(printer) for printer in printers},
            log_since(daemon, self._log_offset[name]),
        )

    def _record_kill(self, name: str, after: float, sims: dict[str, SimState], log: str) -> None:
        """Each of the station's printers classified into the phase the kill found it in (the attempts the
        database holds open, the simulators as the kill left them)."""
        number = self.report.daemon_kills + 1
        for printer in self.stations[name][1]:
            phase = classify(
                self.probe.open_attempts(printer), self._inherited[name], opened(log, printer), sims[printer]
            )
            kill = Kill(number, "random", phase, after, printer, station=name)
            self.report.kills.append(kill)
            if self.on_kill is not None:
                self.on_kill(kill)

    def _server_down_and_up(self, how: str) -> None:
        """The server killed, shut down at once or stopped while the stations print, and started again; now and
        then a station daemon killed while it is down (its phase read, and the daemon started, once the server is
        back: a station cannot start without its database)."""
        if how == "kill":
            self.cluster.kill()
        else:
            self.cluster.stop(how)
        killed = None
        if self.rng.random() < self.KILL_WHILE_DOWN_SHARE:
            time.sleep(self.rng.uniform(0.0, self.SERVER_DOWN_SECONDS[0]))
            name = self._victim()
            killed = (name, self._sigkill(name))
        time.sleep(self.rng.uniform(*self.SERVER_DOWN_SECONDS))
        self.cluster.start()
        self.report.server_restarts.append(how)
        if self.on_server is not None:
            self.on_server(how)
        if killed is not None:
            name, left = killed
            self._record_kill(name, *left)
            self._start(name)
