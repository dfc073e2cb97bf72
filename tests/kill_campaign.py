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
"""

from __future__ import annotations

import collections
import math
import os
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from drivers.sim.model import EJECT_SHARE, FEED_SHARE, PANELS_SHARE
from printd.control.client import ControlClient
from printd.store.core import INTERRUPTED
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec
from tests.sim_serial import served_sim

PRINTER = "crash"
REQUIRED_PHASES = ("claiming", "write_ahead", "encoder", "panels", "after_eject", "startup")
OTHER_PHASES = ("booting", "after_reject", "other")
POLL = 0.001
MARKER_TIMEOUT = 10.0
FINISH_TIMEOUT = 300.0
MAX_TOP_UP = 30
STATION = {"max_attempts": 1000, "low_stock_threshold": 0}


@dataclass(frozen=True)
class CampaignSettings:
    cards: int = 300
    kills: int = 50
    seconds_per_card: float = 0.02
    seconds_per_encode: float = 0.01
    spoil_rate: float = 0.02
    seed: int = 1
    random_target_share: float = 0.3  # the rest of the time, the least hit phase is the target

    @property
    def blanks(self) -> int:
        """Blanks loaded in the feeder and received in the ledger: every card, a spoil a kill, and a margin."""
        return self.cards * 2 + self.kills + 50


@dataclass(frozen=True)
class Kill:
    number: int
    target: str
    phase: str
    after_seconds: float


@dataclass
class CampaignReport:
    settings: CampaignSettings
    kills: list[Kill] = field(default_factory=list)
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
    def auto_settled(self) -> int:
        return self.settled_not_fed + self.settled_spoiled

    def summary(self) -> str:
        phases = ", ".join(f"{phase} {count}" for phase, count in self.phases.items() if count)
        return (
            f"kills {len(self.kills)} ({phases}); in doubt {self.in_doubt}; auto-settled {self.auto_settled}"
            f" (not fed {self.settled_not_fed}, spoiled {self.settled_spoiled}); unaccounted {self.unaccounted};"
            f" issued {self.issued} = hopper {self.in_hopper}; spoiled {self.spoiled} = reject box"
            f" {self.in_reject_box}; {self.seconds:.0f} s"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "cards": self.settings.cards,
            "kills": len(self.kills),
            "phases": self.phases,
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
    """Reads, without disturbing them, the daemon's database and log and the simulator's state file."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.state_file = daemon.state_file(PRINTER)
        self._db: sqlite3.Connection | None = None
        self._state_key: tuple[int, int, int] | None = None
        self._state: SimState | None = None

    def sim(self) -> SimState:
        while True:
            try:
                stat = os.stat(self.state_file)
                key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
                if key != self._state_key or self._state is None:
                    self._state = msgspec.json.decode(self.state_file.read_bytes(), type=SimState)
                    self._state_key = key
                return self._state
            except FileNotFoundError:  # between the simulator's write and its rename: look again
                time.sleep(POLL)

    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.daemon.database, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA query_only=ON")
        return self._db

    def open_attempts(self) -> dict[int, int | None]:
        """Open attempt id -> the printer's card counter committed with it."""
        rows = self.db().execute("SELECT id, cards_fed_before FROM attempts WHERE outcome IS NULL ORDER BY id")
        return dict(rows.fetchall())

    def queue(self) -> dict[str, int]:
        return dict(self.db().execute("SELECT state, count FROM queue_counts").fetchall())

    def log_size(self) -> int:
        try:
            return self.daemon.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with self.daemon.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class Campaign:
    """One campaign in ``directory``: a simulator process, a daemon process restarted after each kill."""

    def __init__(
        self, directory: Path, settings: CampaignSettings, on_kill: Callable[[Kill], None] | None = None
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.on_kill = on_kill
        self.rng = random.Random(settings.seed)
        self.report = CampaignReport(settings)
        self.encoder_socket = directory / "encoder.sock"
        self.link = directory / "printer.tty"
        spec = SimSpec(
            PRINTER,
            ribbon="kb",
            transport=f"serial://{self.link}?baudrate=115200",
            encoder_url=f"sim+unix://{self.encoder_socket}",
        )
        self.daemon = DaemonProcess(directory, [spec])
        self.probe = Probe(self.daemon)
        self.refs = [f"crash-{n:05d}" for n in range(settings.cards)]
        self._progress_at_start = 0
        self._skipped = 0

    # ---- the whole run ------------------------------------------------------------------------------------

    def run(self) -> CampaignReport:
        s = self.settings
        started = time.monotonic()
        sim_options: dict[str, Any] = {
            "state_file": self.daemon.state_file(PRINTER),
            "name": PRINTER,
            "cards": s.blanks,
            "seconds_per_card": s.seconds_per_card,
            "seconds_per_encode": s.seconds_per_encode,
            "spoil_rate": s.spoil_rate,
            "seed": s.seed,
            "ribbon": "kb",
            "encoder_socket": self.encoder_socket,
            "link": self.link,
        }
        try:
            with served_sim(self.directory, **sim_options) as sim:
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
        client = self._client()
        client.call("stock.receive", {"count": self.settings.blanks, "ref": "DO-CRASH"})
        jobs = [{"ref": ref, "front": str(face), "chip": f"CHIP {ref}"} for ref in self.refs]
        result = client.call("jobs.submit_batch", {"jobs": jobs})
        assert isinstance(result, dict) and not result["rejected"], result
        client.close()

    def _client(self) -> ControlClient:
        deadline = time.monotonic() + 30
        while True:
            client = ControlClient(self.daemon.socket, timeout=60)
            try:
                client.connect()
                client.call("status", {})
                return client
            except Exception:
                client.close()
                process = self.daemon.process
                if time.monotonic() > deadline or (process is not None and process.poll() is not None):
                    raise RuntimeError(f"printd did not start:\n{self.daemon.log_path.read_text()[-3000:]}") from None
                time.sleep(0.05)

    def _progress(self) -> int:
        """Jobs past their printing: done, in doubt (a card that may be good), failed."""
        queue = self.probe.queue()
        return sum(queue.get(state, 0) for state in ("done", "in_doubt", "failed"))

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
        offset = self.probe.log_size()
        process = running or self.daemon.spawn(STATION)
        spawned = time.monotonic()
        window = self._wait_for_marker(target, set(inherited), offset, min(progress + skip, self.settings.cards - 1))
        time.sleep(self.rng.uniform(0.0, window))
        process.kill()
        process.wait(10)
        self.daemon.process = None
        after = time.monotonic() - spawned
        phase = self._classify(set(inherited), offset, self.probe.sim())
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
                raise RuntimeError(f"printd exited by itself:\n{self.probe.log_since(offset)[-3000:]}")
            if target in ("claiming", "startup"):
                if marker in self.probe.log_since(offset):
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

    def _classify(self, inherited: set[int], offset: int, sim: SimState) -> str:
        """The phase a kill landed in, from the database and the simulator as the kill left them (the simulator
        may still finish the command it was given, which start-up settlement then sees)."""
        attempts = self.probe.open_attempts()
        reached = '"printer.opened"' in self.probe.log_since(offset)
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

    # ---- the end: let it finish, resolve what is in doubt, stop --------------------------------------------

    def _finish(self) -> None:
        self.daemon.spawn(STATION)
        client = self._client()
        self._wait_idle()
        self._check_before_resolving()
        resolved: collections.Counter[str] = collections.Counter()
        for job in self._jobs_in_doubt():
            resolution = self._resolution(job)
            client.call(
                "jobs.resolve",
                {"job": job, "resolution": resolution, "note": "checked against the simulator's hopper and reject box"},
            )
            resolved[resolution] += 1
        self.report.resolved = dict(resolved)
        self._wait_idle()
        client.close()
        code = self.daemon.stop()
        if code != 0:
            self.report.problems.append(f"printd exited {code} on SIGTERM")

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + FINISH_TIMEOUT
        while True:
            queue = self.probe.queue()
            if not queue.get("queued") and not queue.get("printing") and not self.probe.open_attempts():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the run did not finish: {queue}; log:\n{self.probe.log_since(0)[-3000:]}")
            time.sleep(0.05)

    def _check_before_resolving(self) -> None:
        """Every blank that left the feeder is in the ledger as issued, spoiled or in doubt."""
        db = self.probe.db()
        totals = dict(db.execute("SELECT place, count FROM stock_totals").fetchall())
        sim = self.probe.sim()
        booked = totals.get("issued", 0) + totals.get("spoiled", 0) + totals.get("in_doubt", 0)
        self.report.unaccounted = sim.cards_fed - booked
        if self.report.unaccounted != 0:
            self.report.problems.append(
                f"{sim.cards_fed} blanks left the feeder but {booked} are booked issued, spoiled or in doubt"
            )

    def _jobs_in_doubt(self) -> list[int]:
        rows = self.probe.db().execute("SELECT id FROM jobs WHERE state = 'in_doubt' ORDER BY id").fetchall()
        return [job for (job,) in rows]

    def _resolution(self, job: int) -> str:
        """What an operator finds: the in-doubt card in the output hopper (printed), the reject box (spoiled)."""
        db = self.probe.db()
        before, after = db.execute(
            "SELECT cards_fed_before, cards_fed_after FROM attempts WHERE job_id = ? AND outcome = 'unknown'"
            " ORDER BY id DESC LIMIT 1",
            (job,),
        ).fetchone()
        sim = self.probe.sim()
        if before is None or after != before + 1:
            self.report.problems.append(f"job {job}: in doubt with the counter moving {before} -> {after}")
            return "spoiled"
        index = before + 1
        if any(card.index == index for card in sim.hopper):
            return "printed"
        if any(card.index == index for card in sim.reject_box):
            return "spoiled"
        self.report.problems.append(f"job {job}: its blank {index} is neither in the hopper nor in the reject box")
        return "spoiled"

    # ---- the physical truth ---------------------------------------------------------------------------------

    def _check_against_the_truth(self) -> None:
        report, problems = self.report, self.report.problems
        sim = self.probe.sim()
        store = self.daemon.open_store()
        try:
            try:
                assert_ledger_consistent(store)
            except AssertionError as exc:
                problems.append(f"the ledger invariant does not hold: {exc}")
            balance = store.balance()
            events = store.ledger_events()
        finally:
            store.close()
        db = self.probe.db()
        report.cards_fed, report.issued, report.spoiled = sim.cards_fed, balance.issued, balance.spoiled
        report.in_hopper, report.in_reject_box = len(sim.hopper), len(sim.reject_box)
        report.in_doubt = sum(1 for e in events if e["kind"] == "in_doubt")
        settled = dict(
            db.execute(
                "SELECT outcome, count(*) FROM attempts WHERE detail LIKE ? GROUP BY outcome", (INTERRUPTED + "%",)
            ).fetchall()
        )
        report.settled_not_fed, report.settled_spoiled = settled.get("not_fed", 0), settled.get("spoiled", 0)
        in_feeder = sim.feeder["count"]
        expect = [
            ("blanks in the printer", sim.card is not None, False),
            ("in doubt after resolving", balance.in_doubt, 0),
            ("issued vs cards in the output hopper", balance.issued, len(sim.hopper)),
            ("spoiled vs cards in the reject box", balance.spoiled, len(sim.reject_box)),
            ("on hand vs blanks in the feeder", balance.on_hand, in_feeder),
            ("received vs blanks loaded", balance.received, sim.blanks_loaded),
            ("blanks fed vs hopper + reject box", sim.cards_fed, len(sim.hopper) + len(sim.reject_box)),
        ]
        problems.extend(f"{what}: {got} != {want}" for what, got, want in expect if got != want)
        self._check_each_card(db, sim)

    def _check_each_card(self, db: sqlite3.Connection, sim: SimState) -> None:
        """Each card in the hopper is one job's good card, each in the reject box a spoiled one; no job lost."""
        problems = self.report.problems
        jobs = dict(db.execute("SELECT ref, state FROM jobs").fetchall())
        self.report.jobs_done = sum(1 for state in jobs.values() if state == "done")
        lost = [ref for ref in self.refs if jobs.get(ref) != "done"]
        if lost or len(jobs) != len(self.refs):
            problems.append(f"{len(lost)} job(s) not done (e.g. {lost[:3]}), {len(jobs)} jobs for {len(self.refs)}")
        fed: dict[int, tuple[str, str, str | None]] = {}
        for before, ref, outcome, uid in db.execute(
            "SELECT a.cards_fed_before, j.ref, a.outcome, a.chip_uid FROM attempts a JOIN jobs j ON j.id = a.job_id"
            " WHERE a.outcome != 'not_fed' ORDER BY a.id"
        ):
            if before + 1 in fed:
                problems.append(f"blank {before + 1} is booked by two attempts")
            fed[before + 1] = (ref, outcome, uid)
        placed = {card.index for card in sim.hopper} | {card.index for card in sim.reject_box}
        if set(fed) != placed:
            problems.append(f"blanks booked but not fed, or fed but not booked: {sorted(set(fed) ^ placed)[:5]}")
        good: collections.Counter[str] = collections.Counter()
        for card in sim.hopper:
            ref, outcome, uid = fed.get(card.index, (None, None, None))
            if outcome not in ("printed", "resolved:issued"):
                problems.append(f"blank {card.index} in the output hopper was booked {outcome}")
            if uid is not None and uid != card.chip_uid:
                problems.append(f"blank {card.index} carries chip {card.chip_uid}, booked as {uid}")
            if ref is not None:
                good[ref] += 1
        for card in sim.reject_box:
            _, outcome, _ = fed.get(card.index, (None, None, None))
            if outcome not in ("spoiled", "resolved:spoiled"):
                problems.append(f"blank {card.index} in the reject box was booked {outcome}")
        twice = sorted(ref for ref, n in good.items() if n > 1)
        missing = sorted(set(self.refs) - set(good))
        if twice:
            problems.append(f"{len(twice)} ref(s) with two good cards and no reprint asked: {twice[:3]}")
        if missing:
            problems.append(f"{len(missing)} ref(s) without a good card in the output hopper: {missing[:3]}")
