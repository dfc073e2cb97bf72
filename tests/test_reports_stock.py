"""Stock reports folded from a real store's ledger in the station's time zone, checked against Balance.fold."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.ledger import Balance, LedgerEntry, LedgerKind, Resolution
from printd.reports import reading
from printd.store import SqliteStore
from tests.conftest import assert_ledger_consistent, new_job

WITA = ZoneInfo("Asia/Makassar")  # UTC+8, Mataram
DAY1, DAY2, DAY3 = dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 2)


def at(day: dt.date, hour: int, minute: int = 0) -> float:
    return dt.datetime.combine(day, dt.time(hour, minute), WITA).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("printd.store.core.time.time", c)
    return c


@pytest.fixture
def office(tmp_path: Path, clock: Clock, png: bytes) -> Iterator[SqliteStore]:
    """Three local days at an office in Mataram, with events just either side of local midnight."""
    # one attempt a job: a spoiled job fails rather than waiting in the queue for the next card of the scenario
    store = SqliteStore(tmp_path / "printd.db", station="mataram-1", max_attempts=1)
    refs = (f"J{n}" for n in itertools.count(1))
    counter = itertools.count()

    def card(when: float, outcome: Outcome, printer: str = "loket-1", submitter: str = "rina") -> int:
        clock.now = when - 60
        store.submit(new_job(next(refs), png), submitter)
        clock.now = when
        claim = store.claim_next(printer, Counters(cards_fed=next(counter)))
        assert claim is not None
        category = SpoilCategory.PRINT_FAILED if outcome is Outcome.SPOILED else None
        store.settle_attempt(claim.attempt, CardResult(outcome, category, "x", chip_uid=f"04{claim.attempt.id:04X}"))
        return claim.job.id

    clock.now = at(DAY1, 0, 5)  # 16:05 UTC on 29 November: already the 30th in Mataram
    store.receive_stock(100, "DO-1", "kepala")
    card(at(DAY1, 9), Outcome.PRINTED)
    card(at(DAY1, 10), Outcome.SPOILED, submitter="budi")
    qc = card(at(DAY1, 11), Outcome.PRINTED, printer="loket-2")
    doubt = card(at(DAY1, 23, 50), Outcome.UNKNOWN)  # in doubt overnight
    clock.now = at(DAY1, 23, 55)
    store.qc_spoil(qc, store.job_cards(qc)[0].attempt_id, SpoilCategory.DAMAGED, "scratch", "rina")
    clock.now = at(DAY2, 8)
    store.resolve(doubt, Resolution.SPOILED, "rina", "in the reject box", SpoilCategory.ENCODE_FAILED)
    store.adjust_stock(-2, "test cards from the printer menu", "kepala", printer="loket-1")
    doubt = card(at(DAY2, 9), Outcome.UNKNOWN)
    clock.now = at(DAY2, 9, 30)
    store.resolve(doubt, Resolution.NOT_CONSUMED, "rina", "still in the feeder")
    card(at(DAY2, 23, 59), Outcome.PRINTED)
    card(at(DAY3, 0, 1), Outcome.PRINTED)  # 16:01 UTC on 1 December
    clock.now = at(DAY3, 12)
    store.receive_stock(50, "DO-2", "kepala")
    yield store
    assert_ledger_consistent(store)
    store.close()


def on_hand_at(store: SqliteStore, when: float) -> int:
    """The independent truth: Balance.fold of every event before ``when``."""
    entries = [
        LedgerEntry(
            LedgerKind(e["kind"]),
            e["count"],
            Resolution(e["resolution"]) if e["resolution"] else None,
            bool(e["from_issued"]),
        )
        for e in store.ledger_events()
        if e["at"] < when
    ]
    return Balance.fold(entries).on_hand


def test_each_local_day_balances_and_follows_the_day_before(office: SqliteStore) -> None:
    days = [reading.stock_between(office, day, day, WITA) for day in (DAY1, DAY2, DAY3)]
    for report, day in zip(days, (DAY1, DAY2, DAY3), strict=True):
        assert report.balanced
        assert report.opening == on_hand_at(office, at(day, 0))
        assert report.closing == on_hand_at(office, at(day + dt.timedelta(days=1), 0))
    assert [d.opening for d in days[1:]] == [d.closing for d in days[:-1]]
    first, second, third = (d.movements for d in days)
    assert (first.received, first.issued, first.spoiled, first.in_doubt) == (
        100,
        1,
        {"damaged": 1, "print_failed": 1},
        1,
    )
    assert (second.adjusted, second.issued, second.spoiled, second.in_doubt) == (-2, 1, {"encode_failed": 1}, -1)
    assert (third.received, third.issued) == (50, 1)
    assert (days[0].opening, days[0].closing, days[1].closing, days[2].closing) == (0, 96, 93, 142)


def test_per_printer_and_per_operator(office: SqliteStore) -> None:
    report = reading.stock_between(office, DAY1, DAY1, WITA)
    assert set(report.printers) == {"loket-1", "loket-2"}
    assert report.printers["loket-2"].issued == 0 and report.printers["loket-2"].spoiled == {"damaged": 1}
    # cards printed by printd count for whoever submitted them; receipts and QC spoils for whoever booked them
    assert report.operators["budi"].spoiled == {"print_failed": 1}
    assert report.operators["kepala"].received == 100
    rina = report.operators["rina"]  # submitted two good cards, then rejected one of them at inspection
    assert (rina.issued, rina.spoiled, rina.in_doubt) == (1, {"damaged": 1}, 1)
    assert "printd" not in report.operators


def test_the_month_is_its_days(office: SqliteStore) -> None:
    december = reading.monthly(office, 2026, 12, WITA)
    assert len(december.days) == 31 and all(d.balanced for d in december.days) and december.month_total.balanced
    for day, date in zip(december.days[:2], (DAY2, DAY3), strict=True):  # the same figures, read the other way
        by_event = reading.stock_between(office, date, date, WITA)
        assert (day.opening, day.movements, day.closing) == (by_event.opening, by_event.movements, by_event.closing)
    assert december.month_total.opening == 96 and december.month_total.closing == office.balance().on_hand
    assert all(d.opening == d.closing for d in december.days[2:])
    november = reading.monthly(office, 2026, 11, WITA)
    assert november.month_total.movements == reading.stock_between(office, DAY1, DAY1, WITA).movements
    grouped = reading.stock_between(office, DAY1, DAY3, WITA, breakdown=False)  # read by quarter hour
    assert grouped.closing == reading.stock_between(office, DAY1, DAY3, WITA).closing and grouped.balanced


def test_day_uses_put_cards_on_their_local_days(office: SqliteStore) -> None:
    uses = reading.day_uses(office, [DAY1, DAY2, DAY3], WITA)
    assert [(u.date, u.issued, u.spoiled) for u in uses] == [(DAY1, 1, 2), (DAY2, 1, 1), (DAY3, 1, 0)]
    queue = office.queue_counts()
    assert office.backlog_by_priority() == {"walk_in": 0, "normal": queue["queued"] + queue["held"], "backlog": 0}


def test_a_day_that_began_without_blanks_is_out_of_stock(tmp_path: Path, clock: Clock, png: bytes) -> None:
    store = SqliteStore(tmp_path / "empty.db", station="van")
    try:
        clock.now = at(DAY2, 10)  # nothing on hand on the 30th; a delivery mid-morning on the 1st
        store.receive_stock(5, "DO-1", "kepala")
        store.submit(new_job("A", png), "rina")
        claim = store.claim_next("p1", Counters(cards_fed=0))
        assert claim is not None
        store.settle_attempt(claim.attempt, CardResult(Outcome.PRINTED, chip_uid="04AA"))
        uses = reading.day_uses(store, [DAY1, DAY2, DAY3], WITA)
        assert [(u.used, u.out_of_stock) for u in uses] == [(0, True), (1, False), (0, False)]
    finally:
        store.close()


def test_the_opening_is_the_fold_of_every_event_before(office: SqliteStore) -> None:
    for day in (DAY1, DAY2, DAY3, DAY3 + dt.timedelta(days=1)):
        start = at(day, 0)
        assert reading.opening(office.period_reads(start, start + 900)) == on_hand_at(office, start)
    with pytest.raises(ValueError, match="quarter hour"):
        office.period_reads(at(DAY1, 0) + 60, at(DAY2, 0))
