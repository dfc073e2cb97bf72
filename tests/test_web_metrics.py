"""Prometheus exposition from a real daemon's replies: names by the conventions, values equal to the ledger and the
simulator, labels without references or names, and a daemon that does not answer shown as printd_up 0."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from printd.web.metrics import Replies, exposition
from tests.conftest import card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for

NAME_RULE = re.compile(r"^printd_[a-z][a-z0-9_]*$")
LABELS = {"printer", "state", "reason", "result", "station", "outcome", "category", "priority", "le"}


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        assert NAME_RULE.match(family.name), family.name
        assert family.documentation, family.name
        for sample in family.samples:
            assert set(sample.labels) <= LABELS, sample
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_scrape_tells_the_station_as_the_ledger_and_the_printer_do(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, [SimSpec("p1", spoil_rate=0.15, seed=3)])
    try:
        face = tmp_path / "face.png"
        face.write_bytes(card_png("METRICS"))
        daemon.start()
        client = daemon.client()
        client.call("stock.receive", {"count": 80, "ref": "DO-PROM"})
        refs = [f"5271011203900{n:03d}" for n in range(20)]  # NIK-shaped references: none may become a label
        client.call("jobs.submit_batch", {"jobs": [{"ref": ref, "front": str(face), "holder": "Siti"} for ref in refs]})
        client.call("jobs.submit", {"job": {"ref": "held-1", "front": str(face), "priority": "walk_in"}})
        client.call("jobs.hold", {"job": "held-1"})

        def done() -> int:
            status = client.call("status", {})
            assert isinstance(status, dict)
            return int(status["queue"]["done"])

        wait_for(lambda: done() == 20, 60, "20 cards")
        replies = Replies(
            client.call("status", {}), client.call("station.metrics", {}), client.call("stock.forecast", {})
        )  # type: ignore[arg-type]
        text = exposition(replies)
        found = samples(text)
        for secret in (*refs, "Siti", "held-1"):
            assert secret.encode() not in text
        store = daemon.open_store()
        balance = store.balance()
        truth, _ = daemon.physical_truth("p1")
        assert found[("printd_up", ())] == 1.0
        assert found[("printd_cards_total", (("category", ""), ("outcome", "printed"), ("printer", "p1")))] == 20
        spoiled = sum(
            v
            for (name, labels), v in found.items()
            if name == "printd_cards_total" and ("outcome", "spoiled") in labels
        )
        assert spoiled == balance.spoiled == truth.in_reject_box
        assert found[("printd_printer_cards_today", (("printer", "p1"), ("result", "issued")))] == truth.in_hopper == 20
        assert found[("printd_blanks_on_hand", (("station", "test-station"),))] == balance.on_hand
        assert found[("printd_queue_jobs", (("state", "done"),))] == 20
        assert found[("printd_queue_jobs", (("state", "held"),))] == 1
        assert found[("printd_backlog_jobs", (("priority", "walk_in"),))] == 1
        count = found[("printd_card_cycle_seconds_count", (("printer", "p1"),))]
        assert (
            count
            == 20 + balance.spoiled
            == found[("printd_card_cycle_seconds_bucket", (("le", "+Inf"), ("printer", "p1")))]
        )
        states = {dict(labels)["state"]: v for (name, labels), v in found.items() if name == "printd_printer_state"}
        assert sum(states.values()) == 1.0  # exactly one state at a time
        assert found[("printd_storage_available", ())] == 1.0
        store.close()
        client.close()
        assert daemon.stop() == 0
    finally:  # a failed assertion must not leave the daemon running
        daemon.kill()


def test_a_daemon_that_does_not_answer_is_up_0_and_nothing_else() -> None:
    found = samples(exposition(Replies(None)))
    assert found == {("printd_up", ()): 0.0}
