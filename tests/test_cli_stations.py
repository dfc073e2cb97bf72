"""printctl for stations sharing one PostgreSQL database, over two real daemons: the office receives a delivery and
hands 200 blanks to the van, a job bound to the van waits for the van's printer while the office prints past it,
each station's custody is exact, status shows both stations, and a refused transfer moves nothing.

The renderers' rules that a live daemon cannot show quickly (a station silent for minutes; one station: output as
before) are checked on replies written here."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from printd.cli import main as printctl_main
from printd.cli import render_status, render_stock
from printd.cli_output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, Output
from printd.cli_stations import STALE_SECONDS, bind_station
from printd.store.engines import open_store
from tests import test_roles
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, Printctl, SimSpec, wait_for
from tests.postgres import Cluster
from tests.test_roles import Accounts, RolesDaemon, as_user
from tests.test_roles import printctl as run_as

accounts = test_roles.accounts  # the throwaway users and groups (root only; skipped elsewhere, failed under CI)

COUNTS = ("received", "transferred_in", "transferred_out", "adjusted", "issued", "spoiled", "in_doubt", "on_hand")
NO_BLANKS = dict.fromkeys((*COUNTS, "destroyed", "returned"), 0)


def ran(socket: str, *argv: str) -> tuple[int, str, str]:
    """printctl run as staff run it, outside any test's capture (the scenario is set up once for the module)."""
    said = run_as(socket, *argv)()
    return int(str(said["code"])), str(said["out"]), str(said["err"])


def call(daemon: DaemonProcess, method: str, params: dict[str, object]) -> Any:
    with daemon.client() as client:
        return client.call(method, params)


def state(daemon: DaemonProcess, ref: str) -> str:
    return str(call(daemon, "jobs.get", {"job": ref})["state"])


def all_done(daemon: DaemonProcess, *refs: str) -> bool:
    return all(state(daemon, ref) == "done" for ref in refs)


def van_printers_seen(office: DaemonProcess) -> list[tuple[str, str]]:
    seen = {s["name"]: s for s in call(office, "status", {})["stations"]}
    return [(p["name"], p["state"]) for p in seen["van"].get("printers", [])]


@dataclass
class Scenario:
    office: DaemonProcess
    van: DaemonProcess
    url: str
    said: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """What printctl answered at each step of the set-up."""
    while_paused: dict[str, str] = field(default_factory=dict)
    """Each job's state once the office had printed its job, with the van's printer still paused."""


def play(scenario: Scenario, work: Path) -> None:
    """The office receives a delivery and hands blanks to the van; jobs for the van wait while its printer is paused
    and the office prints past them; then the van prints them."""
    office, van = scenario.office, scenario.van
    said = scenario.said
    said["receive"] = ran(office.socket, "stock", "receive", "1000", "--ref", "DO-0001")
    said["transfer"] = ran(office.socket, "stock", "transfer", "200", "--to", "van", "--ref", "TR-0001")
    said["pause"] = ran(van.socket, "printers", "pause", "van-1")
    # Submitted at the office, for the van: the office's printer is idle and must leave them be.
    said["submit"] = ran(office.socket, "submit", str(work / "van.json"), "--station", "van")
    said["batch"] = ran(office.socket, "submit", "--batch", str(work / "school.jsonl"), "--station", "van")
    said["office"] = ran(office.socket, "submit", str(work / "office.json"))  # last in the queue, lowest priority
    wait_for(lambda: all_done(office, "OFFICE-1"), 30, "the office to print OFFICE-1")
    scenario.while_paused = {ref: state(office, ref) for ref in ("VAN-1", "VAN-2", "VAN-3", "OFFICE-1")}
    said["resume"] = ran(van.socket, "printers", "resume", "van-1")
    wait_for(lambda: all_done(van, "VAN-1", "VAN-2", "VAN-3"), 30, "the van to print its jobs")
    # What the office knows of the van's printers is what the van last said (every few seconds).
    wait_for(lambda: van_printers_seen(office) == [("van-1", "ready")], 30, "the van to say its printer is ready")


@pytest.fixture(scope="module")
def stations(postgres: Cluster) -> Iterator[Scenario]:
    url = postgres.fresh_database()
    root = Path(tempfile.mkdtemp(prefix="printd-stations-"))
    office = DaemonProcess(root / "office", [SimSpec("office-1")], station="office", database_url=url)
    van = DaemonProcess(root / "van", [SimSpec("van-1")], station="van", database_url=url)
    scenario = Scenario(office, van, url)
    work = root / "jobs"
    for directory in (office.directory, van.directory, work):
        directory.mkdir()
    (work / "face.png").write_bytes(card_png("STATION"))
    (work / "van.json").write_text(json.dumps({"ref": "VAN-1", "front": "face.png"}))
    (work / "office.json").write_text(json.dumps({"ref": "OFFICE-1", "front": "face.png", "priority": "backlog"}))
    lines = [
        {"ref": "VAN-2", "front": "face.png"},
        {"ref": "VAN-3", "front": "face.png", "station": "van"},
        {"ref": "DESK-1", "front": "face.png", "station": "office"},  # another station: refused, never sent
    ]
    (work / "school.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    try:
        office.start()
        van.start()
        with pytest.MonkeyPatch.context() as env:
            env.setenv("COLUMNS", "200")  # printctl's width here; put back as it was afterwards
            play(scenario, work)
        yield scenario
    finally:
        office.kill()
        van.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def office(stations: Scenario, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Printctl:
    monkeypatch.setenv("COLUMNS", "200")
    return Printctl(stations.office.socket, capsys)


@pytest.fixture
def van(stations: Scenario, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Printctl:
    monkeypatch.setenv("COLUMNS", "200")
    return Printctl(stations.van.socket, capsys)


# ---- the two stations --------------------------------------------------------------------------------


def test_a_transfer_says_what_moved_and_what_each_station_holds(stations: Scenario) -> None:
    assert stations.said["receive"][0] == EXIT_OK
    code, out, err = stations.said["transfer"]
    assert (code, err) == (EXIT_OK, "")
    assert out == "Transferred 200 blanks from office to van (TR-0001); on hand: office 800, van 200\n"


def test_the_van_prints_its_jobs_and_the_office_prints_past_them(stations: Scenario, office: Printctl) -> None:
    # OFFICE-1 came last and at the lowest priority: had the office's printer been free to take the van's jobs, it
    # would have printed them first.
    assert stations.while_paused == {"VAN-1": "queued", "VAN-2": "queued", "VAN-3": "queued", "OFFICE-1": "done"}
    printers = {ref: office.json("job", ref)["printer"] for ref in ("VAN-1", "VAN-2", "VAN-3", "OFFICE-1")}
    assert printers == {"VAN-1": "van-1", "VAN-2": "van-1", "VAN-3": "van-1", "OFFICE-1": "office-1"}
    assert stations.van.physical_truth("van-1")[0].in_hopper == 3
    assert stations.office.physical_truth("office-1")[0].in_hopper == 1


def test_submit_station_binds_the_jobs_that_name_none(stations: Scenario, office: Printctl) -> None:
    code, out, err = stations.said["submit"]
    assert code == EXIT_OK and "Submitted job" in out and "VAN-1" in out, err
    assert office.json("job", "VAN-1")["station"] == "van"  # the job file names no station
    assert office.json("job", "VAN-3")["station"] == "van"
    assert office.json("job", "OFFICE-1")["station"] is None

    code, out, _ = stations.said["batch"]
    assert code == EXIT_ERROR  # a line was rejected
    assert "Accepted 2 job(s)" in out and "rejected 1" in out
    assert "DESK-1" in out and "names station 'office'" in out and "--station says 'van'" in out
    error = office.json("job", "DESK-1", expect=EXIT_ERROR)["error"]
    assert error["code"] == "job.not_found"  # refused by printctl, never sent


def test_a_job_file_naming_another_station_is_refused_whole(
    stations: Scenario, office: Printctl, tmp_path: Path
) -> None:
    job = tmp_path / "desk.json"
    job.write_text(json.dumps({"ref": "DESK-2", "front": "data:image/png;base64,AAAA", "station": "office"}))
    out, err = office.run("submit", str(job), "--station", "van", expect=EXIT_USAGE)
    assert out == ""
    assert "names station 'office' and --station says 'van'" in err and "remove one of the two" in err
    office("job", "DESK-2", expect=EXIT_ERROR)


def test_stock_shows_each_stations_custody_exactly(stations: Scenario, office: Printctl, van: Printctl) -> None:
    expected = {
        "office": NO_BLANKS | {"received": 1000, "transferred_out": 200, "issued": 1, "on_hand": 799},
        "van": NO_BLANKS | {"transferred_in": 200, "issued": 3, "on_hand": 197},
    }
    summary = office.json("stock")
    assert summary["stations"] == expected
    assert {k: summary[k] for k in COUNTS} == {
        "received": 1000,
        "transferred_in": 200,
        "transferred_out": 200,
        "adjusted": 0,
        "issued": 4,
        "spoiled": 0,
        "in_doubt": 0,
        "on_hand": 996,
    }
    assert van.json("stock")["stations"] == expected  # one ledger, whichever station is asked

    table = office("stock")
    assert "Blank cards, all stations" in table and "Custody by station" in table
    rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") > 8}
    assert [cell.strip() for cell in rows["office"].split("│")[2:-1]] == ["1000", "0", "200", "0", "1", "0", "0", "799"]
    assert [cell.strip() for cell in rows["van"].split("│")[2:-1]] == ["0", "200", "0", "0", "3", "0", "0", "197"]
    store = open_store(stations.url, station="office")
    try:
        assert_ledger_consistent(store)
    finally:
        store.close()


def test_status_shows_both_stations(stations: Scenario, office: Printctl, van: Printctl) -> None:
    reply = office.json("status")
    seen = {s["name"]: s for s in reply["stations"]}
    assert set(seen) == {"office", "van"}
    assert (seen["office"]["this_station"], seen["van"]["this_station"]) == (True, False)
    assert (seen["office"]["on_hand"], seen["van"]["on_hand"]) == (799, 197)

    text = office("status")
    assert "Stations" in text and "office (this station)" in text
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if "│ van " in line or "│ office" in line}
    assert "s ago" in lines["van"] and "van-1 ready" in lines["van"] and "197" in lines["van"]
    assert "now" in lines["office (this station)"] and "office-1 ready" in lines["office (this station)"]
    assert "NOT HEARD" not in text

    assert "van (this station)" in van("status")


def test_jobs_by_station(stations: Scenario, office: Printctl) -> None:
    listed = office.json("jobs", "--station", "van")
    assert sorted(job["ref"] for job in listed) == ["VAN-1", "VAN-2", "VAN-3"]
    assert {job["station"] for job in listed} == {"van"}
    assert office.json("jobs", "--station", "office") == []
    assert "No jobs." in office("jobs", "--station", "office")

    table = office("jobs")
    header = next(line for line in table.splitlines() if "Ref" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]][5:7] == ["Printer", "Station"]
    row = next(line for line in table.splitlines() if "OFFICE-1" in line)
    assert [c.strip() for c in row.split("│")[1:-1]][5:7] == ["office-1", "-"]
    row = next(line for line in table.splitlines() if "VAN-2" in line)
    assert [c.strip() for c in row.split("│")[1:-1]][5:7] == ["van-1", "van"]

    assert [line.split() for line in office("job", "VAN-2").splitlines() if line.startswith("Station")] == [
        ["Station", "van"]
    ]
    assert "any station" in office("job", "OFFICE-1")


def test_transfers_are_listed_newest_first(stations: Scenario, office: Printctl, van: Printctl) -> None:
    listed = van.json("stock", "transfers")
    assert [(t["reference"], t["count"], t["from"], t["to"]) for t in listed] == [("TR-0001", 200, "office", "van")]
    table = office("stock", "transfers", "--limit", "5")
    row = next(line for line in table.splitlines() if "TR-0001" in line)
    assert [c.strip() for c in row.split("│")[2:-1]] == ["TR-0001", "200", "office", "van", "root"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["5000", "--to", "van", "--ref", "TR-9001"], "stock.insufficient", "has only 799 blank(s) on hand"),
        (["20", "--to", "van", "--ref", "TR-0001"], "stock.ref_conflict", "'TR-0001' was booked"),
        (["20", "--to", "bus", "--ref", "TR-9002"], "station.not_found", "no station named 'bus'"),
        (["20", "--to", "office", "--ref", "TR-9003"], "stock.transfer_same_station", "in the custody of station"),
        (["200", "--to", "office", "--from", "van", "--ref", "TR-0001"], "stock.ref_conflict", "'TR-0001' was booked"),
    ],
    ids=["insufficient", "ref-other-count", "unknown-station", "same-station", "ref-other-direction"],
)
def test_a_refused_transfer_says_why_and_moves_nothing(
    stations: Scenario, office: Printctl, argv: list[str], code: str, message: str
) -> None:
    before = office.json("stock")
    out, err = office.run("stock", "transfer", *argv, expect=EXIT_ERROR)
    assert out == "" and message in err and f"[{code}]" in err
    assert office.json("stock", "transfer", *argv, expect=EXIT_ERROR)["error"]["code"] == code
    assert office.json("stock") == before
    assert len(office.json("stock", "transfers")) == 1


def test_the_same_transfer_again_books_nothing(stations: Scenario, office: Printctl) -> None:
    before = office.json("stock")
    reply = office.json("stock", "transfer", "200", "--to", "van", "--ref", "TR-0001")
    first = office.json("stock", "transfers")[0]
    assert (reply["event_id"], reply["count"], reply["from"], reply["to"]) == (first["event_id"], 200, "office", "van")
    assert office.json("stock") == before


# ---- the operator's role -------------------------------------------------------------------------------


def test_an_operator_may_not_transfer(postgres: Cluster, accounts: Accounts) -> None:
    directory = Path(tempfile.mkdtemp(prefix="printd-stations-roles-"))
    directory.chmod(0o755)  # the test users must reach the socket
    url = postgres.fresh_database()
    desk = RolesDaemon(
        directory,
        [SimSpec("desk-1")],
        station="desk",
        database_url=url,
        control={"socket_group": accounts.group("sock"), "roles": accounts.roles_config()},
    )
    try:
        van = open_store(url, station="van")  # a station that has run on this database, as the van has
        try:
            van.register_station(["van-1"], "van-pc", 1)
        finally:
            van.close()
        desk.start()
        call(desk, "stock.receive", {"count": 10, "ref": "DO-DESK"})
        argv = ("stock", "transfer", "5", "--to", "van", "--ref")
        refused = as_user(accounts.users["operator"], run_as(desk.socket, *argv, "TR-OP"))
        assert refused["code"] == EXIT_ERROR and refused["out"] == ""
        assert "this needs the supervisor role" in refused["err"] and "have the operator role" in refused["err"]
        allowed = as_user(accounts.users["supervisor"], run_as(desk.socket, *argv, "TR-SUP"))
        assert allowed["code"] == EXIT_OK, allowed
        assert allowed["out"] == "Transferred 5 blanks from desk to van (TR-SUP); on hand: desk 5, van 5\n"
        assert [t["reference"] for t in call(desk, "stock.transfers", {})] == ["TR-SUP"]
    finally:
        desk.kill()
        shutil.rmtree(directory, ignore_errors=True)


# ---- rendering rules, on replies written here --------------------------------------------------------


def shown(render: Any, reply: object) -> str:
    out = io.StringIO()
    Output(json=False, out=out).show(render, reply)
    return out.getvalue()


STATUS = {
    "station": "office",
    "printers": [],
    "queue": {},
    "stock": {"received": 10, "on_hand": 10},
    "alerts": [],
    "storage": {"available": True},
}


def station(name: str, seconds: float, **more: object) -> dict[str, object]:
    return {
        "name": name,
        "last_heard": "2026-12-06T01:30:00.000Z",
        "seconds_since_heard": seconds,
        "host": "pc",
        "on_hand": 5,
        "in_doubt": 0,
        "printers": [{"name": f"{name}-1", "state": "paused", "paused": True, "pause_reason": "cover-open-error"}],
        "this_station": False,
    } | more


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_a_station_not_heard_for_a_minute_is_flagged() -> None:
    text = shown(
        render_status,
        STATUS | {"stations": [station("office", 0.0, this_station=True), station("van", STALE_SECONDS + 240)]},
    )
    assert "NOT HEARD for 5 min" in text
    assert "! Station van not heard for 5 min (since 2026-12-06T01:30:00.000Z)" in text
    assert "van-1 paused (cover-open-error)" in text
    text = shown(render_status, STATUS | {"stations": [station("office", 0.0, this_station=True), station("van", 59)]})
    assert "59 s ago" in text and "NOT HEARD" not in text and "! Station" not in text


def test_one_station_shows_no_station_tables() -> None:
    text = shown(render_status, STATUS | {"stations": [station("office", 0.0, this_station=True)]})
    assert "Stations" not in text and "this station" not in text
    one = {"received": 10, "on_hand": 10, "stations": {"office": NO_BLANKS | {"received": 10, "on_hand": 10}}}
    text = shown(render_stock, one)
    assert "Custody" not in text and "all stations" not in text and "Blank cards" in text


def test_status_while_the_database_cannot_be_read() -> None:
    storage = {"available": False, "since": "2026-12-06T01:30:00.000Z", "code": "store.unreachable", "message": "down"}
    reply = STATUS | {"queue": None, "stock": None, "stations": None, "storage": storage}
    text = shown(render_status, reply)
    assert "Storage failing since" in text and "[store.unreachable]" in text
    assert "the database cannot be read; printing waits for it" in text
    assert "Canceled" not in text and "Blank cards" not in text and "Last heard" not in text


def test_bind_station() -> None:
    assert bind_station({"ref": "A"}, None) == {"ref": "A"}
    assert bind_station({"ref": "A"}, "van") == {"ref": "A", "station": "van"}
    assert bind_station({"ref": "A", "station": None}, "van") == {"ref": "A", "station": "van"}
    assert bind_station({"ref": "A", "station": "van"}, "van") == {"ref": "A", "station": "van"}
    with pytest.raises(ValueError, match="names station 'office'"):
        bind_station({"ref": "A", "station": "office"}, "van")


@pytest.mark.parametrize(
    "argv",
    [
        ["stock", "transfer", "0", "--to", "van", "--ref", "TR-1"],
        ["stock", "transfer", "5", "--ref", "TR-1"],
        ["stock", "transfer", "5", "--to", "van"],
        ["stock", "transfer", "5", "--to", " ", "--ref", "TR-1"],
        ["stock", "transfers", "--limit", "0"],
        ["jobs", "--station", ""],
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        printctl_main(["--socket", "/nonexistent/printd.sock", *argv])
    assert exit_info.value.code == EXIT_USAGE
    assert "printctl" in capsys.readouterr().err


@pytest.mark.parametrize("path", [["stock", "transfer"], ["stock", "transfers"], ["jobs"], ["submit"]])
def test_help(capsys: pytest.CaptureFixture[str], path: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        printctl_main([*path, "--help"])
    assert exit_info.value.code == EXIT_OK
    out = capsys.readouterr().out
    assert "usage: printctl" in out and "exit status" in out
    if path[0] in ("jobs", "submit"):
        assert "--station STATION" in out
