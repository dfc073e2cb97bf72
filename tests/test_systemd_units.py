"""The units in systemd/: systemd-analyze verify, the sandbox's exposure (systemd-analyze security --offline=yes,
at most 2.0) of printd.service and printd-web.service, sysusers and tmpfiles applied to a scratch root, the udev
rule's shape, printd and printd-web under the W^X rule.

systemd is not PID 1 here, so the tools run offline on the files. `systemd-analyze verify` checks that ExecStart's
binary exists: it verifies copies whose ExecStart is this environment's program. Unit files named on its command line
are loaded from their own directory, so the socket unit next to the copy is found without SYSTEMD_UNIT_PATH.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from printd.config import DEFAULT_CONFIG_PATH, ControlConfig, StationConfig, WebConfig, is_loopback, listen_address
from printd.daemon import STOP_TIMEOUT_SECONDS
from printd.watchdog import READY_PROBE_SECONDS
from printd.web.server import GRACEFUL_SECONDS
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import ROOT, DaemonProcess, SimSpec, listening, wait_for
from tests.systemd_tools import systemd_tool
from tests.web_harness import WebProcess

UNITS = ROOT / "systemd"
MAX_EXPOSURE = 2.0
PR_SET_MDWE, PR_GET_MDWE, REFUSE = 65, 66, 1  # <linux/prctl.h>; REFUSE: PR_MDWE_REFUSE_EXEC_GAIN


def unit_settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> every value given, in order (keys like DeviceAllow= repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min)?", value).groups()  # type: ignore[union-attr]
    return float(number) * (60 if unit == "min" else 1)


def venv_copy(tmp_path: Path, unit: str = "printd.service") -> Path:
    """The units with ExecStart pointing at this environment's programs (verify needs the binaries to exist); the
    copy of ``unit``."""
    for name in ("printd.service", "printd-web.service", "printd.socket"):
        text = (UNITS / name).read_text()
        if name.endswith(".service"):
            program = name.removesuffix(".service")
            binary = Path(sys.executable).with_name(program)
            assert binary.exists(), f"{binary} is missing: install printd into the environment (make setup)"
            assert f"ExecStart=/usr/bin/{program} " in text
            text = text.replace(f"ExecStart=/usr/bin/{program} ", f"ExecStart={binary} ")
        (tmp_path / name).write_text(text)
    return tmp_path / unit


SERVICES = ("printd.service", "printd-web.service")


@pytest.mark.parametrize("unit", SERVICES)
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path, unit: str) -> None:
    analyze = systemd_tool("systemd-analyze")
    service = venv_copy(tmp_path, unit)
    result = subprocess.run(
        [analyze, "verify", *sorted({str(service), str(tmp_path / "printd.service"), str(tmp_path / "printd.socket")})],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Unknown keys and bad values are only warnings (exit 0): any output at all fails the test.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def exposure(analyze: str, service: Path) -> tuple[int, float, str]:
    result = subprocess.run(
        [analyze, "security", "--offline=yes", f"--threshold={round(MAX_EXPOSURE * 10)}", str(service)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return result.returncode, float(found.group(1)), result.stdout


@pytest.mark.parametrize("unit", SERVICES)
def test_the_sandbox_exposure_is_at_most_two(tmp_path: Path, unit: str) -> None:
    analyze = systemd_tool("systemd-analyze")
    code, level, report = exposure(analyze, venv_copy(tmp_path, unit))
    print(f"systemd-analyze security --offline=yes {unit}: exposure {level}")
    assert code == 0 and level <= MAX_EXPOSURE, report
    # the same check fails a unit without the hardening: it can tell
    bare = tmp_path / "bare.service"
    bare.write_text("[Service]\nType=notify\nExecStart=/bin/true\n")
    code, level, _ = exposure(analyze, bare)
    assert code != 0 and level > MAX_EXPOSURE


def test_the_units_agree_with_printd() -> None:
    service = unit_settings(UNITS / "printd.service")["Service"]
    socket_unit = unit_settings(UNITS / "printd.socket")["Socket"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["ExecStart"] == [f"/usr/bin/printd run --config {DEFAULT_CONFIG_PATH}"]
    assert service["User"] == ["printd"] and service["Restart"] == ["on-failure"]
    assert seconds(service["TimeoutStopSec"][0]) > STOP_TIMEOUT_SECONDS  # systemd never kills a finishing card
    assert seconds(service["TimeoutStartSec"][0]) > READY_PROBE_SECONDS  # nor a start still probing printers
    assert seconds(service["WatchdogSec"][0]) >= 10
    assert service["DevicePolicy"] == ["closed"]
    assert set(service["DeviceAllow"]) == {f"char-{group} rw" for group in ("usb_device", "usb", "ttyUSB", "ttyACM")}
    assert service["CapabilityBoundingSet"] == [""] and service["NoNewPrivileges"] == ["yes"]
    assert service["RestrictAddressFamilies"] == ["AF_UNIX AF_NETLINK"]
    assert service["SystemCallFilter"][0] == "@system-service"
    assert service["RuntimeDirectoryPreserve"] == ["yes"]  # stopping printd must not delete the socket's directory
    assert socket_unit["ListenStream"] == [StationConfig().socket]
    assert (socket_unit["SocketMode"], socket_unit["SocketGroup"]) == (["0660"], ["printd"])


def test_the_dashboard_unit_agrees_with_printd_web() -> None:
    unit = unit_settings(UNITS / "printd-web.service")
    service = unit["Service"]
    assert unit["Unit"]["Wants"] == ["printd.socket"] and "printd.socket" in unit["Unit"]["After"][0].split()
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["ExecStart"] == [f"/usr/bin/printd-web --config {DEFAULT_CONFIG_PATH}"]
    assert service["Restart"] == ["on-failure"]
    assert seconds(service["TimeoutStopSec"][0]) > GRACEFUL_SECONDS
    # its own user, in printd's group for the socket, and the user printd lets act for dashboard accounts
    assert (service["User"], service["SupplementaryGroups"]) == (["printd-web"], ["printd"])
    assert ControlConfig().web_users == ["printd-web"]
    assert service["CapabilityBoundingSet"] == [""] and service["NoNewPrivileges"] == ["yes"]
    assert service["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert service["IPAddressDeny"] == ["any"] and service["IPAddressAllow"] == ["localhost"]
    assert is_loopback(listen_address(WebConfig().listen)[0])  # the default listen is within what the unit allows
    assert service["SystemCallFilter"][0] == "@system-service" and service["MemoryDenyWriteExecute"] == ["yes"]


def test_sysusers_and_tmpfiles_make_the_user_groups_and_directories(tmp_path: Path) -> None:
    sysusers, tmpfiles = systemd_tool("systemd-sysusers"), systemd_tool("systemd-tmpfiles")
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles needs root to give the directories to printd")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for tool, config in ((sysusers, []), (tmpfiles, ["--create"])):
        name = "printd.sysusers" if tool == sysusers else "printd.tmpfiles"
        result = subprocess.run(
            [tool, f"--root={root}", *config, str(UNITS / name)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").read_text().splitlines()}
    assert users["printd"][5] == "/var/lib/printd" and users["printd"][6].endswith("nologin")
    assert {"printd", "printd-operator", "printd-admin"} <= set(groups)
    assert "printd" in groups["dialout"][3].split(",")  # USB serial adapters
    assert "printd" in groups["printd-operator"][3].split(",")  # reads the job files the spool gives that group
    assert users["printd-web"][6].endswith("nologin") and "printd-web" in groups["printd"][3].split(",")
    uid = int(users["printd"][2])
    for directory, mode, group in (
        ("var/spool/printd", 0o3730, "printd-operator"),  # operators drop job files; viewers may not
        ("var/spool/printd/done", 0o700, "printd"),
        ("var/spool/printd/rejected", 0o750, "printd"),
        ("run/printd", 0o755, "printd"),
    ):
        st = (root / directory).stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, uid, int(groups[group][2])), directory


def test_the_udev_rule_gives_only_printer_class_devices_of_known_makers_to_printd() -> None:
    rules = [line for line in (UNITS / "70-printd.rules").read_text().splitlines() if line and line[0] != "#"]
    key = r'(?:[A-Z]+(?:\{[A-Za-z_]+\})?)\s*(?:==|!=|=|\+=)\s*"[^"]*"'
    for line in rules:
        assert re.fullmatch(rf"{key}(?:,\s*{key})*", line), f"not a udev rule line: {line}"
    gotos = set(re.findall(r'GOTO="([^"]+)"', "\n".join(rules)))
    labels = set(re.findall(r'LABEL="([^"]+)"', "\n".join(rules)))
    assert gotos == labels
    granting = [line for line in rules if 'GROUP="printd"' in line]
    assert granting and all('idVendor}=="0f49"' in line and 'MODE="0660"' in line for line in granting)
    assert any('ENV{ID_USB_INTERFACES}=="*:0701??:*"' in line for line in rules)  # printer class only


def _mdwe_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) >= 0 or ctypes.get_errno() != errno.EINVAL


# The child turns on the kernel's memory-deny-write-execute (what MemoryDenyWriteExecute=yes enforces) before
# anything else, checks that it holds, loads libusb as the USB transport does, then runs printd.
_UNDER_MDWE = f"""
import ctypes, runpy, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({PR_SET_MDWE}, {REFUSE}, 0, 0, 0) != 0 or libc.prctl({PR_GET_MDWE}, 0, 0, 0, 0) != {REFUSE}:
    sys.exit("could not turn on MDWE")
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except OSError:
    pass
else:
    sys.exit("MDWE is not enforced")
if sys.argv[2] == "printd":
    import usb.backend.libusb1
    usb.backend.libusb1.get_backend()
    sys.argv = ["printd", "run", "--config", sys.argv[1]]
    runpy.run_module("printd.daemon", run_name="__main__")
else:
    sys.argv = ["printd-web", "--config", sys.argv[1]]
    runpy.run_module("printd.web.server", run_name="__main__")
"""


def test_printd_prints_with_writable_executable_memory_refused(tmp_path: Path) -> None:
    if not _mdwe_supported():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 and later)")
    d = DaemonProcess(tmp_path, [SimSpec("p1", ribbon="ymcko")])
    config = d.write_config()
    with d.log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _UNDER_MDWE, str(config), "printd"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: listening(d.socket) or process.poll() is not None, 30, "printd to start")
        assert process.poll() is None, d.log_path.read_text()
        with d.client() as client:
            client.call("stock.receive", {"count": 2, "ref": "DO-1"})
            face = tmp_path / "face.png"
            face.write_bytes(card_png("W^X"))
            client.call("jobs.submit", {"job": {"ref": "mdwe-1", "front": str(face), "back": str(face)}})
            wait_for(lambda: client.call("jobs.get", {"job": "mdwe-1"})["state"] == "done", 60, "the card")  # type: ignore[index]
        process.terminate()
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    store = d.open_store()
    assert_ledger_consistent(store)
    assert store.balance().issued == 1 == d.physical_truth("p1")[0].in_hopper
    store.close()


def test_printd_web_serves_with_writable_executable_memory_refused(tmp_path: Path) -> None:
    if not _mdwe_supported():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 and later)")
    d = DaemonProcess(tmp_path, [SimSpec("p1")])
    d.start()
    web = WebProcess(d, tmp_path, web={"anonymous_viewer": True})
    config = web.write_config()
    with web.log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _UNDER_MDWE, str(config), "printd-web"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def answers() -> bool:
            assert process.poll() is None, web.log_path.read_text()
            try:
                return "p1" in httpx.get(web.url + "/", timeout=5).text
            except httpx.TransportError:
                return False

        wait_for(answers, 30, "printd-web to show the station")
    finally:
        process.terminate()
        process.wait(30)
        d.stop()
