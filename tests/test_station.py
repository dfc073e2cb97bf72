"""The station's workers over a scripted driver: pauses, resume, offline, unprintable jobs, start-up settlement,
stock alerts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from drivers.base import (
    COVER_OPEN,
    Card,
    CardResult,
    Counters,
    DriverError,
    MajorState,
    Outcome,
    PrinterInfo,
    PrinterOfflineError,
    PrinterStatus,
    Reason,
)
from printd.errors import PrintdError
from printd.jobs import JobState
from printd.printers import BuiltPrinter
from printd.station import Station
from printd.store import SqliteStore
from tests.conftest import new_job
from tests.daemon_harness import wait_for


class ScriptedDriver:
    """A driver whose outcomes and conditions a test sets; counts fed blanks like a printer would."""

    def __init__(self) -> None:
        self.fed = 0
        self.reasons: frozenset[Reason] = frozenset()
        self.outcomes: list[CardResult | Exception] = []
        self.cleared = threading.Event()
        self.offline = False
        self.link_broken = False  # the link in hand is dead until the driver is closed (a reconnecting transport)

    def open(self) -> PrinterInfo:
        if self.offline:
            raise PrinterOfflineError("not found on USB")
        if self.link_broken:
            raise PrinterOfflineError("printer not reachable: the link broke")
        return PrinterInfo("Scripted", "S1", "1.0")

    def close(self) -> None:
        self.link_broken = False

    def status(self) -> PrinterStatus:
        if self.offline:
            raise PrinterOfflineError("link lost")
        state = MajorState.ERROR if self.reasons else MajorState.READY
        return PrinterStatus(state, self.reasons, Counters(self.fed))

    def print_card(self, card: Card) -> CardResult:
        outcome = self.outcomes.pop(0) if self.outcomes else CardResult(Outcome.PRINTED, chip_uid="04AB")
        if isinstance(outcome, Exception):
            raise outcome
        if outcome.outcome is not Outcome.NOT_FED:
            self.fed += 1
        return outcome

    def clear_errors(self) -> None:
        self.reasons = frozenset()
        self.cleared.set()


@pytest.fixture
def driver() -> ScriptedDriver:
    return ScriptedDriver()


@pytest.fixture
def station(store: SqliteStore, driver: ScriptedDriver) -> Iterator[Station]:
    s = Station(store, [BuiltPrinter("p1", driver)], low_stock_threshold=5)
    yield s
    assert s.stop(10)


def test_prints_and_pauses_on_a_printer_condition(
    station: Station, store: SqliteStore, driver: ScriptedDriver, png: bytes
) -> None:
    store.receive_stock(10, "DO", "t")
    driver.outcomes = [CardResult(Outcome.NOT_FED, detail="cover open", reason=COVER_OPEN)]
    store.submit(new_job("A", png), "t")
    station.start()
    view = station.worker("p1").view
    wait_for(lambda: view.paused, 10, "the pause")
    assert view.pause_reason == "cover-open-error"
    assert store.get_job("A").state is JobState.QUEUED and store.balance().on_hand == 10
    assert store.printer_pauses() == {"p1": "cover-open-error"}  # survives a restart
    station.resume("p1")
    assert driver.cleared.wait(10)
    wait_for(lambda: store.get_job("A").state is JobState.DONE, 10, "the job to print")
    assert store.balance().issued == 1


def test_once_a_pause_returns_no_card_is_claimed_the_claim_under_way_finishes(
    store: SqliteStore, driver: ScriptedDriver, png: bytes
) -> None:
    """A claim being committed when the operator pauses: pause waits for it, that card prints, none follows."""
    entered, release = threading.Event(), threading.Event()
    claim_next = store.claim_next

    def slow_claim(printer: str, counters: Counters | None) -> Any:
        entered.set()
        assert release.wait(10)
        return claim_next(printer, counters)

    store.claim_next = slow_claim  # type: ignore[method-assign]
    store.receive_stock(10, "DO", "t")
    for ref in ("A", "B", "C"):
        store.submit(new_job(ref, png), "t")
    station = Station(store, [BuiltPrinter("p1", driver)])
    station.start()
    try:
        assert entered.wait(10)  # the worker saw the printer not paused and is committing its claim
        paused = threading.Thread(target=station.pause, args=("p1", "ribbon change", "rina"))
        paused.start()
        paused.join(0.3)
        assert paused.is_alive()  # the pause waits for the claim under way
        release.set()
        paused.join(10)
        assert not paused.is_alive()
        # (the worker may take the lock again before the pause does, and claim B first: the rule is about after)
        claimed = {r for r in "ABC" if store.get_job(r).state is not JobState.QUEUED}
        assert "A" in claimed
        station.notify_work()
        threading.Event().wait(1.5)  # a worker that ignored the pause would have claimed another by now
        assert {r for r in "ABC" if store.get_job(r).state is not JobState.QUEUED} == claimed
        wait_for(lambda: all(store.get_job(r).state is JobState.DONE for r in claimed), 10, "the claimed cards")
        assert driver.fed == len(claimed)
    finally:
        release.set()
        assert station.stop(10)


def test_a_printer_reporting_an_error_is_paused_before_claiming(
    station: Station, store: SqliteStore, driver: ScriptedDriver, png: bytes
) -> None:
    store.receive_stock(10, "DO", "t")
    driver.reasons = frozenset({COVER_OPEN})
    store.submit(new_job("A", png), "t")
    station.start()
    wait_for(lambda: station.worker("p1").view.paused, 10, "the pause")
    assert store.get_job("A").state is JobState.QUEUED and store.open_attempts() == []


def test_offline_printer_keeps_the_queue_and_reconnects_when_it_comes_back(
    station: Station, store: SqliteStore, driver: ScriptedDriver, png: bytes
) -> None:
    store.receive_stock(10, "DO", "t")
    driver.offline = True
    store.submit(new_job("A", png), "t")
    station.start()
    view = station.worker("p1").view
    wait_for(lambda: view.detail != "", 10, "the offline state")
    assert view.state == "offline" and "not found on USB" in view.detail
    assert store.get_job("A").state is JobState.QUEUED
    driver.offline = False  # plugged back in
    wait_for(lambda: store.get_job("A").state is JobState.DONE, 15, "the job after reconnection")
    assert view.state != "offline" and store.balance().issued == 1


def test_a_link_broken_during_open_is_dropped_so_the_next_try_reconnects(
    station: Station, store: SqliteStore, driver: ScriptedDriver, png: bytes
) -> None:
    store.receive_stock(10, "DO", "t")
    driver.link_broken = True  # unplugged while the printer was being opened; plugged back in at once
    store.submit(new_job("A", png), "t")
    station.start()
    wait_for(lambda: store.get_job("A").state is JobState.DONE, 15, "the job on a new link")
    assert station.worker("p1").view.state != "offline"


def test_driver_refusing_content_fails_the_job_without_a_blank(
    station: Station, store: SqliteStore, driver: ScriptedDriver, png: bytes
) -> None:
    store.receive_stock(10, "DO", "t")
    driver.outcomes = [DriverError("the card image cannot be decoded")]
    store.submit(new_job("A", png), "t")
    station.start()
    wait_for(lambda: store.get_job("A").state is JobState.FAILED, 10, "the job to fail")
    assert store.balance().on_hand == 10 and store.balance().spoiled == 0


def test_driver_crashing_mid_card_puts_the_job_in_doubt(
    station: Station, store: SqliteStore, driver: ScriptedDriver, png: bytes
) -> None:
    store.receive_stock(10, "DO", "t")
    driver.outcomes = [RuntimeError("bug")]
    store.submit(new_job("A", png), "t")
    station.start()
    wait_for(lambda: store.get_job("A").state is JobState.IN_DOUBT, 10, "in doubt")
    assert store.balance().in_doubt == 1
    assert any(a["event"] == "stock.in_doubt" for a in station.alerts())


def test_start_up_settles_interrupted_attempts_from_the_counter(
    store: SqliteStore, driver: ScriptedDriver, png: bytes
) -> None:
    store.receive_stock(10, "DO", "t")
    store.submit(new_job("A", png), "t")
    store.submit(new_job("B", png), "t")
    store.claim_next("p1", Counters(0))  # A: the daemon died before feeding
    driver.fed = 0
    station = Station(store, [BuiltPrinter("p1", driver)])
    station.start()
    wait_for(
        lambda: store.get_job("A").state is JobState.DONE and store.get_job("B").state is JobState.DONE, 10, "both jobs"
    )
    assert station.stop(10)
    history = [h["event"] for h in store.job_history(store.get_job("A").id)]
    assert history[:4] == ["submit", "claim", "not_fed", "claim"]


def test_stock_alerts(station: Station, store: SqliteStore, png: bytes) -> None:
    assert [a["event"] for a in station.alerts()] == ["stock.low"]
    store.submit(new_job("A", png), "t")
    assert [a["event"] for a in station.alerts()] == ["stock.low", "stock.exhausted"]
    store.receive_stock(50, "DO", "t")
    assert station.alerts() == []


def test_stock_reorder_is_logged_once_each_time_stock_falls_below_the_reorder_point(store: SqliteStore) -> None:
    station = Station(store, [])
    station.reorder = lambda: (50, 100)  # the forecast's reorder point and recommended request
    store.receive_stock(10, "DO-1", "kepala")
    with structlog.testing.capture_logs() as logs:
        station.check_stock()
        station.check_stock()
        store.receive_stock(100, "DO-2", "kepala")
        station.check_stock()  # above it again
        assert not [a for a in station.alerts() if a["event"] == "stock.reorder"]
        store.adjust_stock(-80, "counted again", "kepala")
        station.check_stock()
    reorders = [e for e in logs if e["event"] == "stock.reorder"]
    assert [(e["on_hand"], e["reorder_point"], e["request"]) for e in reorders] == [(10, 50, 100), (30, 50, 100)]
    [alert] = [a for a in station.alerts() if a["event"] == "stock.reorder"]
    assert "request 100 blanks" in str(alert["message"])


def test_a_forecast_that_fails_does_not_stop_the_station(store: SqliteStore) -> None:
    def broken() -> tuple[int, int]:
        raise RuntimeError("no forecast")

    station = Station(store, [])
    station.reorder = broken
    station.check_stock()
    assert not [a for a in station.alerts() if a["event"] == "stock.reorder"]


def test_a_printer_thread_outlives_failures_to_book_a_held_card(
    station: Station, store: SqliteStore, png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A good card is held until booked. When booking it fails with an unexpected error, and fails again on the
    retry the error handler used to make at once, the printer's thread goes on and books it when it can."""
    failures = [PrintdError("internal", "booking failed"), PrintdError("internal", "booking failed again")]
    for name in ("settle_and_claim", "settle_attempt"):
        real = getattr(store, name)

        def failing(*args: object, _real: Any = real, **kwargs: object) -> object:
            if failures:
                raise failures.pop(0)
            return _real(*args, **kwargs)

        monkeypatch.setattr(store, name, failing)
    store.receive_stock(5, "DO", "t")
    store.submit(new_job("A", png), "t")
    station.start()
    wait_for(lambda: not failures and store.get_job("A").state is JobState.DONE, 15, "the held card to be booked")
    assert store.balance().issued == 1 and store.open_attempts() == []
    assert station.worker("p1")._thread.is_alive()
