"""SIGHUP: printd re-reads its configuration; printers added, removed or changed without losing or double-printing a
card; an invalid file is logged and the running configuration kept."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from printd.config import parse_config
from printd.control.client import ControlClient
from printd.reload import live_config
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for
from tests.notify_socket import NotifySocket


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", sock.path)
    yield sock
    sock.close()


def events(d: DaemonProcess, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in d.log_path.read_text().splitlines() if line.startswith("{")]
    return [e for e in lines if e["event"] == name]


def reload(d: DaemonProcess, notify: NotifySocket) -> float:
    """SIGHUP, then wait for the READY=1 that ends the reload; returns when it was sent. The READY=1 of the start
    (after every printer's first status) is awaited first, so it is never taken for the reload's."""
    assert d.process is not None
    notify.wait_for("READY", "1")
    sent = time.monotonic()
    d.process.send_signal(signal.SIGHUP)
    reloading = notify.wait_for("RELOADING", "1", since=sent)
    return notify.wait_for("READY", "1", since=reloading.at).at


def status(client: ControlClient) -> dict[str, Any]:
    result = client.call("status", {})
    assert isinstance(result, dict)
    return result


def job_state(client: ControlClient, ref: str) -> dict[str, Any]:
    result = client.call("jobs.get", {"job": ref})
    assert isinstance(result, dict)
    return result


def submit(client: ControlClient, face: Path, refs: list[str]) -> None:
    reply = client.call("jobs.submit_batch", {"jobs": [{"ref": ref, "front": str(face)} for ref in refs]})
    assert isinstance(reply, dict) and not reply["rejected"]


def check_accounting(d: DaemonProcess, issued: dict[str, int]) -> None:
    """Ledger invariant, each printer's issued cards equal to its output hopper, every job printed once."""
    store = d.open_store()
    assert_ledger_consistent(store)
    assert {name: totals["issued"] for name, totals in store.balance_by_printer().items()} == issued
    assert store.balance().spoiled == store.balance().in_doubt == 0
    assert all(j.attempts == 1 for j in store.list_jobs(limit=1000))
    store.close()
    for name, count in issued.items():
        truth, _ = d.physical_truth(name)
        assert truth.balanced and truth.in_printer == 0 and truth.in_hopper == count, (name, truth)


@pytest.fixture
def face(tmp_path: Path) -> Path:
    path = tmp_path / "face.png"
    path.write_bytes(card_png("RELOAD"))
    return path


def test_an_invalid_file_is_logged_and_the_running_configuration_kept(
    tmp_path: Path, notify: NotifySocket, face: Path
) -> None:
    d = DaemonProcess(tmp_path, [SimSpec("p1")])
    d.start()
    try:
        client = d.client()
        client.call("stock.receive", {"count": 10, "ref": "DO-1"})
        config = d.directory / "printd.toml"
        good = config.read_text()
        config.write_text(good.replace("seconds_per_card = 0.0", 'seconds_per_card = "fast"'))
        reload(d, notify)
        rejected = events(d, "config.reload_rejected")
        assert len(rejected) == 1 and "printer[0].seconds_per_card" in rejected[0]["error"]
        assert not events(d, "config.reloaded")
        submit(client, face, ["after-bad-reload"])  # still printing on the configuration it had
        wait_for(lambda: job_state(client, "after-bad-reload")["state"] == "done", 30, "the card")
        assert [p["name"] for p in status(client)["printers"]] == ["p1"]
        client.close()
        assert d.stop() == 0
    finally:
        d.kill()
    check_accounting(d, {"p1": 1})


def test_an_added_printer_starts_printing(tmp_path: Path, notify: NotifySocket, face: Path) -> None:
    d = DaemonProcess(tmp_path, [SimSpec("p1")])
    d.start()
    try:
        client = d.client()
        client.call("stock.receive", {"count": 10, "ref": "DO-1"})
        client.call("printers.pause", {"printer": "p1"})
        d.printers.append(SimSpec("p2"))
        d.write_config()
        reload(d, notify)
        assert events(d, "config.reloaded")[-1]["added"] == ["p2"]
        wait_for(lambda: len(status(client)["printers"]) == 2, 10, "p2 in the status")
        submit(client, face, [f"j-{n}" for n in range(4)])
        wait_for(lambda: status(client)["queue"]["done"] == 4, 30, "p2 to print the queue")
        client.close()
        assert d.stop() == 0
    finally:
        d.kill()
    check_accounting(d, {"p2": 4})


def test_a_removed_printer_finishes_its_card_and_leaves_the_queue_to_the_others(
    tmp_path: Path, notify: NotifySocket, face: Path
) -> None:
    d = DaemonProcess(tmp_path, [SimSpec("p1"), SimSpec("p2", seconds_per_card=2.0)])
    d.start()
    try:
        client = d.client()
        client.call("stock.receive", {"count": 10, "ref": "DO-1"})
        client.call("printers.pause", {"printer": "p1"})
        submit(client, face, [f"j-{n}" for n in range(4)])
        wait_for(lambda: job_state(client, "j-0")["state"] == "printing", 10, "p2 to start a card")
        d.printers = [d.printers[0]]
        d.write_config()
        reload(d, notify)
        assert events(d, "config.reloaded")[-1]["removed"] == ["p2"]
        assert job_state(client, "j-0")["state"] == "printing"  # the card in p2 is not cut off
        wait_for(lambda: bool(events(d, "printer.retired")), 10, "p2 to finish its card and stop")
        assert [p["name"] for p in status(client)["printers"]] == ["p1"]
        queue = status(client)["queue"]
        assert queue["done"] == 1 and queue["queued"] == 3 and queue["printing"] == 0  # the rest stay queued
        client.call("printers.resume", {"printer": "p1"})
        wait_for(lambda: status(client)["queue"]["done"] == 4, 30, "p1 to print the rest")
        client.close()
        assert d.stop() == 0
    finally:
        d.kill()
    check_accounting(d, {"p1": 3, "p2": 1})


def test_a_changed_printer_restarts_on_its_new_settings_after_its_card(
    tmp_path: Path, notify: NotifySocket, face: Path
) -> None:
    d = DaemonProcess(tmp_path, [SimSpec("p1", seconds_per_card=2.0)])
    d.start()
    try:
        client = d.client()
        client.call("stock.receive", {"count": 10, "ref": "DO-1"})
        submit(client, face, [f"j-{n}" for n in range(4)])
        wait_for(lambda: job_state(client, "j-0")["state"] == "printing", 10, "the first card")
        first_started = time.monotonic()
        d.printers = [SimSpec("p1", seconds_per_card=0.0)]
        d.write_config()
        reload(d, notify)
        assert events(d, "config.reloaded")[-1]["changed"] == ["p1"]
        wait_for(lambda: status(client)["queue"]["done"] == 4, 30, "all four cards")
        all_done = time.monotonic()
        client.close()
        assert d.stop() == 0
    finally:
        d.kill()
    # the card in hand took its 2 s; the three after it ran on the new setting (no mechanical time)
    assert 1.5 < all_done - first_started < 6.0  # all four at the old setting: 8 s
    retired, started = events(d, "printer.retired"), events(d, "printer.started")
    assert [e["printer"] for e in retired] == ["p1"] == [e["printer"] for e in started]
    assert retired[0]["timestamp"] <= started[0]["timestamp"]
    check_accounting(d, {"p1": 4})  # one simulator, its state carried across the restart


def test_what_a_reload_applies_and_what_waits_for_a_restart() -> None:
    running = parse_config('[station]\nname = "a"\nlow_stock_threshold = 10\n[[printer]]\nname = "p1"\ntype = "sim"\n')
    loaded = parse_config(
        '[station]\nname = "b"\nlow_stock_threshold = 99\nmax_attempts = 5\n'
        '[control.roles]\nviewer = ["staff"]\n[[printer]]\nname = "p2"\ntype = "sim"\n'
    )
    config, restart = live_config(running, loaded)
    assert config.station.low_stock_threshold == 99 and config.station.max_attempts == 5
    assert [p.name for p in config.printer] == ["p2"]
    assert config.station.name == "a" and config.control == running.control
    assert restart == ["station.name", "control"]
