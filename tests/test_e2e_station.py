"""End to end through the socket: a real daemon process, two simulated printers, 1,000 cards (100 behind CUPS),
every blank accounted for against the simulators' physical truth."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from tests.chip_scripts import holder_record, payload, write_and_verify
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for

JOBS = {"backlog": 600, "normal": 300, "walk_in": 100}
# Behind CUPS each card is a job with a backend process of its own (about 0.8 s a card here): the same scenario
# runs at a tenth of the size, so the suite stays within its time budget. Over PC/SC each card waits for pcscd to
# see it in the virtual reader (pcscd polls a vpcd reader every 0.4 s): the same tenth, unless PRINTD_E2E_FULL=1
# (with --timeout 1800: the whole day takes several minutes).
CUPS_JOBS = {"backlog": 60, "normal": 30, "walk_in": 10}
PCSC_JOBS = JOBS if os.environ.get("PRINTD_E2E_FULL") == "1" else CUPS_JOBS
# With PC/SC each job's chip gets its record written and read back by an APDU script; two chips misbehave.
PCSC_FAULTS = ["card 5: chip refuses", "card 9: card leaves the field"]
CHIP_RECORD = holder_record(512)


SPECS = [
    SimSpec("p1", spoil_rate=0.02, seed=11, faults=["after 300: feeder empty"]),
    SimSpec("p2", spoil_rate=0.02, seed=12),
]


@pytest.fixture(params=["inprocess", "serial", "cups", "pcsc"])
def daemon(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DaemonProcess]:
    """The daemon with two simulated printers: in its own process; or each served on a pty by a simulator
    process of its own and driven over the serial transport; or each behind a queue of a private cupsd; or in
    its own process with each printer's contactless station a vpcd reader of a private pcscd, encoded over PC/SC."""
    with contextlib.ExitStack() as stack:
        specs = list(SPECS)
        d = DaemonProcess(tmp_path, specs)
        if request.param == "pcsc":
            pcscd = request.getfixturevalue("pcsc_stack")
            for n, spec in enumerate(SPECS):
                reader = pcscd.readers[n]
                specs[n] = dataclasses.replace(
                    spec,
                    faults=["after 30: feeder empty", *PCSC_FAULTS] if spec.faults else PCSC_FAULTS,
                    encoder=f"pcsc://{reader.pcsc_name}",
                    field=reader.field_url,
                )
        if request.param == "cups":
            from tests.cupsd import private_cupsd, require_cups

            require_cups()

            cupsd = stack.enter_context(private_cupsd())
            for n, spec in enumerate(SPECS):
                spec = dataclasses.replace(  # noqa: PLW2901 - the same printer at the scenario's smaller size
                    spec, spoil_rate=0.05, faults=["after 30: feeder empty"] if spec.faults else []
                )
                query = {
                    "name": spec.name,
                    "cards": spec.cards,
                    "ribbon": spec.ribbon,
                    "spoil_rate": spec.spoil_rate,
                    "seed": spec.seed,
                    "faults": "; ".join(spec.faults),
                }
                uri = f"printdsim://{quote(str(d.state_file(spec.name)))}?{urlencode(query, quote_via=quote)}"
                cupsd.lpadmin("-p", spec.name, "-v", uri, "-o", "printer-error-policy=abort-job", "-E")
                specs[n] = dataclasses.replace(spec, cups_queue=spec.name, cups_server=cupsd.socket)
        if request.param == "serial":
            from tests.sim_serial import served_sim

            for n, spec in enumerate(SPECS):
                served = stack.enter_context(
                    served_sim(
                        tmp_path,
                        state_file=d.state_file(spec.name),
                        name=spec.name,
                        cards=spec.cards,
                        spoil_rate=spec.spoil_rate,
                        seed=spec.seed,
                        faults="; ".join(spec.faults) or None,
                        ribbon=spec.ribbon,
                    )
                )
                specs[n] = dataclasses.replace(spec, transport=f"serial://{served.path}?baudrate=115200")
        d.start()
        stack.callback(d.kill)
        yield d


@pytest.mark.slow
def test_a_days_cards_on_two_printers_every_blank_accounted(daemon: DaemonProcess, tmp_path: Path) -> None:
    over_serial = daemon.printers[0].transport is not None
    over_pcsc = daemon.printers[0].field is not None
    jobs_by_priority = CUPS_JOBS if daemon.printers[0].cups_queue is not None else PCSC_JOBS if over_pcsc else JOBS
    chip = json.loads(payload(write_and_verify(CHIP_RECORD))) if over_pcsc else None
    total = sum(jobs_by_priority.values())
    face = tmp_path / "face.png"
    face.write_bytes(card_png("E2E"))
    client = daemon.client()
    client.call("stock.receive", {"count": 6000, "ref": "DO-E2E-1"})
    for name in ("p1", "p2"):  # staff pause the printers while the day's work is loaded
        client.call("printers.pause", {"printer": name})
    submitted = 0
    for priority, count in jobs_by_priority.items():  # backlog first: walk-ins arrive last and must print first
        jobs = [
            {"ref": f"{priority}-{n}", "priority": priority, "front": str(face), "chip": chip} for n in range(count)
        ]
        for start in range(0, count, 250):
            reply = client.call("jobs.submit_batch", {"jobs": jobs[start : start + 250]})
            assert isinstance(reply, dict) and not reply["rejected"]
            submitted += len(reply["accepted"])
    assert submitted == total
    for name in ("p1", "p2"):
        client.call("printers.resume", {"printer": name})

    def status() -> dict:  # type: ignore[type-arg]
        result = client.call("status", {})
        assert isinstance(result, dict)
        return result

    # p1's feeder sensor reports empty after 300 cards (30 behind CUPS): the printer pauses, the reason visible
    wait_for(
        lambda: any(p["paused"] and "media-empty" in (p["pause_reason"] or "") for p in status()["printers"]),
        240,
        "p1 to pause on feeder empty",
    )
    paused = next(p for p in status()["printers"] if p["paused"])
    assert paused["name"] == "p1"
    assert "media-empty-error" in paused["reasons"]
    client.call("printers.resume", {"printer": "p1"})  # the operator reseated the feeder
    wait_for(
        lambda: status()["queue"]["done"] == total,
        1500 if total > 100 and over_pcsc else 400,
        f"all {total} jobs done",
        interval=0.5,
    )

    final = status()
    assert final["queue"]["done"] == total and final["queue"]["in_doubt"] == 0 and final["queue"]["failed"] == 0
    stock = client.call("stock.summary", {})
    spoiled = client.call("spoiled.list", {})
    assert isinstance(stock, dict) and isinstance(spoiled, list)
    client.close()
    assert daemon.stop() == 0

    truths = {name: daemon.physical_truth(name) for name in ("p1", "p2")}
    in_hopper = sum(t.in_hopper for t, _ in truths.values())
    in_reject = sum(t.in_reject_box for t, _ in truths.values())
    assert all(t.balanced and t.in_printer == 0 for t, _ in truths.values())
    assert stock["issued"] == total == in_hopper
    assert stock["spoiled"] == in_reject == len(spoiled)
    assert stock["spoiled"] > 0  # the 2 % seeded spoil rate did spoil cards
    assert stock["on_hand"] == 6000 - stock["issued"] - stock["spoiled"]
    assert stock["in_doubt"] == 0
    assert stock["printers"]["p1"]["issued"] + stock["printers"]["p2"]["issued"] == total
    reject_uids = {c.chip_uid for _, model in truths.values() for c in model.reject_box}
    if over_serial:  # these simulators are served without their encoder socket: no UID was read
        assert all(s["chip_uid"] is None for s in spoiled)
    else:
        assert {s["chip_uid"] for s in spoiled} == reject_uids
    if over_pcsc:  # the UIDs booked are the ones the readers read; every good card's chip holds its record
        encode_failed = sorted(s["chip_uid"] for s in spoiled if s["category"] == "encode_failed")
        refused = sorted(c.chip_uid for _, model in truths.values() for c in model.reject_box if c.index in (5, 9))
        assert encode_failed == refused and len(refused) == 4
        assert all(bytes(c.chip[: len(CHIP_RECORD)]) == CHIP_RECORD for _, m in truths.values() for c in m.hopper)
    assert all(s["category"] in ("print_failed", "encode_failed") and s["ref"] for s in spoiled)

    store = daemon.open_store()
    assert_ledger_consistent(store)
    store.close()

    # walk-ins, queued behind 900 other jobs, were all claimed before any backlog job
    db = sqlite3.connect(daemon.database)
    first_claims = db.execute(
        "SELECT j.priority, min(e.id) FROM job_events e JOIN jobs j ON j.id = e.job_id"
        " WHERE e.event = 'claim' GROUP BY j.id"
    ).fetchall()
    last_walk_in = max(at for prio, at in first_claims if prio == 0)
    first_backlog = min(at for prio, at in first_claims if prio == 2)
    assert last_walk_in < first_backlog


def _snapshot(db: Path) -> tuple[object, ...]:
    conn = sqlite3.connect(db)
    try:
        return (
            conn.execute("SELECT count(*), coalesce(max(id), 0) FROM ledger").fetchone(),
            conn.execute("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state").fetchall(),
            conn.execute("SELECT count(*) FROM job_events").fetchone(),
        )
    finally:
        conn.close()


@pytest.fixture
def slow_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path, [SimSpec("slow", seconds_per_card=30.0)])
    d.start()
    yield d
    d.kill()


def test_bad_requests_get_clear_errors_and_change_nothing(slow_daemon: DaemonProcess, tmp_path: Path) -> None:
    import socket as sk

    from printd.errors import PrintdError

    client = slow_daemon.client()
    client.call("stock.receive", {"count": 10, "ref": "DO-1"})
    png = card_png("BAD")
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    client.call("jobs.submit", {"job": {"ref": "printing-now", "front": uri}})
    wait_for(lambda: client.call("jobs.get", {"job": "printing-now"})["state"] == "printing", 30, "a card printing")  # type: ignore[index]
    client.call("jobs.submit", {"job": {"ref": "queued-1", "front": uri}})
    bad_file = tmp_path / "garbage.png"
    bad_file.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")

    calls: list[tuple[str, dict[str, object], str]] = [
        ("no.such.method", {}, "method.not_found"),
        ("jobs.get", {"jobz": 1}, "params.invalid"),
        ("stock.receive", {"count": "ten", "ref": "DO-2"}, "params.invalid"),
        ("stock.receive", {"count": 0, "ref": "DO-2"}, "stock.invalid_count"),
        ("stock.receive", {"count": -5, "ref": "DO-2"}, "stock.invalid_count"),
        ("jobs.submit", {"job": {"ref": "m1", "front": str(tmp_path / "missing.png")}}, "job.image_missing"),
        ("jobs.submit", {"job": {"ref": "m2", "front": str(bad_file)}}, "job.image_unreadable"),
        (
            "jobs.submit",
            {
                "job": {
                    "ref": "queued-1",
                    "front": "data:image/png;base64," + base64.b64encode(card_png("OTHER")).decode(),
                }
            },
            "job.ref_conflict",
        ),
        ("jobs.cancel", {"job": "printing-now"}, "job.state_conflict"),
        ("jobs.cancel", {"job": "no-such-job"}, "job.not_found"),
        ("printers.resume", {"printer": "nope"}, "printer.not_found"),
        ("spoiled.list", {"since": "yesterday"}, "params.invalid"),
    ]
    before = _snapshot(slow_daemon.database)
    for method, params, code in calls:
        with pytest.raises(PrintdError) as info:
            client.call(method, params)
        assert info.value.code == code, (method, params, info.value)
        assert info.value.message and info.value.message[0].isalpha()
    # raw protocol abuse on a fresh connection: malformed JSON and an oversize message
    with sk.socket(sk.AF_UNIX, sk.SOCK_STREAM) as raw:
        raw.connect(slow_daemon.socket)
        raw.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": \n')
        reply = raw.recv(65536)
        assert b'"code":-32700' in reply.replace(b" ", b"")
    with sk.socket(sk.AF_UNIX, sk.SOCK_STREAM) as raw:
        raw.connect(slow_daemon.socket)
        # the daemon answers and hangs up as soon as the line passes the limit
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            raw.sendall(b'{"jsonrpc":"2.0","id":2,"method":"status","params":{"x":"' + b"a" * (2 << 20) + b'"}}\n')
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
        assert b"request.too_large" in data
    assert _snapshot(slow_daemon.database) == before
    assert client.call("jobs.get", {"job": "printing-now"})["state"] == "printing"  # type: ignore[index]
    client.close()
