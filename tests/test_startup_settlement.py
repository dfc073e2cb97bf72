"""Start-up settlement of the attempts a crash left without an outcome: from the printer's card counter, and from
the card it still holds where it proves that card's fate; a printer unreachable at start-up keeps them open."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.base import Counters
from drivers.evolis import protocol
from drivers.evolis.driver import EvolisDriver
from drivers.evolis.protocol import Command
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.printer import SimPrinter
from drivers.sim.transport import InProcessTransport
from printd.jobs import JobState
from printd.ledger import Resolution
from printd.printers import BuiltPrinter
from printd.station import Station
from printd.store import SqliteStore
from printd.store.core import INTERRUPTED
from tests.conftest import assert_ledger_consistent, new_job
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for
from tests.sim_serial import served_sim

FAST: dict[str, float] = {"reply_timeout": 0.5, "motion_timeout": 2.0, "quiet_timeout": 0.02, "confirm_delay": 0}


class VoltageSensorPrinter(SimPrinter):
    """A printer whose card-presence sensor answers a voltage, as the programming guide documents it."""

    def execute(self, cmd: Command) -> bytes:
        if cmd.name == "Rse" and cmd.params == ("p",):
            return protocol.encode_reply("2.87")
        return super().execute(cmd)


class StuckCardPrinter(SimPrinter):
    """A printer whose card will not move to the reject box."""

    def execute(self, cmd: Command) -> bytes:
        if cmd.name == "Ser":
            return protocol.encode_reply("ERR MECHANICAL")
        return super().execute(cmd)


@pytest.fixture
def handle() -> SimHandle:
    return make_sim_printer("p1", cards=10, seconds_per_card=0, ribbon="kb", encoder=False)


@pytest.fixture
def crashed(store: SqliteStore, png: bytes) -> Iterator[SqliteStore]:
    """Job A claimed with the printer's counter at 0, then printd died; job B waits in the queue."""
    store.receive_stock(10, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    store.claim_next("p1", Counters(0))
    store.submit(new_job("B", png), "t")
    yield store


def run_station(store: SqliteStore, driver: EvolisDriver, handle: SimHandle, until: JobState) -> Station:
    station = Station(store, [BuiltPrinter("p1", driver, handle)])
    station.start()
    wait_for(lambda: store.get_job("A").state is until and store.get_job("B").state is JobState.DONE, 15, "job A")
    assert station.stop(10)
    assert store.open_attempts() == []
    return station


def events(store: SqliteStore, ref: str) -> list[str]:
    return [str(h["event"]) for h in store.job_history(store.get_job(ref).id)]


@pytest.mark.parametrize("where", ["contactless", "print_head"])
def test_a_card_still_inside_is_rejected_and_booked_spoiled(
    crashed: SqliteStore, handle: SimHandle, where: str
) -> None:
    model = handle.model
    card = model.move_to_contactless() if where == "contactless" else model.feed()  # printd died mid-card
    run_station(crashed, handle.driver(**FAST), handle, JobState.DONE)
    assert [c.index for c in model.reject_box] == [card.index] == [1]
    assert [c.index for c in model.hopper] == [2, 3] and model.card is None
    assert events(crashed, "A") == ["submit", "claim", "spoiled", "claim", "printed"]
    [spoiled] = crashed.spoiled_list()
    assert spoiled["ref"] == "A" and spoiled["category"] == "print_failed"
    assert str(spoiled["detail"]).startswith(INTERRUPTED) and "reject box" in str(spoiled["detail"])
    balance = crashed.balance()
    assert (balance.issued, balance.spoiled, balance.in_doubt, balance.on_hand) == (2, 1, 0, 7)
    assert balance.issued + balance.spoiled == model.cards_fed


def test_a_card_that_left_the_printer_is_in_doubt_until_an_operator_resolves_it(
    crashed: SqliteStore, handle: SimHandle
) -> None:
    handle.model.feed()
    handle.model.eject()  # printd died after the eject, before booking the card
    run_station(crashed, handle.driver(**FAST), handle, JobState.IN_DOUBT)
    assert crashed.balance().in_doubt == 1 and crashed.balance().issued == 1  # B printed meanwhile
    assert [c.index for c in handle.model.hopper] == [1, 2] and handle.model.reject_box == []
    crashed.resolve("A", Resolution.ISSUED, "t", "found in the output hopper")  # no reprint: it is there
    assert crashed.get_job("A").state is JobState.DONE
    balance = crashed.balance()
    assert (balance.issued, balance.spoiled, balance.in_doubt) == (2, 0, 0) == (len(handle.model.hopper), 0, 0)


def test_an_unchanged_counter_puts_the_job_back_without_a_blank(crashed: SqliteStore, handle: SimHandle) -> None:
    run_station(crashed, handle.driver(**FAST), handle, JobState.DONE)
    assert events(crashed, "A") == ["submit", "claim", "not_fed", "claim", "printed"]
    assert crashed.balance().issued == 2 == len(handle.model.hopper) and crashed.balance().spoiled == 0


def in_doubt_and_paused(store: SqliteStore, driver: EvolisDriver, handle: SimHandle) -> None:
    """Start the station: job A goes in doubt and the printer pauses, B is not printed on the card inside."""
    fed = handle.model.cards_fed
    station = Station(store, [BuiltPrinter("p1", driver, handle)])
    station.start()
    view = station.worker("p1").view
    wait_for(lambda: view.paused, 15, "the pause")
    time.sleep(0.2)
    assert station.stop(10)
    assert store.get_job("A").state is JobState.IN_DOUBT and store.get_job("B").state is JobState.QUEUED
    assert view.pause_reason is not None and "may be inside the printer" in view.pause_reason
    assert handle.model.cards_fed == fed and handle.model.reject_box == []


def test_two_feeds_since_the_attempt_prove_nothing(crashed: SqliteStore, handle: SimHandle) -> None:
    handle.model.feed()
    handle.model.eject()
    card = handle.model.feed()  # another host fed a second card: the one inside may not be A's
    in_doubt_and_paused(crashed, handle.driver(**FAST), handle)
    assert handle.model.card is card  # untouched without proof


def test_a_sensor_answering_a_voltage_proves_nothing(crashed: SqliteStore, handle: SimHandle) -> None:
    card = handle.model.feed()
    in_doubt_and_paused(crashed, EvolisDriver(InProcessTransport(VoltageSensorPrinter(handle.model)), **FAST), handle)
    assert handle.model.card is card  # no card was moved


def test_a_card_that_will_not_leave_is_in_doubt(crashed: SqliteStore, handle: SimHandle) -> None:
    card = handle.model.feed()
    in_doubt_and_paused(crashed, EvolisDriver(InProcessTransport(StuckCardPrinter(handle.model)), **FAST), handle)
    assert handle.model.card is card


@pytest.fixture
def van(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon (not started) whose one printer is reached on a serial link at ``tmp_path/printer.tty``."""
    daemon = DaemonProcess(tmp_path, [SimSpec("van", transport=f"serial://{tmp_path / 'printer.tty'}?baudrate=115200")])
    yield daemon
    daemon.kill()  # a no-op once the test stopped it; never leave a daemon behind a failed test


def test_an_unreachable_printer_keeps_its_attempts_and_jobs_until_it_is_back(
    tmp_path: Path, van: DaemonProcess, png: bytes
) -> None:
    link, daemon = tmp_path / "printer.tty", van
    store = daemon.open_store()
    store.receive_stock(10, "DO-VAN", "t")
    store.submit(new_job("A", png), "t")
    [attempt] = [store.claim_next("van", Counters(0)).attempt]  # type: ignore[union-attr]
    store.submit(new_job("B", png), "t")
    ledger_before = store.ledger_events()
    store.close()
    sim = make_sim_printer("van", cards=10, seconds_per_card=0, ribbon="kb", state_file=daemon.state_file("van"))
    sim.model.feed()  # the card printd was printing when it died, still in the switched-off printer

    daemon.start()
    client = daemon.client()
    log = daemon.log_path

    def printer() -> dict[str, object]:
        status = client.call("status", {})
        assert isinstance(status, dict)
        return status["printers"][0]  # type: ignore[no-any-return]

    wait_for(lambda: printer()["detail"] != "", 15, "the printer to be seen unreachable")
    time.sleep(1.5)  # at least one more try to reach it
    printer_view = printer()
    assert printer_view["state"] == "offline" and str(link) in str(printer_view["detail"])
    store = daemon.open_store()
    assert store.open_attempts() == [attempt]
    assert store.get_job("A").state is JobState.PRINTING and store.get_job("B").state is JobState.QUEUED
    assert store.ledger_events() == ledger_before and "attempt.settling_at_start" not in log.read_text()
    assert log.read_text().count('"printer.offline"') == 1  # said once, though it was down from the start
    store.close()

    options = {"state_file": daemon.state_file("van"), "name": "van", "ribbon": "kb", "link": str(link)}
    with served_sim(tmp_path, **options) as served:  # type: ignore[arg-type]

        def both_done() -> bool:
            status = client.call("status", {})
            return isinstance(status, dict) and status["queue"]["done"] == 2

        wait_for(both_done, 60, "both jobs once the printer is back")
        client.close()
        assert daemon.stop() == 0
        assert served.stop() == 0
    truth, model = daemon.physical_truth("van")
    assert [c.index for c in model.reject_box] == [1] and [c.index for c in model.hopper] == [2, 3]
    store = daemon.open_store()
    assert_ledger_consistent(store)
    assert events(store, "A") == ["submit", "claim", "spoiled", "claim", "printed"]
    balance = store.balance()
    assert (balance.issued, balance.spoiled, balance.in_doubt) == (truth.in_hopper, truth.in_reject_box, 0) == (2, 1, 0)
    store.close()


def test_a_rejected_card_proves_its_fate_only_after_exactly_one_feed(store: SqliteStore, png: bytes) -> None:
    store.receive_stock(5, "DO-1", "t")
    store.submit(new_job("A", png), "t")
    claim = store.claim_next("p1", Counters(3))
    assert claim is not None
    for counter in (3, 5):
        with pytest.raises(ValueError, match=r"exactly one feed \(3 -> \d\)"):
            store.settle_interrupted(claim.attempt, counter, rejected_at_start=True)
    assert store.settle_interrupted(claim.attempt, 4, rejected_at_start=True).state is JobState.QUEUED
    assert store.balance().spoiled == 1 and store.open_attempts() == []
