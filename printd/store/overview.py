"""What a status reply reads of the store, in one snapshot: the queue, each station's custody, each printer's blanks
and the stations themselves."""

from __future__ import annotations

from dataclasses import dataclass

from printd.ledger import Balance
from printd.store.stations import StationView


@dataclass(frozen=True)
class Overview:
    queue: dict[str, int]
    custody: dict[str, Balance]
    """Per station that ever held a blank or ran on the store (an empty custody for one that never held any)."""
    printers: dict[str, dict[str, int]]
    stations: list[StationView]
    waiting: dict[str, int]
    """Jobs waiting to be printed (queued or held) by priority label."""

    @property
    def balance(self) -> Balance:
        """The whole queue's blanks: every custody's places added up."""
        return Balance.total(self.custody.values())
