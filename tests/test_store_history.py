"""The store contract for the stock's history (``stock.history``), over both engines: receipts, adjustments,
transfers one row each and a berita acara one row per station, newest first, filtered by kind; cards are not in it."""

from __future__ import annotations

import pytest

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.store import Store
from printd.store.records import Handover, Person
from tests.conftest import new_job
from tests.test_store_stations import OpenStation, open_station

__all__ = ["open_station"]  # the fixture, used here by name


def spoil(store: Store, png: bytes, ref: str, printer: str) -> None:
    store.submit(new_job(ref, png), "rina")
    claim = store.claim_next(printer, Counters(cards_fed=0))
    assert claim is not None
    store.settle_attempt(claim.attempt, CardResult(Outcome.SPOILED, SpoilCategory.DAMAGED, "bent", chip_uid=ref))


def test_the_history_lists_what_moved_blanks_in_or_out_newest_first(
    store: Store, open_station: OpenStation, png: bytes
) -> None:
    store.register_station(["p1"], "counter-pc", 101)
    open_station("van", ["v1"])
    assert store.stock_history() == []
    store.receive_stock(50, "DO-1", "kepala", "000100-000149")
    store.submit(new_job("GOOD-1", png), "rina")
    claim = store.claim_next("p1", Counters(cards_fed=0))
    assert claim is not None
    store.settle_attempt(claim.attempt, CardResult(Outcome.PRINTED, counters_after=Counters(cards_fed=1)))
    store.adjust_stock(-2, "two blanks found bent in the box", "kepala", "p1")
    store.transfer_stock(10, "van", "TR-1", "kepala")
    spoil(store, png, "BAD-1", "p1")
    spoil(store, png, "BAD-2", "p1")
    officer = Person("Kepala Bidang", "198001012005011001", "", "")
    store.book_handover(Handover("BA-1", "destroyed", 0.0, "", "Mataram", None, [officer], [], [], "kepala"), None)

    history = store.stock_history()
    shown = [(e.kind, e.count, e.reference, e.detail, e.actor, e.station, e.to, e.printer) for e in history]
    assert shown == [
        ("destroyed", 2, "BA-1", "", "kepala", "test", None, None),
        ("transferred", 10, "TR-1", "", "kepala", "test", "van", None),
        ("adjusted", -2, None, "two blanks found bent in the box", "kepala", "test", None, "p1"),
        ("received", 50, "DO-1", "000100-000149", "kepala", "test", None, None),
    ]  # the cards issued and spoiled are not in it
    assert [e.at for e in history] == sorted((e.at for e in history), reverse=True)
    assert history[0].as_dict()["at"].endswith("Z") and history[0].as_dict()["to"] is None
    assert [e.kind for e in store.stock_history(limit=2)] == ["destroyed", "transferred"]
    assert [e.reference for e in store.stock_history(kind="received")] == ["DO-1"]
    assert store.stock_history(kind="returned") == []
    store.receive_stock(5, "DO-2", "kepala")
    assert [e.reference for e in store.stock_history(limit=1)] == ["DO-2"]
    with pytest.raises(ValueError, match="issued"):
        store.stock_history(kind="issued")
