"""Reconciliation: each printer's own card counter against the blanks the ledger booked on it. Blanks fed outside
printd show as a difference, ``printctl reconcile`` records it (a ``reconciled`` event that moves no blank),
and ``status`` warns until an adjustment explains it. The real control server, dispatcher, station, SQLite store
and Evolis driver over the simulated printer; printctl's own main()."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.transport import InProcessTransport
from drivers.transport import TransportError
from drivers.transports.reconnecting import ReconnectingTransport
from printd.cli import EXIT_ERROR, EXIT_OK, main
from printd.control.auth import Role
from printd.control.client import ControlClient
from printd.control.methods import Dispatcher
from printd.errors import PrintdError
from printd.jobs import JobState, Priority
from printd.printers import BuiltPrinter
from printd.station import PrinterWorker, Station
from printd.store import JobContent, NewJob, SqliteStore
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import wait_for
from tests.test_control_server import ServerThread

FAST_DRIVER = {"confirm_delay": 0.0, "reply_timeout": 0.5, "motion_timeout": 0.5, "quiet_timeout": 0.02}
FACE = card_png("RECONCILE")


@dataclass
class Office:
    """A station with simulated printers p1 and p2 behind a real control socket."""

    store: SqliteStore
    station: Station
    sims: dict[str, SimHandle]
    powered: dict[str, bool]
    socket: Path

    def printctl(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
        """printctl's exit code and what it printed (its error lines too)."""
        code = main(["--socket", str(self.socket), *args])
        printed = capsys.readouterr()
        return code, printed.out + printed.err

    def call(self, method: str, params: dict[str, object]) -> Any:
        client = ControlClient(str(self.socket))
        try:
            return client.call(method, params)
        finally:
            client.close()

    def print_jobs(self, *refs: str) -> None:
        for ref in refs:
            self.store.submit(NewJob(ref, Priority.NORMAL, JobContent(front=FACE)), "operator")
        self.station.notify_work()
        wait_for(
            lambda: all(self.store.get_job(r).state is JobState.DONE for r in refs) and not self.store.open_attempts(),
            15,
            f"jobs {refs}",
            0.02,
        )

    def counter_seen(self, printer: str) -> int | None:
        counters = self.station.worker(printer).view.counters
        return None if counters is None else counters.cards_fed


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Office]:
    monkeypatch.setattr(PrinterWorker, "RETRY_FIRST_SECONDS", 0.05)
    store = SqliteStore(tmp_path / "printd.db", station="reconcile")
    store.receive_stock(40, "DO-1", "supervisor")
    sims = {
        name: make_sim_printer(name, cards=20, seconds_per_card=0, ribbon="kb", encoder=False) for name in ("p1", "p2")
    }
    powered = dict.fromkeys(sims, True)

    def link(name: str) -> ReconnectingTransport:
        def plug_in() -> InProcessTransport:
            if not powered[name]:
                raise TransportError(f"printer {name} is switched off")
            return sims[name].connect()

        return ReconnectingTransport(plug_in, name)

    from drivers.evolis.driver import EvolisDriver

    printers = [
        BuiltPrinter(name, EvolisDriver(link(name), ribbon="kb", **FAST_DRIVER), sim) for name, sim in sims.items()
    ]
    station = Station(store, printers)
    socket_path = tmp_path / "printd.sock"
    # The daemon's log lines are kept out of stdout, where printctl's own output is read.
    with structlog.testing.capture_logs(), ServerThread(Dispatcher(store, station, "reconcile"), socket_path):
        station.start()
        yield Office(store, station, sims, powered, socket_path)
        assert station.stop(10)
    assert_ledger_consistent(store)
    store.close()


def unreconciled(office: Office) -> list[dict[str, Any]]:
    alerts = office.call("status", {})["alerts"]
    return [a for a in alerts if a["event"] == "stock.unreconciled"]


def book_adjustment(office: Office, count: int, printer: str, reason: str) -> None:
    """A supervisor's adjustment against a printer, through the socket as `printctl stock adjust` sends it."""
    office.call("stock.adjust", {"count": count, "reason": reason, "printer": printer})


def test_blanks_fed_outside_printd_show_as_a_difference_are_recorded_and_warned_about(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    office.station.pause("p2", "spare printer", "operator")  # p1 prints everything; p2 is reconciled all the same
    office.print_jobs("A", "B", "C")
    code, out = office.printctl(capsys, "--json", "reconcile", "p1")
    assert code == EXIT_OK
    (first,) = json.loads(out)["reconciliations"]
    assert (first["previous_counter"], first["counter"], first["booked"], first["difference"]) == (0, 3, 3, 0)
    assert unreconciled(office) == []

    # Two cards printed from the printer's own menu: the counter moves, the ledger knows nothing of them.
    office.sims["p1"].model.print_test_cards(2)
    wait_for(lambda: office.counter_seen("p1") == 5, 10, "the station to read the counter", 0.02)
    (drift,) = unreconciled(office)  # the live counter drifted from the ledger since the last reconciliation
    assert (drift["printer"], drift["blanks"]) == ("p1", 2)

    code, out = office.printctl(capsys, "reconcile", "p1")
    assert code == EXIT_OK
    assert "Card counters against the ledger" in out and "+2" in out and "p1: +2 blank(s) unexplained" in out
    code, out = office.printctl(capsys, "--json", "reconcile")  # every printer; nothing new on p1 since
    assert code == EXIT_OK
    reply = json.loads(out)
    assert reply["errors"] == []
    found = {r["printer"]: r for r in reply["reconciliations"]}
    assert (found["p1"]["counted"], found["p1"]["difference"], found["p1"]["unexplained"]) == (0, 0, 2)
    assert (found["p2"]["counter"], found["p2"]["difference"], found["p2"]["unexplained"]) == (0, 0, 0)

    # The ledger recorded each reconciliation and moved no blank; the balance still holds.
    events = [e for e in office.store.ledger_events() if e["kind"] == "reconciled"]
    assert sorted(e["printer"] for e in events) == ["p1", "p1", "p1", "p2"] and {e["count"] for e in events} == {0}
    assert "difference +2" in events[1]["detail"] and events[1]["actor"] == "root"
    balance = office.store.balance()
    assert (balance.received, balance.issued, balance.on_hand) == (40, 3, 37)
    truth = office.sims["p1"].model.physical_truth()
    assert (truth.cards_fed, truth.in_hopper) == (5, 5)  # the two extra cards are real, and unbooked

    # status keeps warning while the difference is open, in JSON and in printctl's table.
    (open_,) = unreconciled(office)
    assert (open_["printer"], open_["blanks"]) == ("p1", 2)
    code, out = office.printctl(capsys, "status")
    assert code == EXIT_OK and "p1: 2 blank(s) left its feeder that the ledger does not book" in " ".join(out.split())

    # A supervisor books the two blanks as an adjustment against p1: explained, the warning goes.
    book_adjustment(office, -2, "p1", "two test cards printed from the printer's menu")
    assert unreconciled(office) == []
    code, out = office.printctl(capsys, "--json", "reconcile", "p1")
    (last,) = json.loads(out)["reconciliations"]
    assert (last["difference"], last["explained"], last["unexplained"]) == (0, 2, 0)
    assert_ledger_consistent(office.store)


def test_the_ledger_booking_more_than_the_counter_is_a_negative_difference(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    office.station.pause("p2", "spare printer", "operator")
    office.print_jobs("A")
    assert office.printctl(capsys, "reconcile", "p1")[0] == EXIT_OK
    # A blank written off against p1 that p1 never fed (it was lost somewhere else): the ledger now books one
    # blank more on p1 than its counter shows.
    book_adjustment(office, -1, "p1", "lost from the drawer, written off against the wrong printer")
    (alert,) = unreconciled(office)
    assert alert["blanks"] == -1 and "the ledger books 1 blank(s) more than its card counter" in alert["message"]
    _, out = office.printctl(capsys, "--json", "reconcile", "p1")
    (found,) = json.loads(out)["reconciliations"]
    assert (found["counted"], found["booked"], found["explained"], found["unexplained"]) == (0, 0, 1, -1)


def test_reconcile_answers_between_cards_so_a_card_in_progress_is_no_difference(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    office.station.pause("p2", "spare printer", "operator")
    model = office.sims["p1"].model
    model.seconds_per_card = 0.2  # each card now takes a while: reconciliations arrive mid-card
    refs = [f"J{n}" for n in range(5)]
    for ref in refs:
        office.store.submit(NewJob(ref, Priority.NORMAL, JobContent(front=FACE)), "operator")
    office.station.notify_work()
    results = []
    while not all(office.store.get_job(r).state is JobState.DONE for r in refs):
        code, out = office.printctl(capsys, "--json", "reconcile", "p1")
        assert code == EXIT_OK
        results += json.loads(out)["reconciliations"]
    code, out = office.printctl(capsys, "--json", "reconcile", "p1")
    results += json.loads(out)["reconciliations"]
    assert len(results) >= 3 and {r["difference"] for r in results} == {0}
    assert results[-1]["counter"] == model.cards_fed == 5 and results[-1]["unexplained"] == 0


def test_a_printer_that_cannot_be_reached_is_not_reconciled_and_says_why(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    view = office.station.worker("p2").view
    wait_for(lambda: view.info is not None, 10, "p2 to be reached once", 0.02)
    office.powered["p2"] = False
    office.sims["p2"].transport.unplug()
    # offline at the unplugging, then "switched off" from the first try to reach it again (after 0.05 s)
    wait_for(lambda: view.state == "offline" and "switched off" in view.detail, 10, "p2 offline, switched off", 0.02)
    code, out = office.printctl(capsys, "--json", "reconcile")
    assert code == EXIT_ERROR
    reply = json.loads(out)
    assert [r["printer"] for r in reply["reconciliations"]] == ["p1"]
    (error,) = reply["errors"]
    assert error["printer"] == "p2" and error["error"]["code"] == "printer.offline"
    assert "switched off" in error["error"]["message"] and "reconcile it once it is back" in error["error"]["message"]
    code, out = office.printctl(capsys, "reconcile")
    assert code == EXIT_ERROR and "p2: not reconciled" in out
    with pytest.raises(PrintdError) as refused:
        office.call("printers.reconcile", {"printer": "p2"})
    assert refused.value.code == "printer.offline"
    code, out = office.printctl(capsys, "reconcile", "nope")
    assert code == EXIT_ERROR and "no printer named 'nope'" in out


def test_reconciliations_are_append_only_and_need_the_operator_role(office: Office) -> None:
    office.call("printers.reconcile", {"printer": "p1"})
    conn = sqlite3.connect(office.store.path)
    try:
        for statement in ("UPDATE reconciliations SET difference = 0", "DELETE FROM reconciliations"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()
    dispatcher = Dispatcher(office.store, office.station, "reconcile")
    assert dispatcher.required_role("printers.reconcile") is Role.OPERATOR


def test_printctl_reconcile_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reconcile", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "usage: printctl reconcile" in out and "PRINTER" in out and "--json" in out


def test_a_request_to_a_stopped_printer_is_answered_not_left_waiting(office: Office) -> None:
    worker = office.station.worker("p1")
    assert office.station.stop(timeout=30)
    pending = worker.request_reconcile("operator")
    with pytest.raises(PrintdError) as refused:
        pending.result(timeout=5)
    assert refused.value.code == "printer.not_found" and "stopped taking requests" in refused.value.message
    assert_ledger_consistent(office.store)
