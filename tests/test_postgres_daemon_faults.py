"""A printing daemon loses its PostgreSQL server and loses nothing: stopped, killed or cut off mid-card, status says
store.unreachable within seconds, no blank is fed beyond the card in hand, printing resumes by itself when the
server answers, and every blank the simulators fed is booked once, as what the printers' hoppers and reject boxes
show.

These tests stop, kill and cut off their server: they run on a cluster of their own (listening on 127.0.0.1 too, for
the proxy that cuts connections), never on the one the other tests share."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from drivers.base import CardResult, Counters, Outcome
from printd.errors import PrintdError
from printd.store.postgres import PostgresStore
from tests.conftest import assert_ledger_consistent, card_png, new_job, raw_sql
from tests.daemon_harness import ROOT, DaemonProcess, SimSpec, wait_for
from tests.postgres import Cluster
from tests.tcp_proxy import TcpProxy

PRINTERS = [
    SimSpec("p1", seconds_per_card=0.05, spoil_rate=0.05, seed=31),
    SimSpec("p2", seconds_per_card=0.05, spoil_rate=0.05, seed=32),
]
NOTICED_SECONDS = 5.0
"""How soon status must say the server is gone, and printing must resume once it answers again."""
STILL_SECONDS = 1.5
"""How long the feeders are watched, once every printer waits, for a blank that should not move."""
UNREACHABLE = "store.unreachable"
BLANKS = 1000


class Printing:
    """A daemon of station "office" with two simulated printers, printing ``jobs`` cards from a fresh database."""

    def __init__(self, directory: Path, url: str, jobs: int) -> None:
        self.daemon = DaemonProcess(directory, list(PRINTERS), station="office", database_url=url)
        self.jobs = jobs
        self.face = directory / "face.png"
        self.face.write_bytes(card_png("PG-FAULT"))
        self.daemon.start()
        self.client = self.daemon.client()

    def begin(self) -> None:
        self.call("stock.receive", {"count": BLANKS, "ref": "DO-PG-1"})
        count, self.jobs = self.jobs, 0
        self.more_jobs(count)

    def more_jobs(self, count: int) -> None:
        jobs = [{"ref": f"job-{n}", "front": str(self.face)} for n in range(self.jobs, self.jobs + count)]
        for tried in range(3):  # refused while a cut just made is still being found out; the same refs are one job
            try:
                reply = self.call("jobs.submit_batch", {"jobs": jobs})
                break
            except PrintdError as exc:
                assert exc.code == UNREACHABLE and tried < 2, exc
                wait_for(lambda: self.status()["storage"]["available"], NOTICED_SECONDS, "the store to recover")
        assert not reply["rejected"] and len(reply["accepted"]) == count
        self.jobs += count

    def keep_busy(self, count: int) -> None:
        """Queue more jobs when fewer than ``count`` wait: what follows happens with printing under way."""
        if self.status()["queue"]["queued"] < count:
            self.more_jobs(count)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.call(method, params or {})

    def status(self) -> dict[str, Any]:
        reply = self.call("status")
        assert isinstance(reply, dict)
        return reply

    def fed(self) -> dict[str, int]:
        """Each simulator's own count of blanks that left its feeder."""
        return {spec.name: self.daemon.physical_truth(spec.name)[0].cards_fed for spec in PRINTERS}

    def mid_card(self, timeout: float = 30) -> None:
        """Wait until a printer has a card in hand (its claim committed, the card being printed)."""
        wait_for(lambda: any(p["current_job"] for p in self.status()["printers"]), timeout, "a card in a printer")

    def explain(self) -> str:
        """What the daemon says it is doing, for a failure's message."""
        status = self.status()
        printers = [{k: p[k] for k in ("name", "state", "paused", "current_job", "detail")} for p in status["printers"]]
        return json.dumps({"queue": status["queue"], "storage": status["storage"], "printers": printers})

    def printed_at_least(self, count: int) -> None:
        wait_for(lambda: sum(self.fed().values()) >= count, 30, f"{count} cards fed")

    def down(self, fed_when_down: dict[str, int]) -> None:
        """While the server cannot be reached: status says so within seconds, a new job is refused with the
        condition's code, every printer waits saying why, and no feeder moves beyond the card in hand."""
        seen: list[dict[str, int]] = []
        watching = threading.Event()

        def watch() -> None:  # every feeder reading while the server is down
            while not watching.is_set():
                seen.append(self.fed())
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            wait_for(lambda: self.status()["storage"].get("code") == UNREACHABLE, NOTICED_SECONDS, "status to say so")
            with pytest.raises(PrintdError) as refused:
                self.call("jobs.submit", {"job": {"ref": "while-down", "front": str(self.face)}})
            assert refused.value.code == UNREACHABLE and "not accepted" in refused.value.message
            wait_for(
                lambda: all(UNREACHABLE in p["detail"] for p in self.status()["printers"]),
                NOTICED_SECONDS,
                "every printer to say why it waits",
            )
            waiting = self.status()
            assert not waiting["storage"]["available"] and "cannot be reached" in waiting["storage"]["message"]
            assert waiting["queue"] is None and waiting["stock"] is None  # what the database holds cannot be read
            shown = subprocess.run(
                [sys.executable, "-m", "printd.cli", "--socket", self.daemon.socket, "status"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=os.environ | {"COLUMNS": "400"},
                timeout=60,
                check=False,
            )
            assert shown.returncode == 0 and f"[{UNREACHABLE}]" in shown.stdout, shown.stdout + shown.stderr
            assert all(spec.name in shown.stdout for spec in PRINTERS)
            settled = self.fed()
            time.sleep(STILL_SECONDS)
            assert self.fed() == settled  # nothing claimed, nothing fed
        finally:
            watching.set()
            watcher.join(5)
        for reading in seen:  # at most the card each printer had in hand when the server went
            assert all(reading[name] <= fed_when_down[name] + 1 for name in reading), (fed_when_down, reading)

    def back(self) -> None:
        wait_for(lambda: self.status()["storage"]["available"], NOTICED_SECONDS, "the store to recover by itself")
        before = sum(self.fed().values())
        self.printed_at_least(before + 2)  # printing resumed without anyone resuming a printer

    def finish(self) -> None:
        """Every job printed; then the daemon stops, and each blank the simulators fed is in the ledger once."""
        wait_for(lambda: self.status()["queue"]["done"] == self.jobs, 90, f"all {self.jobs} jobs done", interval=0.25)
        final = self.status()
        assert final["storage"]["available"]
        assert final["queue"]["in_doubt"] == final["queue"]["failed"] == final["queue"]["queued"] == 0
        assert not [p for p in final["printers"] if p["paused"]]
        self.client.close()
        assert self.daemon.stop() == 0
        _assert_blanks_accounted(self.daemon, self.jobs)

    def close(self) -> None:
        self.client.close()
        self.daemon.kill()

    def log_events(self) -> list[str]:
        events = []
        for line in self.daemon.log_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(str(json.loads(line).get("event", "")))
        return events


def _assert_blanks_accounted(daemon: DaemonProcess, jobs: int) -> None:
    """Per printer, the ledger's issued and spoiled cards are the hopper's and the reject box's, chip by chip, and
    together every blank the feeder gave; each job has exactly one issued card and no attempt is left open."""
    store = daemon.open_store()
    try:
        assert_ledger_consistent(store)
        events = store.ledger_events()
        records = store.list_jobs(limit=10_000)
        cards = {job.ref: store.job_cards(job.id) for job in records}
        balance = store.balance()
        attempts = raw_sql(store, "SELECT job_id, started_at, settled_at FROM attempts ORDER BY job_id, id")
    finally:
        store.close()
    assert len(records) == jobs and all(job.state.value == "done" for job in records)
    fates = {ref: [card.fate.value for card in found] for ref, found in cards.items()}
    assert all(found.count("issued") == 1 for found in fates.values()), {
        r: f for r, f in fates.items() if f.count("issued") != 1
    }
    assert all(fate in ("issued", "spoiled", "not_fed") for found in fates.values() for fate in found)
    # No job was ever claimed twice at once: each attempt began after the one before it was settled.
    assert all(settled is not None for _, _, settled in attempts)
    for (job, _, settled), (next_job, started, _) in itertools.pairwise(attempts):
        assert job != next_job or float(str(started)) >= float(str(settled)), (job, settled, started)
    fed = 0
    for spec in PRINTERS:
        truth, model = daemon.physical_truth(spec.name)
        assert truth.balanced and truth.in_printer == 0, spec.name
        mine = [e for e in events if e["printer"] == spec.name and e["kind"] in ("issued", "spoiled", "in_doubt")]
        assert sorted(str(e["chip_uid"]) for e in mine if e["kind"] == "issued") == sorted(
            c.chip_uid for c in model.hopper
        )
        assert sorted(str(e["chip_uid"]) for e in mine if e["kind"] == "spoiled") == sorted(
            c.chip_uid for c in model.reject_box
        )
        assert len(mine) == truth.cards_fed == truth.in_hopper + truth.in_reject_box, spec.name
        fed += truth.cards_fed
    assert balance.issued == jobs and balance.in_doubt == 0 and balance.on_hand == BLANKS - fed


def _fresh(cluster: Cluster) -> str:
    return str(conninfo_to_dict(cluster.fresh_database())["dbname"])


@pytest.fixture
def printing(server: Cluster, tmp_path: Path) -> Iterator[Printing]:
    """A daemon on the cluster's own socket."""
    run = Printing(tmp_path, server.url(_fresh(server)), jobs=80)
    yield run
    run.close()


def test_server_stopped_mid_run_nothing_fed_until_it_is_back(server: Cluster, printing: Printing) -> None:
    printing.begin()
    printing.printed_at_least(6)
    printing.mid_card()
    server.stop("fast")
    printing.down(printing.fed())
    server.start()
    printing.back()
    printing.finish()
    events = printing.log_events()
    assert events.count("store.unavailable") >= 1 and events.count("store.recovered") >= 1
    assert "printer.loop_error" not in events


def test_server_killed_mid_card_nothing_fed_until_it_is_back(server: Cluster, printing: Printing) -> None:
    printing.begin()
    printing.printed_at_least(6)
    printing.mid_card()
    server.kill()
    printing.down(printing.fed())
    server.start()
    printing.back()
    printing.finish()
    assert "printer.loop_error" not in printing.log_events()


CUTS = ["cut", "commit reply lost", "cut and refuse", "commit reply lost", "commit reply lost", "cut"]
CUTS += ["commit reply lost", "cut and refuse", "commit reply lost", "commit reply lost"]
"""What the proxy does to the daemon's connections, one after the other, each with a card in a printer. A lost
commit reply strikes whichever commit comes next (a claim, a settlement, a read after a card): several of them."""


@pytest.mark.slow
def test_connections_cut_mid_card_again_and_again_no_card_lost_or_claimed_twice(
    server: Cluster, tmp_path: Path
) -> None:
    assert server.tcp_port is not None
    database = _fresh(server)
    with TcpProxy(("127.0.0.1", server.tcp_port)) as proxy:
        run = Printing(tmp_path, f"postgresql://{server.superuser}@127.0.0.1:{proxy.port}/{database}", jobs=100)
        try:
            run.begin()
            done_before, lost = 4, 0
            for cut in CUTS:
                run.keep_busy(30)
                run.printed_at_least(done_before)
                run.mid_card()
                if cut == "commit reply lost":  # the next commit reaches the server; its confirmation does not
                    proxy.lose_reply_to(b"COMMIT")
                    # Armed until a commit passes. The proxy cuts the client's side just after forwarding the commit,
                    # so now and then the server's answer slips through first: then it was a plain cut.
                    wait_for(lambda: proxy._lose_after is None, 10, f"a commit to be sent: {run.explain()}")
                    lost += int(proxy.reply_lost.wait(2))
                elif cut == "cut and refuse":  # the server is unreachable until the proxy forwards again
                    proxy.refuse()
                    assert proxy.cut() > 0
                    run.down(run.fed())
                    proxy.resume()
                    run.back()
                else:
                    assert proxy.cut() > 0
                done_before = sum(run.fed().values()) + 3
            assert lost >= 3, f"only {lost} of {CUTS.count('commit reply lost')} commits lost their confirmation"
            run.finish()
        finally:
            run.close()
    assert "printer.loop_error" not in run.log_events()


def test_a_retry_that_meets_its_lost_commit_still_under_way_waits_for_it_and_books_once(server: Cluster) -> None:
    """What the proxy run above met: a settlement's commit reached the server, its confirmation was lost, and the
    worker booked the held outcome again at once, while the server was still committing the first. The retry must
    wait for that commit and see it, not book the card a second time (nor refuse it and lose the printer)."""
    url = server.url(_fresh(server))
    worker, other = PostgresStore(url, station="office"), PostgresStore(url, station="office")
    try:
        worker.receive_stock(5, "DO-LOST-1", "tester")
        worker.submit(new_job("lost-1", card_png("LOST")), "tester")
        claim = worker.claim_next("p1", Counters(cards_fed=0))
        assert claim is not None
        printed = CardResult(Outcome.PRINTED, chip_uid="04A1B2C3D4E5F6", counters_after=Counters(cards_fed=1))
        retried: list[object] = []
        with other._write() as db:  # the first commit, still under way on the server
            other._settle(db, claim.attempt, printed, "printd", False)
            worker._unconfirmed_settles.add(claim.attempt.id)  # the worker saw that commit fail

            def retry() -> None:
                try:
                    retried.append(worker.settle_attempt(claim.attempt, printed))
                except Exception as exc:  # what the retry raised is the finding
                    retried.append(exc)

            thread = threading.Thread(target=retry)
            thread.start()
            thread.join(1.0)
            assert thread.is_alive(), f"the retry did not wait for the commit under way: {retried}"
        thread.join(10)
        assert len(retried) == 1 and not isinstance(retried[0], Exception), retried
        assert [e["kind"] for e in worker.ledger_events() if e["attempt_id"] == claim.attempt.id] == ["issued"]
        assert worker.get_job("lost-1").state.value == "done"
        assert_ledger_consistent(worker)
    finally:
        worker.close()
        other.close()
