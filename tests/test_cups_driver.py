"""CupsDriver over a real private cupsd and the printdsim backend, checked against the state file and the queue."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from drivers import base
from drivers.base import Card, CardResult, DriverError, MajorState, Outcome, PrinterOfflineError, SpoilCategory
from drivers.cups.status import QUEUE_FORBIDDEN, QUEUE_MISSING, QUEUE_PAUSED, QUEUE_REJECTING
from tests.conftest import card_png

if TYPE_CHECKING:
    from tests.cupsd import PrivateCupsd, SimQueue


ONE_SIDED = Card(front=card_png("FRONT"), chip_payload=b"payload")
TWO_SIDED = Card(front=card_png("FRONT"), back=card_png("BACK", (648, 1016)), chip_payload=b"payload")
_names = itertools.count(1)


@pytest.fixture
def make_queue(cupsd: PrivateCupsd) -> Callable[..., SimQueue]:
    def make(**options: object) -> SimQueue:
        return cupsd.add_queue(f"card-{next(_names)}", **options)  # type: ignore[arg-type]

    return make


def jobs_left(queue: SimQueue) -> dict[int, object]:
    """The queue's jobs CUPS still knows, finished or not (the driver purges every job it ran)."""
    jobs: dict[int, dict[str, object]] = queue.server.connection().getJobs(
        which_jobs="all", requested_attributes=["job-id", "job-printer-uri"]
    )
    return {k: v for k, v in jobs.items() if str(v.get("job-printer-uri", "")).endswith("/" + queue.name)}


def printer_state(queue: SimQueue) -> int:
    return int(queue.server.connection().getPrinterAttributes(queue.name)["printer-state"])


def test_one_and_two_sided_cards_are_printed(make_queue: Callable[..., SimQueue]) -> None:
    queue = make_queue()
    driver = queue.driver()
    info = driver.open()
    assert (info.model, info.firmware) == ("Primacy", "SIM-1.0")
    assert info.serial_number == queue.model().serial
    first, second = driver.print_card(ONE_SIDED), driver.print_card(TWO_SIDED)
    assert first.outcome is second.outcome is Outcome.PRINTED
    printer = queue.model()
    truth = printer.physical_truth()
    assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box, truth.in_printer) == (2, 2, 0, 0)
    assert [first.chip_uid, second.chip_uid] == [card.chip_uid for card in printer.hopper]
    assert [card.sides_printed for card in printer.hopper] == [["front"], ["front", "back"]]
    assert first.counters_before is not None and first.counters_after is not None
    assert (first.counters_before.cards_fed, first.counters_after.cards_fed) == (0, 1)
    status = driver.status()
    assert status.state is MajorState.READY and status.counters.cards_fed == printer.inserted_cards == 2
    assert jobs_left(queue) == {}


@pytest.mark.parametrize(
    ("faults", "category", "reason"),
    [
        ("card 1: jam", SpoilCategory.PRINT_FAILED, base.MEDIA_JAM),
        ("card 1: ribbon ends", SpoilCategory.PRINT_FAILED, base.RIBBON_EMPTY),
        ("card 1: encode fails", SpoilCategory.ENCODE_FAILED, None),
    ],
)
def test_a_spoiled_card_is_in_the_reject_box(
    make_queue: Callable[..., SimQueue], faults: str, category: SpoilCategory, reason: base.Reason | None
) -> None:
    queue = make_queue(faults=faults)
    driver = queue.driver()
    driver.open()
    result = driver.print_card(TWO_SIDED)
    assert (result.outcome, result.category, result.reason) == (Outcome.SPOILED, category, reason)
    assert "reject box" in result.detail
    printer = queue.model()
    truth = printer.physical_truth()
    assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box) == (1, 0, 1)
    assert result.chip_uid == printer.reject_box[0].chip_uid
    assert jobs_left(queue) == {} and printer_state(queue) != 5


@pytest.mark.parametrize(
    ("faults", "cards", "reason"),
    [
        ("card 1: cover opens", 20, base.COVER_OPEN),
        ("after 0: feeder empty", 20, base.MEDIA_EMPTY),
        (None, 0, base.MEDIA_EMPTY),
    ],
)
def test_a_card_not_fed_stops_the_queue_and_leaves_no_job(
    make_queue: Callable[..., SimQueue], faults: str | None, cards: int, reason: base.Reason
) -> None:
    queue = make_queue(faults=faults, cards=cards)
    driver = queue.driver(commands=False)  # no status report at open: the card job meets the condition
    driver.open()
    result = driver.print_card(ONE_SIDED)
    assert (result.outcome, result.reason) == (Outcome.NOT_FED, reason)
    assert queue.model().physical_truth().cards_fed == 0
    assert printer_state(queue) == 5 and jobs_left(queue) == {}
    status = driver.status()
    assert status.state is MajorState.ERROR and reason in status.reasons and not status.can_print
    again = driver.print_card(ONE_SIDED)  # refused on the stopped queue, nothing submitted
    assert (again.outcome, again.reason) == (Outcome.NOT_FED, reason) and "resume" in again.detail


def test_clear_errors_after_the_operator_fixed_the_printer(make_queue: Callable[..., SimQueue]) -> None:
    queue = make_queue(faults="after 0: feeder empty")
    driver = queue.driver()
    driver.open()
    assert driver.print_card(ONE_SIDED).outcome is Outcome.NOT_FED
    driver.clear_errors()  # enables the queue; the printer takes ClearErrors as "the operator fixed it"
    status = driver.status()
    assert status.can_print and base.MEDIA_EMPTY not in status.reasons and printer_state(queue) == 3
    assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED
    assert queue.model().physical_truth().in_hopper == 1


def test_a_card_whose_fate_is_unknown_is_never_guessed(make_queue: Callable[..., SimQueue]) -> None:
    queue = make_queue(faults="card 1: no reply")
    driver = queue.driver()
    driver.open()
    result = driver.print_card(ONE_SIDED)
    assert result.outcome is Outcome.UNKNOWN and result.blank_consumed is None
    assert queue.model().physical_truth().cards_fed == 1
    assert jobs_left(queue) == {}  # the held job is gone: CUPS will not print it again
    assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED


def test_no_scheduler_is_an_offline_error(tmp_path: Path) -> None:
    from tests.cupsd import require_cups

    require_cups()
    from drivers.cups.driver import CupsDriver

    driver = CupsDriver("card", server=str(tmp_path / "no-cupsd.sock"))
    with pytest.raises(PrinterOfflineError, match=r"does not answer.*start the scheduler"):
        driver.open()
    with pytest.raises(PrinterOfflineError):
        driver.status()
    result = driver.print_card(ONE_SIDED)
    assert (result.outcome, result.reason) == (Outcome.NOT_FED, base.OFFLINE)


def test_a_missing_queue_says_how_to_create_it(cupsd: PrivateCupsd) -> None:
    from drivers.cups.driver import CupsDriver

    driver = CupsDriver("no-such-queue", server=cupsd.socket)
    with pytest.raises(DriverError, match=r"has no queue 'no-such-queue'.*lpadmin -p no-such-queue"):
        driver.open()
    result = driver.print_card(ONE_SIDED)
    assert (result.outcome, result.reason) == (Outcome.NOT_FED, QUEUE_MISSING)


def test_a_disabled_queue_says_how_to_enable_it(make_queue: Callable[..., SimQueue]) -> None:
    queue = make_queue()
    driver = queue.driver()
    driver.open()
    queue.server.connection().disablePrinter(queue.name)
    with pytest.raises(DriverError, match=f"cupsenable {queue.name}"):
        driver.status()
    result = driver.print_card(ONE_SIDED)
    assert (result.outcome, result.reason) == (Outcome.NOT_FED, QUEUE_PAUSED)
    assert jobs_left(queue) == {} and not queue.journal()
    driver.clear_errors()
    assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED


def test_a_queue_rejecting_jobs_says_how_to_accept_them(make_queue: Callable[..., SimQueue]) -> None:
    queue = make_queue()
    driver = queue.driver()
    driver.open()
    queue.server.connection().rejectJobs(queue.name)
    with pytest.raises(DriverError, match=rf"rejecting jobs.*cupsaccept {queue.name}"):
        driver.status()
    result = driver.print_card(ONE_SIDED)
    assert (result.outcome, result.reason) == (Outcome.NOT_FED, QUEUE_REJECTING)
    driver.clear_errors()
    assert driver.status().can_print
    assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED


def test_a_queue_refusing_this_user_says_so(make_queue: Callable[..., SimQueue]) -> None:
    queue = make_queue(options=("-o", "printer-op-policy=nobody"))
    driver = queue.driver()
    with pytest.raises(DriverError, match=r"refuses this user access.*printer-op-policy") as refused:
        driver.open()
    assert refused.value.reason == QUEUE_FORBIDDEN
    result = driver.print_card(ONE_SIDED)
    assert (result.outcome, result.reason) == (Outcome.NOT_FED, QUEUE_FORBIDDEN)


def print_in_thread(driver: object, card: Card) -> tuple[threading.Thread, list[CardResult]]:
    results: list[CardResult] = []
    thread = threading.Thread(target=lambda: results.append(driver.print_card(card)), daemon=True)  # type: ignore[attr-defined]
    thread.start()
    return thread, results


def wait_processing(queue: SimQueue, timeout: float = 20.0) -> int:
    """The id of the queue's job once its card is on its way (the backend says "Printing a card")."""
    deadline = time.monotonic() + timeout
    connection = queue.server.connection()
    while time.monotonic() < deadline:
        for job_id, attrs in connection.getJobs(requested_attributes=["job-id", "job-state"]).items():
            if attrs.get("job-state") == 5 and any(e["event"] == "started" for e in queue.journal()):
                return int(job_id)
        time.sleep(0.05)
    raise AssertionError("no job started printing")


def test_a_job_canceled_mid_card_is_settled_by_the_printers_record(make_queue: Callable[..., SimQueue]) -> None:
    queue = make_queue(seconds_per_card=1.5)
    driver = queue.driver()
    driver.open()
    thread, results = print_in_thread(driver, ONE_SIDED)
    job_id = wait_processing(queue)
    wait_until(lambda: queue.model().cards_fed == 1)
    queue.server.connection().cancelJob(job_id)
    thread.join(30)
    # CUPS calls the job canceled; the backend finished the card on its way and recorded it: proven printed.
    assert results[0].outcome is Outcome.PRINTED
    assert queue.model().physical_truth().in_hopper == 1 and jobs_left(queue) == {}


def test_a_job_killed_mid_card_is_unknown(make_queue: Callable[..., SimQueue]) -> None:
    queue = make_queue(seconds_per_card=1.5)
    driver = queue.driver()
    driver.open()
    thread, results = print_in_thread(driver, ONE_SIDED)
    job_id = wait_processing(queue)
    wait_until(lambda: queue.model().cards_fed == 1)
    queue.server.connection().cancelJob(job_id, purge_job=True)  # SIGKILL for the backend
    thread.join(30)
    result = results[0]
    assert result.outcome is Outcome.UNKNOWN and "after printing began" in result.detail
    truth = queue.model().physical_truth()
    assert (truth.cards_fed, truth.in_printer) == (1, 1)  # the card stopped inside the printer
    assert driver.print_card(ONE_SIDED).outcome is Outcome.PRINTED  # the printer cleared its card path first
    truth = queue.model().physical_truth()
    assert (truth.cards_fed, truth.in_reject_box, truth.in_hopper) == (2, 1, 1)


def test_a_scheduler_restarted_mid_card_never_prints_the_card_twice() -> None:
    from tests.cupsd import private_cupsd, require_cups

    require_cups()
    with private_cupsd() as server:
        queue = server.add_queue("restarted", seconds_per_card=3.0)
        driver = queue.driver()
        driver.open()
        thread, results = print_in_thread(driver, ONE_SIDED)
        wait_processing(queue)
        wait_until(lambda: queue.model().cards_fed == 1)
        server.restart()  # CUPS kills the backend and, once up again, starts the job again from the beginning
        thread.join(60)
        assert results[0].outcome is Outcome.UNKNOWN
        assert [e["event"] for e in queue.journal()] == ["started", "leftover"]  # the second run fed nothing
        truth = queue.model().physical_truth()
        assert (truth.cards_fed, truth.in_reject_box, truth.in_hopper) == (1, 1, 0)
        assert jobs_left(queue) == {}


def test_a_scheduler_gone_mid_card_is_unknown() -> None:
    from tests.cupsd import private_cupsd, require_cups

    require_cups()
    with private_cupsd() as server:
        queue = server.add_queue("gone", seconds_per_card=2.0)
        driver = queue.driver(reconnect_timeout=1.0)
        driver.open()
        thread, results = print_in_thread(driver, ONE_SIDED)
        wait_processing(queue)
        wait_until(lambda: queue.model().cards_fed == 1)
        server.stop()
        thread.join(30)
        assert results[0].outcome is Outcome.UNKNOWN and "lost the CUPS scheduler" in results[0].detail
        with pytest.raises(PrinterOfflineError):
            driver.status()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_open_cancels_jobs_an_earlier_run_left_behind(make_queue: Callable[..., SimQueue]) -> None:
    from drivers.cups.document import CARD_FORMAT, encode_card
    from drivers.cups.driver import JOB_NAME

    queue = make_queue()
    queue.server.connection().disablePrinter(queue.name)
    connection = queue.server.connection()
    job_id = connection.createJob(queue.name, JOB_NAME, {})
    data = encode_card(ONE_SIDED)
    connection.startDocument(queue.name, job_id, JOB_NAME, CARD_FORMAT, 1)
    connection.writeRequestData(data, len(data))
    connection.finishDocument(queue.name)
    driver = queue.driver()
    driver.open()
    assert jobs_left(queue) == {}
    driver.clear_errors()
    time.sleep(0.5)
    assert queue.model().physical_truth().cards_fed == 0
