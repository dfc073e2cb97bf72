"""Spoiled blanks leave under a berita acara: each at most once, one ledger event a blank, the stock untouched."""

from __future__ import annotations

import pytest

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.errors import PrintdError
from printd.store import SqliteStore
from printd.store.records import Handover, Person
from tests.conftest import assert_ledger_consistent, new_job

OFFICER = Person("Kepala Bidang", "198001012005011001", "Penata / III-c", "Kepala Bidang PIAK")
WITNESS = Person("Inspektorat", "197505052000031002", "", "Auditor")


def spoil_cards(store: SqliteStore, png: bytes, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        store.submit(new_job(f"S{i}", png), "rina")
        claim = store.claim_next("loket-1", Counters(cards_fed=i))
        assert claim is not None
        store.settle_attempt(
            claim.attempt, CardResult(Outcome.SPOILED, SpoilCategory.PRINT_FAILED, "x", chip_uid=f"04{i:06X}")
        )


def draft(number: str, kind: str = "destroyed") -> Handover:
    return Handover(number, kind, 0.0, "", "Mataram", None, [OFFICER], [WITNESS], [], "kepala")


def test_a_handover_takes_every_pending_blank_once(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(20, "DO-1", "kepala")
    spoil_cards(store, png, 3)
    pending = store.pending_spoils()
    assert [item.chip_uid for item in pending] == ["04000000", "04000001", "04000002"]
    assert all(item.job_ref and item.officer == "rina" for item in pending)
    before = store.balance()
    done = store.book_handover(draft("BA-001"), None)
    assert len(done.items) == 3 and done.station == "test" and done.at > 0
    after = store.balance()
    assert (after.on_hand, after.spoiled, after.destroyed) == (before.on_hand, before.spoiled, 3)
    assert store.pending_spoils() == []
    with pytest.raises(PrintdError) as nothing:
        store.book_handover(draft("BA-002"), None)
    assert nothing.value.code == "handover.nothing_pending"
    spoil_cards(store, png, 1, first=3)
    with pytest.raises(PrintdError) as taken:
        store.book_handover(draft("BA-001", "returned"), None)
    assert taken.value.code == "handover.number_taken"
    assert store.balance().returned == 0 and len(store.pending_spoils()) == 1
    again = store.handover("BA-001")
    assert again.items == done.items and again.officers == [OFFICER] and again.witnesses == [WITNESS]
    assert store.handover_numbers() == [("BA-001", 3)]
    assert_ledger_consistent(store)


def test_a_handover_up_to_a_time_leaves_later_spoils(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(20, "DO-1", "kepala")
    spoil_cards(store, png, 2)
    cut = store.pending_spoils()[1].spoiled_at
    done = store.book_handover(draft("BA-7", "returned"), cut)
    assert len(done.items) == 1 and len(store.pending_spoils()) == 1
    assert store.balance().returned == 1
    with pytest.raises(PrintdError) as missing:
        store.handover("BA-8")
    assert missing.value.code == "handover.not_found"
