"""A simulated printer whose firmware hangs mid-card, under a real printd: the worker wedges in its driver, the
watchdog pings stop once the card's bound has passed, and after the kill systemd's watchdog would make, the next
start settles the interrupted card from the printer (still inside: rejected, booked spoiled)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.jobs import JobState
from printd.store.core import INTERRUPTED
from printd.watchdog import SLACK_SECONDS
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for
from tests.notify_socket import NotifySocket, largest_gap, notify_environment

WATCHDOG_USEC = 1_000_000  # pings every 0.5 s
SECONDS_PER_CARD = 0.2
CARD_BOUND = 2 * SECONDS_PER_CARD + SLACK_SECONDS  # watchdog.bounds_for a sim printer
PING_EVERY = WATCHDOG_USEC / 2e6


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    with notify_environment(tmp_path / "notify", monkeypatch, WATCHDOG_USEC) as sock:
        yield sock


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    spec = SimSpec("h1", cards=50, seconds_per_card=SECONDS_PER_CARD, faults=["card 1: printer hangs"])
    d = DaemonProcess(tmp_path, [spec])
    yield d
    d.kill()  # never leave a daemon behind a failed test


def test_a_printer_that_hangs_stops_the_pings_and_its_card_is_settled_at_the_next_start(
    tmp_path: Path, notify: NotifySocket, daemon: DaemonProcess
) -> None:
    d = daemon
    face = tmp_path / "face.png"
    face.write_bytes(card_png("HANG"))
    d.start()
    ready = notify.wait_for("READY", "1")
    client = d.client()
    client.call("stock.receive", {"count": 5, "ref": "DO-HANG"})
    time.sleep(1.0)  # idle
    client.call("jobs.submit", {"job": {"ref": "h-1", "front": str(face)}})
    wait_for(lambda: client.call("jobs.get", {"job": "h-1"})["state"] == "printing", 10, "the card to start", 0.02)  # type: ignore[index]
    started = time.monotonic()
    wait_for(lambda: d.physical_truth("h1")[0].cards_fed == 1, 10, "the card to be fed")
    wait_for(lambda: time.monotonic() > started + CARD_BOUND + 3, 30, "the card's bound to pass", 0.2)
    assert client.call("jobs.get", {"job": "h-1"})["state"] == "printing"  # type: ignore[index]
    client.close()
    end = time.monotonic()
    pings = notify.pings(since=ready.at)
    assert largest_gap(pings, ready.at, started) < 1.0  # idle: pings
    assert any(started + CARD_BOUND - 1.5 < t < started + CARD_BOUND - 0.5 for t in pings)  # alive work until the bound
    assert not [t for t in pings if started + CARD_BOUND + 2 * PING_EVERY + 0.5 < t < end]  # then wedged: none
    log = d.log_path.read_text()
    assert "watchdog.withheld" in log and "print_card running" in log

    d.kill()  # what systemd's watchdog does to a printd that stopped pinging
    store = d.open_store()
    assert_ledger_consistent(store)
    balance = store.balance()
    assert (balance.on_hand, balance.issued, balance.spoiled, balance.in_doubt) == (5, 0, 0, 0)
    assert len(store.open_attempts()) == 1  # the blank fed is only an attempt without an outcome
    store.close()
    truth, model = d.physical_truth("h1")
    assert truth.in_printer == 1 and model.card is not None and model.card.failure == "jam while printing"

    Path(d.socket).unlink(missing_ok=True)  # left by the kill
    d.start()  # the printer was power-cycled too: its simulator is loaded from the state file
    client = d.client()
    wait_for(lambda: client.call("jobs.get", {"job": "h-1"})["state"] == "done", 30, "the card to be printed again")  # type: ignore[index]
    client.close()
    assert d.stop() == 0

    store = d.open_store()
    assert_ledger_consistent(store)
    job = store.get_job("h-1")
    assert job.state is JobState.DONE
    assert [str(h["event"]) for h in store.job_history(job.id)] == ["submit", "claim", "spoiled", "claim", "printed"]
    [spoiled] = store.spoiled_list()
    assert spoiled["category"] == "print_failed" and str(spoiled["detail"]).startswith(INTERRUPTED)
    assert "reject box" in str(spoiled["detail"]) and store.open_attempts() == []
    truth, model = d.physical_truth("h1")
    balance = store.balance()
    assert truth.balanced and truth.in_printer == 0
    assert [c.index for c in model.reject_box] == [1] and [c.index for c in model.hopper] == [2]
    assert (balance.issued, balance.spoiled, balance.in_doubt) == (truth.in_hopper, truth.in_reject_box, 0) == (1, 1, 0)
    assert balance.on_hand == 5 - truth.cards_fed
    store.close()
