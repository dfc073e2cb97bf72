"""Test fixture: a private CUPS scheduler (own config, spool, logs, Unix socket) with the printdsim backend."""

# The scheduler is the system's cupsd binary run in the foreground on configuration files of its own: every
# directory it writes (ServerRoot, RequestRoot, StateDir, CacheDir, TempDir, logs) is under one temporary
# directory, it listens on a Unix socket there and on no TCP port, and its ServerBin holds only the printdsim
# backend and the cups-exec helper cupsd starts its children with. The machine's CUPS (/etc/cups,
# /var/spool/cups, a running cupsd) is never read or written; DataDir (MIME types) is read from
# /usr/share/cups.
#
# Users: cupsd refuses to run its children as root. Run as root, it is told User lp / Group lp and gives its
# directories to group lp; the backend wrapper is mode 0700, so cupsd runs it as root: the virtualenv's Python
# may live where lp cannot go (under /root). The temporary directory is 0755 so that lp can reach the spool.
# Run as another user, cupsd runs everything as that user (User is that user, SystemGroup its group).
#
# Queues are raw: lpadmin with -v and no -m/-P makes a queue without a driver (make-and-model "Local Raw
# Printer") and says nothing, where "-m raw" is deprecated in CUPS 2.4. A raw queue needs no filter, so the
# system's ServerBin (/usr/lib/cups) is only needed for daemon/cups-exec.
#
# Under CI=true a missing cupsd, lpadmin, cups-exec or pycups fails the tests that need them; elsewhere they
# are skipped, with the reason.

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from drivers.cups.install import install_backend
from drivers.sim.model import PrinterModel
from drivers.sim.serve import StateLock
from drivers.sim.state import StateFile
from tests.components import require_component, stop_process

ROOT = Path(__file__).resolve().parents[1]
CUPS_EXEC = Path("/usr/lib/cups/daemon/cups-exec")
DATA_DIR = Path("/usr/share/cups")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0

CUPSD_CONF = """\
Listen {socket}
LogLevel debug
MaxLogSize 0
Browsing Off
WebInterface No
DefaultShared No
PreserveJobHistory Yes
PreserveJobFiles No
ErrorPolicy abort-job
JobKillDelay {kill_delay}
{extra}
<Policy default>
  <Limit All>
    Order allow,deny
  </Limit>
</Policy>
# A queue with printer-op-policy=nobody refuses everyone (for the permission tests).
<Policy nobody>
  <Limit All>
    Require user nobody
  </Limit>
</Policy>
"""

CUPS_FILES_CONF = """\
User {user}
Group {group}
SystemGroup {system_group}
ServerRoot {root}/etc
StateDir {root}/run
CacheDir {root}/cache
RequestRoot {root}/spool
TempDir {root}/spool/tmp
ServerBin {root}/bin
DataDir {data_dir}
DocumentRoot {root}/doc
AccessLog {root}/log/access_log
ErrorLog {root}/log/error_log
PageLog {root}/log/page_log
Printcap {root}/printcap
FileDevice No
"""


def missing() -> str | None:
    """Why a private cupsd cannot run here, or None."""
    for tool in ("cupsd", "lpadmin"):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            return f"{tool} is not installed (Debian: apt-get install cups-daemon cups-client)"
    if not CUPS_EXEC.exists():
        return f"{CUPS_EXEC} is missing (Debian package cups-daemon)"
    if not (DATA_DIR / "mime" / "mime.types").exists():
        return f"{DATA_DIR}/mime/mime.types is missing (Debian package cups-common)"
    try:
        import cups  # noqa: F401
    except ImportError:
        return "pycups is not installed (pip install pycups; it builds against libcups2-dev)"
    return None


def require_cups() -> None:
    """Fail under CI=true, skip elsewhere, when the scheduler or pycups is missing."""
    require_component("a private CUPS scheduler", missing())


def _tool(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert path is not None, name
    return path


@dataclass
class SimQueue:
    """A CUPS queue whose device is a simulated printer; its state file is the physical truth."""

    name: str
    state_file: Path
    uri: str
    server: PrivateCupsd

    def model(self) -> PrinterModel:
        """The printer as the backend last saved it."""
        serial = str(json.loads(self.state_file.read_text(encoding="utf-8"))["serial"])
        model = PrinterModel(serial)
        StateFile(self.state_file).load(model)
        return model

    def journal(self) -> list[dict[str, Any]]:
        path = self.state_file.with_name(self.state_file.name + ".journal")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def driver(self, **options: Any) -> Any:
        from drivers.cups.driver import CupsDriver

        options.setdefault("poll_interval", 0.05)
        options.setdefault("kill_wait", 15.0)
        options.setdefault("reconnect_timeout", 20.0)
        return CupsDriver(self.name, server=self.server.socket, **options)


@dataclass
class PrivateCupsd:
    root: Path
    kill_delay: int = 10
    extra_conf: str = ""
    process: subprocess.Popen[bytes] | None = None
    queues: list[str] = field(default_factory=list)

    @property
    def socket(self) -> str:
        return str(self.root / "cups.sock")

    @property
    def sims(self) -> Path:
        return self.root / "sims"

    def prepare(self) -> None:
        root = self.root
        root.chmod(0o755)
        for sub in ("etc", "run", "cache", "spool/tmp", "log", "doc", "bin/backend", "bin/daemon", "bin/filter"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("bin", "bin/backend", "bin/daemon", "bin/filter"):
            (root / sub).chmod(0o755)
        self.sims.mkdir(exist_ok=True)
        self.sims.chmod(0o755)
        (root / "bin/daemon/cups-exec").symlink_to(CUPS_EXEC)
        as_root = os.geteuid() == 0
        install_backend(root / "bin/backend", python=sys.executable, pythonpath=str(ROOT), as_root=as_root)
        if as_root:
            user, group, system_group = "lp", "lp", "root"
        else:
            user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            system_group = group
        (root / "etc/cups-files.conf").write_text(
            CUPS_FILES_CONF.format(user=user, group=group, system_group=system_group, root=root, data_dir=DATA_DIR)
        )
        (root / "etc/cupsd.conf").write_text(
            CUPSD_CONF.format(socket=self.socket, kill_delay=self.kill_delay, extra=self.extra_conf)
        )

    def start(self) -> None:
        import cups

        argv = [
            _tool("cupsd"),
            "-f",
            "-c",
            str(self.root / "etc/cupsd.conf"),
            "-s",
            str(self.root / "etc/cups-files.conf"),
        ]
        output = (self.root / "log/cupsd.out").open("ab")
        with output:
            self.process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"cupsd exited with status {self.process.returncode}:\n{self.log()}")
            if os.path.exists(self.socket):
                try:
                    cups.Connection(host=self.socket).getPrinters()
                    return
                except (RuntimeError, cups.IPPError):
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"cupsd did not answer on {self.socket} within {START_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL after STOP_TIMEOUT)."""
        process, self.process = self.process, None
        stop_process(process, STOP_TIMEOUT)

    def wait_backends(self, timeout: float = 30.0) -> None:
        """Wait until no backend holds a simulator: cupsd does not wait for a backend finishing a card."""
        deadline = time.monotonic() + timeout
        for lock_file in self.sims.glob("*.json.lock"):
            lock = StateLock(lock_file.with_suffix(""))
            while lock.held_elsewhere() and time.monotonic() < deadline:
                time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def connection(self) -> Any:
        import cups

        return cups.Connection(host=self.socket)

    def lpadmin(self, *args: str) -> str:
        done = subprocess.run(
            [_tool("lpadmin"), "-h", self.socket, *args], capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"lpadmin {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stderr

    def add_queue(
        self,
        name: str,
        *,
        cards: int = 50,
        faults: str | None = None,
        seconds_per_card: float = 0.0,
        ribbon: str = "kb",
        encoder: bool = True,
        options: tuple[str, ...] = (),
        enabled: bool = True,
    ) -> SimQueue:
        """A raw queue to a fresh simulated printer (its state file is created by the first job)."""
        state_file = self.sims / f"{name}.json"
        query: dict[str, str] = {"cards": str(cards), "ribbon": ribbon, "seconds_per_card": str(seconds_per_card)}
        if faults:
            query["faults"] = faults
        if not encoder:
            query["encoder"] = "0"
        uri = f"printdsim://{quote(str(state_file))}?{urlencode(query, quote_via=quote)}"
        enable = ["-E"] if enabled else []
        self.lpadmin(
            "-p", name, "-v", uri, "-D", "Evolis Primacy (simulated)", "-o", "printer-error-policy=abort-job",
            *options, *enable,
        )  # fmt: skip
        self.queues.append(name)
        return SimQueue(name, state_file, uri, self)

    def log(self, lines: int = 60) -> str:
        text = ""
        for name in ("cupsd.out", "error_log"):
            path = self.root / "log" / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text


@contextlib.contextmanager
def private_cupsd(**options: Any) -> Iterator[PrivateCupsd]:
    """A private cupsd, started; stopped and removed when the block ends."""
    root = Path(tempfile.mkdtemp(prefix="printd-cupsd-"))
    server = PrivateCupsd(root, **options)
    try:
        server.prepare()
        server.start()
        yield server
    finally:
        server.stop()
        server.wait_backends()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cupsd() -> Iterator[PrivateCupsd]:
    """One private scheduler for the session's CUPS tests."""
    require_cups()
    with private_cupsd() as server:
        yield server
