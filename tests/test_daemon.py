"""The daemon process: start-up refusals, config checking, clean SIGTERM, the spool, and no personal data in logs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import ROOT, DaemonProcess, SimSpec, wait_for


def run_printd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printd.daemon", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path, [SimSpec("p1")])
    d.start()
    yield d
    d.kill()


def test_check_config() -> None:
    ok = run_printd("check-config", "--config", "config/printd.toml")
    assert ok.returncode == 0 and "2 printer(s)" in ok.stdout


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[printer]]\nname = "p"\ntype = "sim"\ncards = "many"\n')
    result = run_printd("run", "--config", str(bad))
    assert result.returncode == 2
    assert "printer[0].cards" in result.stderr and "Expected `int`" in result.stderr


def test_second_daemon_on_the_same_database_is_refused(daemon: DaemonProcess) -> None:
    result = run_printd("run", "--config", str(daemon.directory / "printd.toml"))
    assert result.returncode == 1
    assert "another printd is already using" in result.stderr


def test_spool_and_logs_hold_no_personal_data(daemon: DaemonProcess, tmp_path: Path) -> None:
    client = daemon.client()
    client.call("stock.receive", {"count": 20, "ref": "DO-1"})
    spool = daemon.directory / "spool"
    (spool / "face.png").write_bytes(card_png("SECRET FACE"))
    jobs = [
        {"ref": "S-1", "front": "face.png", "holder": "SITI NURHALIZA BINTI", "chip": "NIK=3175094512870001"},
        {"ref": "S-2", "front": "missing.png", "holder": "AHMAD DHANI PRASETYO", "chip": "NIK=3175094512870002"},
    ]
    tmp = spool / ".batch.jsonl.tmp"
    tmp.write_text("\n".join(json.dumps(j) for j in jobs))
    tmp.rename(spool / "batch.jsonl")
    wait_for((spool / "rejected" / "batch.jsonl").exists, 20, "the spool file to be taken")
    wait_for(lambda: client.call("jobs.get", {"job": "S-1"})["state"] == "done", 30, "S-1 to print")  # type: ignore[index]
    status = json.dumps(client.call("status", {})) + json.dumps(client.call("jobs.get", {"job": "S-1"}))
    client.close()
    assert daemon.stop() == 0
    report = (spool / "rejected" / "batch.jsonl.error.txt").read_text()
    assert "line 2 " in report or "line 2:" in report
    everything = daemon.log_path.read_text() + report + status
    for secret in ("SITI", "NURHALIZA", "AHMAD", "3175094512870001", "3175094512870002", "SECRET FACE"):
        assert secret not in everything
    # the daemon logs JSON lines when its output is not a terminal
    events = [json.loads(line)["event"] for line in daemon.log_path.read_text().splitlines() if line.startswith("{")]
    assert "printd.ready" in events and "job.printed" in events and "printd.stopped" in events


def test_sigterm_stops_claiming_and_lets_the_card_in_the_printer_finish(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, [SimSpec("p1", seconds_per_card=2.0)])
    d.start()
    try:
        client = d.client()
        client.call("stock.receive", {"count": 5, "ref": "DO-1"})
        face = tmp_path / "face.png"
        face.write_bytes(card_png("STOP"))
        for ref in ("in-printer", "waiting"):
            client.call("jobs.submit", {"job": {"ref": ref, "front": str(face)}})
        wait_for(lambda: client.call("jobs.get", {"job": "in-printer"})["state"] == "printing", 10, "a card")  # type: ignore[index]
        client.close()
        assert d.stop() == 0  # SIGTERM mid-card: a clean exit once the card is out
    finally:
        d.kill()
    store = d.open_store()
    assert store.get_job("in-printer").state.value == "done"
    assert store.get_job("waiting").state.value == "queued"  # not claimed after SIGTERM, still in the queue
    assert not store.open_attempts()
    assert_ledger_consistent(store)
    assert store.balance().issued == 1 == d.physical_truth("p1")[0].in_hopper
    store.close()
