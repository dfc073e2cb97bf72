"""The ledger fold and its invariant."""

import pytest

from printd.ledger import Balance, InvariantError, LedgerEntry, LedgerKind, Resolution

K = LedgerKind


def test_fold_moves_blanks_between_places() -> None:
    b = Balance.fold(
        [
            LedgerEntry(K.RECEIVED, 100),
            LedgerEntry(K.ISSUED),
            LedgerEntry(K.ISSUED),
            LedgerEntry(K.SPOILED),
            LedgerEntry(K.IN_DOUBT),
            LedgerEntry(K.IN_DOUBT),
            LedgerEntry(K.RESOLVED, resolution=Resolution.ISSUED),
            LedgerEntry(K.RESOLVED, resolution=Resolution.NOT_CONSUMED),
            LedgerEntry(K.SPOILED, from_issued=True),
            LedgerEntry(K.ADJUSTED, -3),
            LedgerEntry(K.DESTROYED, 1),
        ]
    )
    b.check()
    assert b.as_dict() == {
        "received": 100,
        "transferred_in": 0,
        "transferred_out": 0,
        "adjusted": -3,
        "issued": 2,
        "spoiled": 2,
        "in_doubt": 0,
        "on_hand": 93,
        "destroyed": 1,
        "returned": 0,
    }


def test_resolution_to_spoiled() -> None:
    b = Balance.fold(
        [LedgerEntry(K.RECEIVED, 5), LedgerEntry(K.IN_DOUBT), LedgerEntry(K.RESOLVED, resolution=Resolution.SPOILED)]
    )
    b.check()
    assert (b.on_hand, b.spoiled, b.in_doubt) == (4, 1, 0)


def test_invariant_catches_a_lost_blank() -> None:
    b = Balance.fold([LedgerEntry(K.RECEIVED, 5), LedgerEntry(K.ISSUED)])
    b.on_hand += 1  # a blank appearing from nowhere
    with pytest.raises(InvariantError, match="received 5"):
        b.check()


def test_invariant_catches_negative_stock() -> None:
    b = Balance.fold([LedgerEntry(K.ISSUED)])
    with pytest.raises(InvariantError, match="negative ledger places: on_hand"):
        b.check()


def test_destroying_more_than_spoiled_is_caught() -> None:
    b = Balance.fold([LedgerEntry(K.RECEIVED, 5), LedgerEntry(K.SPOILED), LedgerEntry(K.DESTROYED, 2)])
    with pytest.raises(InvariantError, match="destroyed"):
        b.check()
