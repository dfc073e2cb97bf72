"""The station's running card figures: outcomes, cycle-time histogram and today's cards, against the ledger and the
simulators' physical truth, and today's count surviving a restart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from drivers.base import CardResult, Outcome, SpoilCategory
from printd.card_metrics import CYCLE_BUCKETS, CardMetrics
from printd.store.ledger_reads import LedgerRow
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for

WITA = ZoneInfo("Asia/Makassar")


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now


def test_histogram_is_cumulative_and_outcomes_keep_their_category() -> None:
    metrics = CardMetrics(WITA)
    for seconds in (0.05, 0.3, 18.0, 22.0, 400.0):
        metrics.card_cycle("p1", seconds)
    metrics.card_booked("p1", CardResult(Outcome.PRINTED))
    metrics.card_booked("p1", CardResult(Outcome.SPOILED, SpoilCategory.PRINT_FAILED, "jam"))
    metrics.card_booked("p1", CardResult(Outcome.NOT_FED, detail="feeder empty"))
    snapshot = metrics.snapshot()["printers"]["p1"]  # type: ignore[index]
    buckets = dict((str(b), n) for b, n in snapshot["cycle_seconds"]["buckets"])
    assert buckets["0.1"] == 1 and buckets["0.5"] == 2 and buckets["20.0"] == 3 and buckets["25.0"] == 4
    assert buckets["300.0"] == 4 and buckets["+Inf"] == 5 == snapshot["cycle_seconds"]["count"]
    assert len(snapshot["cycle_seconds"]["buckets"]) == len(CYCLE_BUCKETS) + 1
    assert snapshot["cycle_seconds"]["sum"] == 440.35
    assert {(o["outcome"], o["category"]): o["count"] for o in snapshot["outcomes"]} == {
        ("printed", None): 1,
        ("spoiled", "print_failed"): 1,
        ("not_fed", None): 1,
    }
    assert snapshot["today"] == {"issued": 1, "spoiled": 1, "in_doubt": 0}  # a card not fed used no blank


def test_today_begins_again_at_the_offices_midnight_not_utcs() -> None:
    clock = Clock(dt.datetime(2026, 12, 7, 23, 50, tzinfo=WITA))
    metrics = CardMetrics(WITA, clock)
    metrics.card_booked("p1", CardResult(Outcome.PRINTED))
    clock.now += 5 * 60  # 23:55 WITA is 15:55 UTC: still the same office day
    metrics.card_booked("p1", CardResult(Outcome.UNKNOWN))
    assert metrics.today("p1") == {"issued": 1, "spoiled": 0, "in_doubt": 1}
    clock.now += 10 * 60  # 00:05 WITA
    assert metrics.today("p1") == {"issued": 0, "spoiled": 0, "in_doubt": 0}
    assert metrics.day_start() == dt.datetime(2026, 12, 8, tzinfo=WITA).timestamp()
    assert metrics.snapshot()["printers"]["p1"]["outcomes"]  # type: ignore[index]  # the since-start counts stay


def test_seeding_counts_this_stations_cards_only() -> None:
    def row(
        kind: str, printer: str | None, station: str = "office", count: int = 1, from_issued: bool = False
    ) -> LedgerRow:
        return LedgerRow(1, 0.0, kind, count, None, from_issued, None, printer, station, "rina")

    metrics = CardMetrics(WITA)
    metrics.seed_today(
        [
            row("issued", "p1"),
            row("issued", "p1"),
            row("spoiled", "p1"),
            row("spoiled", "p1", from_issued=True),  # a QC spoil of a card already counted as issued
            row("in_doubt", "p1"),
            row("received", None, count=500),
            row("issued", "v1", station="van"),
        ],
        "office",
    )
    assert metrics.today("p1") == {"issued": 2, "spoiled": 1, "in_doubt": 1}
    assert metrics.today("v1") == {"issued": 0, "spoiled": 0, "in_doubt": 0}


def test_status_and_metrics_follow_the_cards_and_today_survives_a_restart(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, [SimSpec("p1", spoil_rate=0.1, seed=5)])
    try:
        face = tmp_path / "face.png"
        face.write_bytes(card_png("METRICS"))
        daemon.start()
        client = daemon.client()
        client.call("stock.receive", {"count": 100, "ref": "DO-METRICS"})
        client.call("jobs.submit_batch", {"jobs": [{"ref": f"m-{n}", "front": str(face)} for n in range(30)]})

        def printer() -> dict:  # type: ignore[type-arg]
            status = client.call("status", {})
            assert isinstance(status, dict)
            return status["printers"][0]  # type: ignore[no-any-return]

        wait_for(lambda: printer()["cards_today"]["issued"] == 30, 60, "30 cards issued")
        metrics = client.call("station.metrics", {})
        assert isinstance(metrics, dict)
        p1 = metrics["printers"]["p1"]
        today = printer()["cards_today"]
        assert printer()["current_ref"] is None and printer()["card_started_at"] is None
        store = daemon.open_store()
        balance = store.balance()
        assert today == {"issued": balance.issued, "spoiled": balance.spoiled, "in_doubt": 0}
        outcomes = {(o["outcome"], o["category"]): o["count"] for o in p1["outcomes"]}
        assert outcomes[("printed", None)] == 30
        assert sum(n for (outcome, _), n in outcomes.items() if outcome == "spoiled") == balance.spoiled
        assert p1["cycle_seconds"]["count"] == 30 + balance.spoiled  # every card fed had its time measured
        client.close()
        assert daemon.stop() == 0
        truth, _ = daemon.physical_truth("p1")
        assert truth.in_hopper == today["issued"] and truth.in_reject_box == today["spoiled"] and truth.balanced
        assert_ledger_consistent(store)
        store.close()

        daemon.start()  # the ledger gives today's cards back; the running counts begin again
        client = daemon.client()
        assert printer()["cards_today"] == today
        metrics = client.call("station.metrics", {})
        assert isinstance(metrics, dict)
        assert metrics["printers"]["p1"]["outcomes"] == [] and metrics["printers"]["p1"]["cycle_seconds"]["count"] == 0
        client.close()
        assert daemon.stop() == 0
    finally:  # a failed assertion must not leave the daemon running
        daemon.kill()
