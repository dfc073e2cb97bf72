"""The Debian package under a live systemd: built by `make deb-package`, installed with apt into a freshly booted
Debian 12 container, then driven the way the office's IT person and its staff would — checked with systemd's own tools.

The tests run in file order on one container (each leaves the station as the next expects): installation, socket
activation, the STATUS= line, reload, who may use the socket, a stop that lets the card finish, a SIGKILL and the
start-up settlement, a wedged printer and the watchdog, the journal, the sandbox, then remove and purge; once one
fails, the rest are not run. After every printing scenario the ledger balances and matches the simulator's physical
truth. lintian checks the package meanwhile (what `make deb` adds to `make deb-package`); the last test reads it.

PRINTD_TEST_DEB=PATH uses an already built package instead of building one (about 2 minutes).

What a container cannot do (named here and in the README): udev does not run in it (no /sys write access), so the
package's udev rule is installed but never applied to a device; nothing else in printd's units is refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.components import require_component, stop_process
from tests.conftest import PHASE_REPORTS, card_png
from tests.container import BOOT_SECONDS, Container, booted, make_root, require_container_tools
from tests.daemon_harness import ROOT, wait_for

BUILD_SECONDS = 600  # make deb-package: a minute or two alone, 3 to 5 beside the rest of the suite on 2 cores
APT_SECONDS = 300
# The module fixture's work (the package, the root, the boot) counts toward the first scenario's limit, and that
# scenario is the installation: pytest's usual 300 s is not enough for both on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_SECONDS + BOOT_SECONDS + APT_SECONDS + 60)]

CONFIG = "/etc/printd/printd.toml"
SIM_DIR = "/var/lib/printd/sim"
MAX_EXPOSURE = 2.0
FRONT, BACK = "/srv/faces/front.png", "/srv/faces/back.png"
HOLDER = "Siti Aminah Binti Abdullah"  # a made-up resident; personal data must never reach the journal
STATION = """\
[station]
name = "kantor-uji"
database = "/var/lib/printd/printd.db"
socket = "/run/printd/printd.sock"
spool = "/var/spool/printd"
low_stock_threshold = {low}
timezone = "Asia/Makassar"

[web]
listen = "127.0.0.1:{web_port}"
anonymous_viewer = true
"""
PRINTER = """
[[printer]]
name = "{name}"
type = "sim"
cards = 100
seconds_per_card = {seconds}
ribbon = "kb"
faults = {faults}
state_file = "{sim_dir}/{name}.json"
"""


def station_config(printers: dict[str, tuple[float, list[str]]], web_port: int, low: int = 10) -> str:
    """The station's printd.toml: simulated printers by name -> (seconds per card, fault script)."""
    text = STATION.format(low=low, web_port=web_port)
    for name, (seconds, faults) in printers.items():
        text += PRINTER.format(name=name, seconds=seconds, faults=json.dumps(faults), sim_dir=SIM_DIR)
    return text


def started(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def wait_ok(process: subprocess.Popen[bytes], what: str, log: Path, timeout: float = BUILD_SECONDS) -> None:
    code = process.wait(timeout)
    assert code == 0, f"{what} failed ({code}):\n{log.read_text(errors='replace')[-6000:]}"


class Package:
    """The package under test — built by `make deb-package` while mmdebstrap makes the container's root, or the one
    PRINTD_TEST_DEB names — and lintian's check of it, which runs beside the scenarios (it takes a minute or two)."""

    def __init__(self, work: Path) -> None:
        self.build_log, self.lintian_log = work / "deb.log", work / "lintian.log"
        given = os.environ.get("PRINTD_TEST_DEB")
        self._path = Path(given).resolve() if given else None
        # dpkg-deb's xz at level 1, not 6: the same files in 33 MB instead of 27, 17 CPU-seconds instead of 91
        quick = {"DPKG_DEB_COMPRESSOR_LEVEL": "1"}
        self._build = None if given else started(["make", "deb-package"], self.build_log, quick)
        self._lintian: subprocess.Popen[bytes] | None = None

    def path(self) -> Path:
        """The .deb, once built; lintian starts on it."""
        if self._path is None:
            assert self._build is not None
            wait_ok(self._build, "make deb-package", self.build_log)
            self._path = max((ROOT / "dist").glob("printd_*.deb"), key=lambda path: path.stat().st_mtime)
        if self._lintian is None and shutil.which("lintian"):
            self._lintian = started(["lintian", "--fail-on", "error", str(self._path)], self.lintian_log)
        return self._path

    def lintian_report(self) -> str:
        """What lintian said of the package; fails if it found an error."""
        self.path()
        assert self._lintian is not None
        wait_ok(self._lintian, "lintian", self.lintian_log)
        return self.lintian_log.read_text(errors="replace")

    def stop(self) -> None:
        for process in (self._build, self._lintian):
            if process is not None:
                stop_process(process, 10)


class Station:
    """The container with the package installed, and the things staff do to its printd."""

    def __init__(self, container: Container, deb: Path) -> None:
        self.container = container
        self.deb = deb
        self.failed_scenario: str | None = None  # the scenarios build on each other: after a failure, none runs
        with socket.socket() as probe:  # the container shares this machine's network: a port free here
            probe.bind(("127.0.0.1", 0))
            self.web_port = probe.getsockname()[1]

    def run(self, *argv: str, **options: Any) -> subprocess.CompletedProcess[str]:
        return self.container.run(*argv, **options)

    def apt(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """apt-get as an administrator runs it, answering nothing (debconf's defaults, or what was preseeded)."""
        return self.run(
            "apt-get", *argv, "--yes", "--quiet", env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=APT_SECONDS
        )

    def printctl_json(self, *argv: str, user: str | None = None) -> object:
        return json.loads(self.run("printctl", "--json", *argv, user=user).stdout)

    def configure(self, printers: dict[str, tuple[float, list[str]]], low: int = 10) -> None:
        path = self.container.path(CONFIG)
        path.write_text(station_config(printers, self.web_port, low))  # dpkg-statoverride keeps it root:printd 0640

    def show(self, unit: str, prop: str) -> str:
        return self.run("systemctl", "show", unit, f"--property={prop}", "--value").stdout.strip()

    def active(self, unit: str) -> str:
        return self.run("systemctl", "is-active", unit, check=False).stdout.strip()

    def job(self, ref: str) -> dict[str, Any]:
        reply = self.printctl_json("job", ref)
        assert isinstance(reply, dict)
        return reply

    def submit(self, ref: str, user: str | None = None) -> None:
        job = self.container.path(f"/srv/jobs/{ref}.json")
        job.write_text(json.dumps({"ref": ref, "front": FRONT, "back": BACK, "holder": HOLDER}))
        job.chmod(0o644)
        self.run("printctl", "submit", f"/srv/jobs/{ref}.json", user=user)

    def wait_state(self, ref: str, states: tuple[str, ...], timeout: float) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            seen.update(self.job(ref))
            return seen["state"] in states

        wait_for(reached, timeout, f"job {ref} to be {' or '.join(states)} (it is {seen.get('state')})")
        return seen

    def assert_ledger_matches_the_printers(self) -> None:
        """The ledger balances, and what it says left the feeders is where the simulators' physical truth has it."""
        stock = self.printctl_json("stock")
        assert isinstance(stock, dict)
        totals = {key: stock[key] for key in ("received", "adjusted", "on_hand", "issued", "spoiled", "in_doubt")}
        assert totals["received"] + totals["adjusted"] == (
            totals["on_hand"] + totals["issued"] + totals["spoiled"] + totals["in_doubt"]
        ), totals
        hopper = reject = 0
        for state_file in sorted(self.container.path(SIM_DIR).glob("*.json")):
            truth = json.loads(
                self.run(
                    "/usr/lib/printd/bin/python",
                    "-m",
                    "drivers.sim",
                    "status",
                    "--state-file",
                    f"{SIM_DIR}/{state_file.name}",
                ).stdout
            )
            assert truth["balanced"], truth
            hopper += truth["hopper"] + truth["taken_from_hopper"]
            reject += truth["reject_box"] + truth["taken_from_reject_box"]
        # every card's fate was proved here (none in doubt): issued in the output hoppers, spoiled in the reject boxes
        assert (totals["in_doubt"], totals["issued"], totals["spoiled"]) == (0, hopper, reject), (
            totals,
            hopper,
            reject,
        )

    def journal(self, *argv: str) -> list[dict[str, str]]:
        out = self.run("journalctl", "--no-pager", "-o", "json", *argv).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Package]:
    require_container_tools()
    built = Package(tmp_path_factory.mktemp("package"))
    try:
        yield built
    finally:
        built.stop()  # a build or a lintian left running when the module ended early


@pytest.fixture(scope="module")
def booted_station(package: Package, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    work = tmp_path_factory.mktemp("container")
    began = time.monotonic()
    wait_ok(make_root(work / "root", work / "mmdebstrap.log"), "mmdebstrap", work / "mmdebstrap.log")
    deb = package.path()
    prepared = time.monotonic()
    with booted(work / "root", "printd-test", work / "console.log") as container:
        inside = container.path("/root") / deb.name
        inside.write_bytes(deb.read_bytes())
        for directory in ("/srv/faces", "/srv/jobs"):
            container.path(directory).mkdir(parents=True)
            container.path(directory).chmod(0o755)
        for side in (FRONT, BACK):
            face = container.path(side)
            face.write_bytes(card_png(side))
            face.chmod(0o644)
        yield Station(container, inside)
    print(
        f"\ncontainer test: package and root {prepared - began:.0f} s; boot, checks and power-off "
        f"{time.monotonic() - prepared:.0f} s"
    )


@pytest.fixture
def station(booted_station: Station, request: pytest.FixtureRequest) -> Iterator[Station]:
    """The station as the scenarios before left it: once one failed, the rest fail at once naming it, rather than
    each with a confusing error of its own."""
    if booted_station.failed_scenario is not None:
        pytest.fail(
            f"not run: {booted_station.failed_scenario} failed before it and left the station in an unknown state"
        )
    yield booted_station
    call = request.node.stash.get(PHASE_REPORTS, {}).get("call")
    if call is not None and call.failed:
        booted_station.failed_scenario = request.node.name


def test_apt_installs_the_package_on_a_fresh_debian(station: Station) -> None:
    started = time.monotonic()
    result = station.apt("install", f"/root/{station.deb.name}")
    print(f"apt-get install ./{station.deb.name}: {time.monotonic() - started:.1f} s")
    assert "printd.service is a disabled or a static unit, not starting it" in result.stderr + result.stdout
    # the socket is enabled and listening, the services are installed but wait for the edited configuration
    assert [
        station.run("systemctl", "is-enabled", unit, check=False).stdout.strip()
        for unit in ("printd.socket", "printd.service", "printd-web.service")
    ] == ["enabled", "disabled", "disabled"]
    assert [station.active(unit) for unit in ("printd.socket", "printd.service")] == ["active", "inactive"]
    socket = station.run("stat", "-c", "%a %U %G", "/run/printd/printd.sock").stdout.split()
    assert socket == ["660", "root", "printd"]
    assert station.run("stat", "-c", "%a %U %G", CONFIG).stdout.split() == ["640", "root", "printd"]
    assert CONFIG in station.run("dpkg-query", "-W", "-f=${Conffiles}", "printd").stdout
    groups = station.run("id", "-nG", "printd").stdout.split()
    assert {"printd", "printd-operator", "dialout"} <= set(groups)
    assert "printd" in station.run("id", "-nG", "printd-web").stdout.split()
    assert station.run("stat", "-c", "%a %U %G", "/var/spool/printd").stdout.split() == [
        "3730",
        "printd",
        "printd-operator",
    ]
    for path in (
        "/lib/udev/rules.d/70-printd.rules",
        "/usr/share/man/man1/printctl.1.gz",
        "/usr/share/man/man8/printd.8.gz",
    ):
        assert station.container.path(path).exists(), path
    for command in ("printd", "printctl", "printd-web"):
        assert station.run(command, "--help").stdout.startswith("usage:")
    # the shipped example is a valid configuration
    station.run("printd", "check-config", "--config", CONFIG)


def test_the_first_printctl_starts_printd_through_its_socket(station: Station) -> None:
    station.configure({"loket-1": (2.0, [])})
    assert station.active("printd.service") == "inactive"
    status = station.printctl_json("status")
    assert isinstance(status, dict)
    assert [printer["name"] for printer in status["printers"]] == ["loket-1"]
    # it answers as soon as it listens; READY=1 (active) follows once every printer has answered its first status
    wait_for(lambda: station.active("printd.service") == "active", 60, "READY=1")
    assert station.show("printd.service", "TriggeredBy") == "printd.socket"
    station.run("printctl", "stock", "receive", "50", "--ref", "DO-2026-001")


def test_systemctl_status_shows_printds_status_line(station: Station) -> None:
    wait_for(
        lambda: "; 50 blanks on hand" in station.show("printd.service", "StatusText"), 10, "STATUS= after the delivery"
    )
    shown = station.run("systemctl", "status", "printd.service", "--no-pager", check=False).stdout
    assert re.search(r'Status: "0 queued, 0 printing; loket-1 \w+; 50 blanks on hand"', shown), shown


def test_reload_applies_a_config_change(station: Station) -> None:
    pid = station.show("printd.service", "MainPID")
    station.configure({"loket-1": (2.0, []), "loket-2": (2.0, [])})
    station.run("systemctl", "reload", "printd.service")

    def both() -> bool:
        status = station.printctl_json("status")
        return isinstance(status, dict) and [p["name"] for p in status["printers"]] == ["loket-1", "loket-2"]

    wait_for(both, 20, "loket-2 to start after the reload")
    assert station.show("printd.service", "MainPID") == pid


def test_the_dashboard_starts_and_shows_the_station(station: Station) -> None:
    station.run("systemctl", "start", "printd-web.service")  # Type=notify: returns once it listens
    page = httpx.get(f"http://127.0.0.1:{station.web_port}/", timeout=10)
    assert page.status_code == 200 and "loket-2" in page.text, page.text[:2000]
    assert station.show("printd-web.service", "User") == "printd-web"
    # stopped again: its connections would start printd through the socket while later tests want it stopped
    station.run("systemctl", "stop", "printd-web.service")


def test_an_operator_is_served_and_others_are_refused(station: Station) -> None:
    station.run("useradd", "--no-create-home", "--groups", "printd,printd-operator", "ani")
    station.run("useradd", "--no-create-home", "--groups", "printd", "rina")
    station.run("useradd", "--no-create-home", "budi")
    station.submit("OP-1", user="ani")
    station.wait_state("OP-1", ("done",), 30)
    viewer = station.run("printctl", "hold", "OP-1", user="rina", check=False)
    assert viewer.returncode == 1 and "operator" in viewer.stderr, viewer
    stranger = station.run("printctl", "status", user="budi", check=False)
    assert stranger.returncode == 3 and "printd" in stranger.stderr, stranger
    station.assert_ledger_matches_the_printers()


def test_stop_lets_the_card_in_hand_finish(station: Station) -> None:
    station.configure({"loket-1": (6.0, [])})
    station.run("systemctl", "reload", "printd.service")
    station.submit("STOP-1")
    station.wait_state("STOP-1", ("printing",), 20)
    started = time.monotonic()
    station.run("systemctl", "stop", "printd.service", timeout=200)
    print(f"systemctl stop with a card in the printer: {time.monotonic() - started:.1f} s")
    assert station.active("printd.service") == "inactive"
    # the next printctl starts printd again through the socket; the card had finished before it stopped
    assert station.job("STOP-1")["state"] == "done"
    station.assert_ledger_matches_the_printers()


def test_a_sigkill_makes_systemd_restart_printd_which_settles_the_card(station: Station) -> None:
    restarts = int(station.show("printd.service", "NRestarts"))
    station.submit("KILL-1")
    station.wait_state("KILL-1", ("printing",), 20)
    time.sleep(1)  # the card is inside the printer
    station.run("systemctl", "kill", "--signal=SIGKILL", "printd.service")
    wait_for(lambda: int(station.show("printd.service", "NRestarts")) == restarts + 1, 30, "systemd to restart printd")
    job = station.wait_state("KILL-1", ("done",), 60)
    # start-up found the card still in the printer: rejected and booked spoiled, then the job printed on a new blank
    assert_settled_at_start_up(job)
    station.assert_ledger_matches_the_printers()


def assert_settled_at_start_up(job: dict[str, Any]) -> None:
    """Start-up found the job's card still in the printer: rejected, booked spoiled, and the job printed again."""
    assert [card["fate"] for card in job["cards"]] == ["spoiled", "issued"], job
    settled = [entry for entry in job["history"] if entry["event"] == "spoiled"]
    assert len(settled) == 1 and "printd stopped during this card" in settled[0]["detail"], job["history"]


def test_a_wedged_printer_trips_the_watchdog_and_the_restart_settles_its_card(station: Station) -> None:
    restarts = int(station.show("printd.service", "NRestarts"))
    station.configure({"loket-1": (6.0, []), "macet": (0.5, ["card 1: printer hangs"])})
    station.run("systemctl", "reload", "printd.service")
    station.run("printctl", "printers", "pause", "loket-1", "--reason", "uji watchdog")
    wait_for(lambda: "macet ready" in station.show("printd.service", "StatusText"), 20, "macet to start")
    station.submit("WEDGE-1")
    started = time.monotonic()
    # macet's cards are alive for 2 x 0.5 s + 10 s; then printd withholds WATCHDOG=1 and systemd (WatchdogSec=30s)
    # aborts it within 30 s more, and restarts it
    wait_for(lambda: int(station.show("printd.service", "NRestarts")) == restarts + 1, 90, "the watchdog to trip")
    print(f"a wedged printer to systemd's restart: {time.monotonic() - started:.0f} s")
    systemd_said = station.run("journalctl", "--no-pager", "--unit=printd.service", "--identifier=systemd").stdout
    assert "printd.service: Watchdog timeout" in systemd_said, systemd_said[-3000:]
    assert any(event.get("event") == "watchdog.withheld" for event in printd_events(station))
    station.run("printctl", "printers", "resume", "loket-1")
    assert_settled_at_start_up(station.wait_state("WEDGE-1", ("done",), 60))
    station.assert_ledger_matches_the_printers()


def printd_events(station: Station) -> list[dict[str, Any]]:
    """printd's JSON log lines, as journalctl -o json gives them."""
    entries = station.journal("--unit=printd.service", "--output-fields=MESSAGE,SYSLOG_IDENTIFIER")
    return [
        json.loads(entry["MESSAGE"])
        for entry in entries
        if entry.get("SYSLOG_IDENTIFIER") == "printd" and str(entry.get("MESSAGE", "")).startswith("{")
    ]


def test_the_journal_has_printds_json_fields(station: Station) -> None:
    events = printd_events(station)
    assert events, "no JSON line from printd in the journal"
    assert all({"event", "level", "timestamp"} <= set(event) for event in events)
    cards = [event for event in events if "job" in event and "printer" in event]
    assert cards, [event["event"] for event in events]
    # each line filed under its level: the wedged printer's error is among `journalctl -p err`
    errors = station.journal("--unit=printd.service", "--priority=err", "--identifier=printd")
    assert "watchdog.withheld" in [json.loads(entry["MESSAGE"])["event"] for entry in errors], errors
    assert {entry["PRIORITY"] for entry in errors} <= {"0", "1", "2", "3"}
    everything = station.run("journalctl", "--no-pager", "--output=verbose").stdout
    assert HOLDER not in everything and "Siti" not in everything


def test_systemd_analyze_security_on_the_installed_units(station: Station) -> None:
    # the container honoured every directive: systemd said nothing of one it could not apply (a BPF firewall or
    # device policy "not supported", an unknown key...)
    said = station.run("journalctl", "--boot", "--no-pager", "--output=cat", "--identifier=systemd").stdout
    complaints = [
        line
        for line in said.splitlines()
        if "printd" in line and re.search(r"not supported|proceeding without|[Uu]nknown|ignoring|Failed to", line)
    ]
    assert complaints == [], complaints
    for unit in ("printd.service", "printd-web.service"):
        report = station.run("systemd-analyze", "security", "--no-pager", unit, check=False).stdout
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", report)
        assert found, report
        print(f"systemd-analyze security {unit} (installed, in the container): {found.group(1)}")
        assert float(found.group(1)) <= MAX_EXPOSURE, report


def test_an_upgrade_restarts_a_running_printd_after_the_card_in_hand(station: Station) -> None:
    station.run("printctl", "printers", "pause", "macet")
    station.submit("UPGRADE-1")
    station.wait_state("UPGRADE-1", ("printing",), 20)
    pid = station.show("printd.service", "MainPID")
    station.apt("install", "--reinstall", f"/root/{station.deb.name}")  # as an upgrade: prerm, unpack, postinst
    job = station.job("UPGRADE-1")  # printed whole before the old printd stopped: one card, no spoil
    assert (job["state"], [card["fate"] for card in job["cards"]]) == ("done", ["issued"]), job
    assert station.active("printd.socket") == "active"
    wait_for(lambda: station.active("printd.service") == "active", 60, "printd to be running again")
    assert station.show("printd.service", "MainPID") not in (pid, "0")
    station.assert_ledger_matches_the_printers()


def test_remove_stops_everything_and_purge_keeps_the_ledger_unless_asked(station: Station) -> None:
    station.apt("remove", "printd")
    assert [station.active(unit) for unit in ("printd.socket", "printd.service")] == ["inactive", "inactive"]
    assert station.run("pgrep", "-u", "printd", check=False).returncode == 1  # no printd process left
    assert station.container.path("/var/lib/printd/printd.db").exists()
    assert station.container.path(CONFIG).exists()  # a conffile stays until purge
    station.apt("purge", "printd")
    assert not station.container.path("/etc/printd").exists()
    assert not station.container.path("/var/spool/printd").exists()
    assert station.container.path("/var/lib/printd/printd.db").exists()  # the ledger of accountable blanks
    assert station.run("getent", "passwd", "printd", check=False).returncode == 0  # system users stay
    # asked to: the database goes with the purge
    station.apt("install", f"/root/{station.deb.name}")
    station.run("debconf-set-selections", input="printd printd/purge_database boolean true\n")
    station.apt("purge", "printd")
    assert not station.container.path("/var/lib/printd").exists()


def test_lintian_finds_no_error_in_the_package(package: Package) -> None:
    missing = None if shutil.which("lintian") else "lintian is not installed; make setup installs it"
    require_component("lintian", missing)
    report = package.lintian_report()
    tags = re.findall(r"^([EWIP]): printd\S*: (\S+)", report, flags=re.MULTILINE)
    assert not [tag for level, tag in tags if level == "E"], report
    warnings = sorted({tag for level, tag in tags if level == "W"})
    print(f"lintian: no error; warnings: {', '.join(warnings) or 'none'}")
