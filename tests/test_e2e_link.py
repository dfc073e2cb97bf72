"""A printer on a serial line whose simulator process goes away and comes back: the daemon shows it offline,
keeps the queue, reconnects by itself and carries on, with every blank accounted for."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for
from tests.sim_serial import served_sim


def test_offline_printer_reconnects_and_the_queue_waits(tmp_path: Path) -> None:
    link = tmp_path / "printer.tty"  # a stable name for the pty across simulator restarts
    spec = SimSpec("van", transport=f"serial://{link}?baudrate=115200")
    daemon = DaemonProcess(tmp_path, [spec])
    state = daemon.state_file("van")
    options = {"state_file": state, "name": "van", "cards": 200, "ribbon": "kb", "link": str(link)}
    face = tmp_path / "face.png"
    face.write_bytes(card_png("LINK"))
    with served_sim(tmp_path, **options) as first:  # type: ignore[arg-type]
        daemon.start()
        client = daemon.client()

        def printer() -> dict:  # type: ignore[type-arg]
            status = client.call("status", {})
            assert isinstance(status, dict)
            return status["printers"][0]  # type: ignore[no-any-return]

        def done() -> int:
            status = client.call("status", {})
            assert isinstance(status, dict)
            return int(status["queue"]["done"])

        client.call("stock.receive", {"count": 100, "ref": "DO-VAN"})
        jobs = [{"ref": f"school-{n}", "front": str(face)} for n in range(40)]
        client.call("jobs.submit_batch", {"jobs": jobs[:20]})
        wait_for(lambda: done() == 20, 60, "the first 20 cards")
        assert first.stop() == 0  # the van's printer is switched off
    wait_for(lambda: printer()["state"] == "offline", 30, "the printer to show offline")
    assert printer()["detail"].startswith("printer not reachable: serial port ") and str(link) in printer()["detail"]
    client.call("jobs.submit_batch", {"jobs": jobs[20:]})  # work keeps arriving while it is away
    status = client.call("status", {})
    assert isinstance(status, dict) and status["queue"]["queued"] == 20 and status["queue"]["done"] == 20
    with served_sim(tmp_path, **options) as second:  # type: ignore[arg-type]
        wait_for(lambda: done() == 40, 90, "the rest after reconnection")
        assert printer()["state"] != "offline"
        client.close()
        assert daemon.stop() == 0
        second.stop()
    truth, _ = daemon.physical_truth("van")
    store = daemon.open_store()
    assert_ledger_consistent(store)
    balance = store.balance()
    assert balance.issued == truth.in_hopper == 40 and balance.in_doubt == 0 and truth.balanced
    assert balance.on_hand == 100 - balance.issued - balance.spoiled
    store.close()
