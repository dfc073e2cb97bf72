"""The SQL of a job's cards: each attempt that may have taken a blank, and what the ledger says became of it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from printd.store.records import iso
from printd.store.sql import Db


class CardFate(enum.StrEnum):
    """Where a card of a job is, by its ledger events (the last one that moved it decides)."""

    PRINTING = "printing"  # its attempt is open: the printer has it, or had it when printd stopped
    NOT_FED = "not_fed"
    ISSUED = "issued"
    SPOILED = "spoiled"
    IN_DOUBT = "in_doubt"


@dataclass(frozen=True)
class Card:
    attempt_id: int
    printer: str
    started_at: float
    chip_uid: str | None
    fate: CardFate
    category: str | None  # spoiled: why

    def as_dict(self) -> dict[str, object]:
        return {
            "attempt": self.attempt_id,
            "printer": self.printer,
            "at": iso(self.started_at),
            "chip_uid": self.chip_uid,
            "fate": self.fate.value,
            "category": self.category,
        }


_FATES = {
    ("issued", None): CardFate.ISSUED,
    ("spoiled", None): CardFate.SPOILED,
    ("in_doubt", None): CardFate.IN_DOUBT,
    ("resolved", "issued"): CardFate.ISSUED,
    ("resolved", "spoiled"): CardFate.SPOILED,
    ("resolved", "not_consumed"): CardFate.NOT_FED,
}


def of_job(db: Db, job_id: int) -> list[Card]:
    """Every attempt of the job, oldest first, with its fate."""
    fates: dict[int, tuple[CardFate, str | None]] = {}
    chips: dict[int, str] = {}
    for attempt_id, kind, resolution, category, chip_uid in db.execute(
        "SELECT attempt_id, kind, resolution, category, chip_uid FROM ledger"
        " WHERE job_id = ? AND attempt_id IS NOT NULL ORDER BY id",
        (job_id,),
    ):
        fate = _FATES.get((kind, resolution))
        if fate is not None:
            fates[attempt_id] = (fate, category if fate is CardFate.SPOILED else None)
        if chip_uid:
            chips[attempt_id] = chip_uid
    cards = []
    for attempt_id, printer, started_at, outcome, chip_uid in db.execute(
        "SELECT id, printer, started_at, outcome, chip_uid FROM attempts WHERE job_id = ? ORDER BY id", (job_id,)
    ):
        default = CardFate.PRINTING if outcome is None else CardFate.NOT_FED
        fate, category = fates.get(attempt_id, (default, None))
        cards.append(Card(attempt_id, printer, started_at, chip_uid or chips.get(attempt_id), fate, category))
    return cards
