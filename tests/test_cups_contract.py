"""The driver contract suite (tests/test_contract.py) over CUPS: CupsDriver, a private cupsd, printdsim."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from drivers.sim.model import PrinterModel
from tests.test_contract import (  # the suite's tests, collected here again with the CUPS rig below
    test_a_lost_eject_reply_is_unknown_never_a_guess,
    test_clear_errors_after_the_operator_fixed_the_printer,
    test_counters_follow_the_printer,
    test_identity_and_status,
    test_not_fed_leaves_the_feeder_alone,
    test_one_and_two_sided_cards_land_in_the_hopper,
    test_spoiled_cards_land_in_the_reject_box,
)

if TYPE_CHECKING:
    from tests.cupsd import PrivateCupsd, SimQueue


__all__ = [
    "test_a_lost_eject_reply_is_unknown_never_a_guess",
    "test_clear_errors_after_the_operator_fixed_the_printer",
    "test_counters_follow_the_printer",
    "test_identity_and_status",
    "test_not_fed_leaves_the_feeder_alone",
    "test_one_and_two_sided_cards_land_in_the_hopper",
    "test_spoiled_cards_land_in_the_reject_box",
]
_names = itertools.count(1)


class StateFileHandle:
    """What the suite reads of a simulator handle, from the backend's state file: ``model`` is reloaded at
    each access, so it is always the printer as the last job left it."""

    def __init__(self, queue: SimQueue) -> None:
        self.queue = queue
        self.name = queue.name

    @property
    def model(self) -> PrinterModel:
        return self.queue.model()


@pytest.fixture
def rig(cupsd: PrivateCupsd) -> Any:
    @contextmanager
    def make(faults: str | None = None, cards: int = 50, ribbon: str = "ymcko") -> Iterator[tuple[Any, Any]]:
        queue = cupsd.add_queue(f"contract-{next(_names)}", faults=faults, cards=cards, ribbon=ribbon)
        driver = queue.driver()
        driver.open()
        yield StateFileHandle(queue), driver
        driver.close()

    return make
