"""End to end with two stations on one PostgreSQL database: the office (two simulated printers) and the van (one),
each a real daemon process. Blanks are received at the office and transferred to the van; jobs for any station,
for the van only and for the office only are printed; every blank is accounted for, per station, against the
simulators' physical truth."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.sim.cards import PhysicalTruth
from drivers.sim.model import PrinterModel
from printd.control.client import ControlClient
from printd.ledger import Balance
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for
from tests.postgres import Cluster

RECEIVED = 1200
SERIALS = "KTP0000001-KTP0001200"
FIRST_TRANSFER = 60
"""Fewer blanks than the van's own jobs need: the van runs dry with van jobs still queued."""
TOP_UP = 50
FEEDER_EMPTY_AFTER = 50
"""p1's feeder sensor reports empty after this many cards; the operator reseats it and resumes."""

OFFICE = {"p1": SimSpec("p1", spoil_rate=0.03, seed=21, faults=[f"after {FEEDER_EMPTY_AFTER}: feeder empty"])}
OFFICE["p2"] = SimSpec("p2", spoil_rate=0.03, seed=22)
VAN = {"v1": SimSpec("v1", spoil_rate=0.03, seed=23)}

# (ref prefix, priority, station, count). The van's school batch is "normal", ahead of the backlog anyone may
# print, so the van spends its first transfer on it and runs dry with part of it still queued.
BATCHES = [
    ("any-backlog", "backlog", None, 120),
    ("van-school", "normal", "van", 90),
    ("office-counter", "walk_in", "office", 40),
    ("any-normal", "normal", None, 40),
]
TOTAL = sum(count for *_, count in BATCHES)


@pytest.fixture
def stations(postgres: Cluster, tmp_path: Path) -> Iterator[dict[str, DaemonProcess]]:
    url = postgres.fresh_database()
    made = {
        "office": DaemonProcess(tmp_path / "office", list(OFFICE.values()), station="office", database_url=url),
        "van": DaemonProcess(tmp_path / "van", list(VAN.values()), station="van", database_url=url),
    }
    with contextlib.ExitStack() as stack:
        for daemon in made.values():
            daemon.directory.mkdir()
            daemon.start()
            stack.callback(daemon.kill)
        yield made


def _call(client: ControlClient, method: str, params: dict[str, Any] | None = None) -> Any:
    return client.call(method, params or {})


def test_two_stations_share_one_queue_and_every_blank_is_accounted_per_station(
    stations: dict[str, DaemonProcess], tmp_path: Path
) -> None:
    office, van = stations["office"].client(), stations["van"].client()
    face = tmp_path / "face.png"
    face.write_bytes(card_png("STATIONS"))

    receipt = _call(office, "stock.receive", {"count": RECEIVED, "ref": "DO-STATIONS-1", "serials": SERIALS})
    assert receipt["on_hand"] == RECEIVED
    moved = _call(office, "stock.transfer", {"count": FIRST_TRANSFER, "to": "van", "ref": "TR-VAN-1"})
    assert moved["on_hand"] == {"office": RECEIVED - FIRST_TRANSFER, "van": FIRST_TRANSFER}

    for prefix, priority, station, count in BATCHES:  # the van's batch is loaded at the van, the rest at the office
        client = van if station == "van" else office
        jobs = [{"ref": f"{prefix}-{n}", "priority": priority, "front": str(face)} for n in range(count)]
        if station is not None:
            jobs = [job | {"station": station} for job in jobs]
        reply = _call(client, "jobs.submit_batch", {"jobs": jobs})
        assert not reply["rejected"] and len(reply["accepted"]) == count

    def custody(name: str) -> dict[str, Any]:
        return _call(office, "stock.summary")["stations"][name]  # type: ignore[no-any-return]

    def van_idle() -> bool:
        status = _call(van, "status")
        return custody("van")["on_hand"] == 0 and status["printers"][0]["current_job"] is None

    # p1's feeder sensor reports empty: p1 pauses with the reason shown, p2 and the van print on
    wait_for(
        lambda: any(
            p["paused"] and "media-empty" in (p["pause_reason"] or "") for p in _call(office, "status")["printers"]
        ),
        60,
        "p1 to pause on feeder empty",
    )
    paused = [p for p in _call(office, "status")["printers"] if p["paused"]]
    assert [p["name"] for p in paused] == ["p1"] and "media-empty-error" in paused[0]["reasons"]
    _call(office, "printers.resume", {"printer": "p1"})

    # The van spends its custody and stops, its school batch not finished: it never takes office blanks.
    wait_for(van_idle, 60, "the van to run out of blanks")
    fed_when_dry = stations["van"].physical_truth("v1")[0].cards_fed
    assert fed_when_dry == FIRST_TRANSFER
    van_jobs = _call(van, "jobs.list", {"station": "van", "limit": 1000})
    waiting = [job for job in van_jobs if job["state"] == "queued"]
    assert waiting and all(job["state"] in ("queued", "done") for job in van_jobs)
    van_status = _call(van, "status")
    assert "stock.exhausted" in [alert["event"] for alert in van_status["alerts"]]
    wait_for(lambda: _call(office, "status")["queue"]["done"] == TOTAL - len(waiting), 90, "the office's share done")
    assert stations["van"].physical_truth("v1")[0].cards_fed == FIRST_TRANSFER  # still dry: nothing fed meanwhile
    assert [job["ref"] for job in _call(office, "jobs.list", {"state": "queued", "limit": 1000})] == [
        job["ref"] for job in sorted(waiting, key=lambda job: job["id"])
    ]  # only van jobs wait: the office, with blanks to spare, never printed one

    # The supervisor sends more blanks: the van, woken by the transfer, finishes its batch.
    topped = _call(van, "stock.transfer", {"count": TOP_UP, "to": "van", "from": "office", "ref": "TR-VAN-2"})
    assert topped["from"] == "office" and topped["to"] == "van"
    wait_for(lambda: _call(van, "status")["queue"]["done"] == TOTAL, 60, f"all {TOTAL} jobs done", interval=0.25)

    views = {name: _call(client, "status") for name, client in (("office", office), ("van", van))}
    for name, status in views.items():
        assert status["station"] == name
        assert status["queue"]["done"] == TOTAL and status["queue"]["in_doubt"] == status["queue"]["failed"] == 0
        listed = {entry["name"]: entry for entry in status["stations"]}
        assert set(listed) == {"office", "van"}
        assert [entry["name"] for entry in status["stations"] if entry["this_station"]] == [name]
        # each station as the other sees it: its printers, by what it last told the store
        assert {p["name"] for p in listed["office"]["printers"]} == set(OFFICE)
        assert {p["name"] for p in listed["van"]["printers"]} == set(VAN)
    summary = _call(van, "stock.summary")
    transfers = _call(office, "stock.transfers")
    office.close()
    van.close()
    for daemon in stations.values():
        assert daemon.stop() == 0

    truths: dict[str, tuple[PhysicalTruth, PrinterModel]] = {}
    for daemon in stations.values():
        truths |= {spec.name: daemon.physical_truth(spec.name) for spec in daemon.printers}
    assert all(truth.balanced and truth.in_printer == 0 for truth, _ in truths.values())

    store = stations["office"].open_store()
    try:
        assert_ledger_consistent(store)  # the invariant in total and per station, kept totals equal to the fold
        per_station = store.balance_by_station()
        events = store.ledger_events()
        jobs = store.list_jobs(limit=10_000)
        cards = {job.ref: store.job_cards(job.id) for job in jobs}
    finally:
        store.close()

    # every job, exactly one issued card; bound jobs printed only by their station's printers
    assert len(jobs) == TOTAL and all(job.state.value == "done" for job in jobs)
    issued = {ref: [card for card in found if card.fate.value == "issued"] for ref, found in cards.items()}
    assert all(len(found) == 1 for found in issued.values()), [ref for ref, found in issued.items() if len(found) != 1]
    assert all(card.fate.value in ("issued", "spoiled") for found in cards.values() for card in found)
    printers_of = {"office": set(OFFICE), "van": set(VAN)}
    for job in jobs:
        if job.station is not None:
            assert {card.printer for card in cards[job.ref]} <= printers_of[job.station], job.ref
    by_printer = Counter(card.printer for found in issued.values() for card in found)
    assert set(by_printer) == {"p1", "p2", "v1"}  # each printer took part

    # per printer and per station, the ledger is what the simulators' hoppers, reject boxes and feeders show
    for name, (truth, model) in truths.items():
        mine = [e for e in events if e["printer"] == name]
        hopper_uids = sorted(c.chip_uid for c in model.hopper)
        reject_uids = sorted(c.chip_uid for c in model.reject_box)
        assert sorted(str(e["chip_uid"]) for e in mine if e["kind"] == "issued") == hopper_uids, name
        assert sorted(str(e["chip_uid"]) for e in mine if e["kind"] == "spoiled") == reject_uids, name
        assert truth.cards_fed == truth.in_hopper + truth.in_reject_box == len(mine), name
    for station, names in printers_of.items():
        balance: Balance = per_station[station]
        assert balance.issued == sum(truths[n][0].in_hopper for n in names), station
        assert balance.spoiled == sum(truths[n][0].in_reject_box for n in names), station
        assert balance.issued + balance.spoiled == sum(truths[n][0].cards_fed for n in names), station
        assert balance.in_doubt == 0 and balance.on_hand >= 0
        assert summary["stations"][station] == balance.as_dict()
    office_balance, van_balance = per_station["office"], per_station["van"]
    assert office_balance.received == RECEIVED and van_balance.received == 0
    assert office_balance.transferred_out == van_balance.transferred_in == FIRST_TRANSFER + TOP_UP
    assert truths["v1"][0].cards_fed <= FIRST_TRANSFER + TOP_UP  # the van never fed more than it was sent
    assert van_balance.on_hand == FIRST_TRANSFER + TOP_UP - truths["v1"][0].cards_fed
    assert office_balance.on_hand + van_balance.on_hand == RECEIVED - sum(t.cards_fed for t, _ in truths.values())
    assert sum(b.spoiled for b in per_station.values()) > 0  # the seeded spoil rate did spoil cards
    assert sorted((t["reference"], t["count"], t["from"], t["to"]) for t in transfers) == [
        ("TR-VAN-1", FIRST_TRANSFER, "office", "van"),
        ("TR-VAN-2", TOP_UP, "office", "van"),
    ]
