"""Test fixture: a private pcscd (own socket, own reader configuration) with vsmartcard vpcd readers on free ports."""

# pcscd 1.9.9 ignores PCSCLITE_CSOCK_NAME for its own socket, so it is started socket-activated:
# `systemd-socket-activate -l SOCKET pcscd -f -c CONF_DIR` binds SOCKET and execs pcscd (same pid) at the first
# connection, handing it the socket; `start` makes that first connection, then waits for every vpcd port to
# listen. A client reaches it with PCSCLITE_CSOCK_NAME=SOCKET in its environment; libpcsclite reads that once
# per process, so a process talks to one pcscd only (the `pcsc_stack` fixture sets it for the test process and
# every process it starts). `stop` then `start` again serves the same socket path, as pcscd down and back.
#
# Each vpcd reader (one reader.conf entry) has two slots: PC/SC names "NAME 00 00" on TCP port P and
# "NAME 00 01" on P+1 (vpcd listens on every interface, on both). The harness uses slot 0 and keeps P+1 free
# for slot 1. A card connects to the port; pcscd sees it at its next poll of the slot (about 0.4 s).
# vpcd keeps its connections in a global array indexed by slot number only, and pcscd loads a driver file once,
# so two readers on the same libifdvpcd.so share "slot 0": a card on one shows in every reader. Each reader
# therefore gets its own copy of the driver file (a different file is a separate dlopen, with its own globals).
#
# pcscd still writes /run/pcscd/pcscd.pid (each pcscd its own pid, the last started wins) and removes it when it
# exits, whichever pcscd wrote it. Nothing a socket-activated pcscd or a client does reads it (only
# `pcscd --hotplug` and the start-up check of a pcscd that is not socket-activated), so private pcscds run side by
# side (pytest-xdist workers each start their own) and beside the system's, whose pid file may vanish meanwhile.
#
# Under CI=true a missing pcscd, vpcd driver, systemd-socket-activate or pyscard fails the tests that need them;
# elsewhere they are skipped, with the reason.

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.components import require_component, stop_process

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
READER_NAMES = tuple(f"Evolis Primacy contactless {letter}" for letter in "ABCD")

READER_CONF = """\
FRIENDLYNAME "{name}"
DEVICENAME   /dev/null:0x{port:04X}
LIBPATH      {driver}
CHANNELID    0x{port:04X}
"""


def missing() -> str | None:
    """Why a private pcscd with vpcd readers cannot run here, or None."""
    for tool, package in (("pcscd", "pcscd"), ("systemd-socket-activate", "systemd")):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            return f"{tool} is not installed (Debian: apt-get install {package})"
    if not VPCD_DRIVER.exists():
        return f"{VPCD_DRIVER} is missing (Debian: apt-get install vsmartcard-vpcd)"
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        return "pyscard is not installed (pip install pyscard; it builds with swig and libpcsclite-dev)"
    return None


def require_pcscd() -> None:
    """Fail under CI=true, skip elsewhere, when pcscd, the vpcd driver, systemd-socket-activate or pyscard is
    missing."""
    require_component("a private pcscd with vpcd readers", missing())


def _tool(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert path is not None, name
    return path


@dataclass(frozen=True)
class VirtualReader:
    """One vpcd reader: ``name`` as configured, ``pcsc_name`` as PC/SC lists it (slot 0), ``port`` where a card
    connects (localhost)."""

    name: str
    port: int

    @property
    def pcsc_name(self) -> str:
        return f"{self.name} 00 00"

    @property
    def field_url(self) -> str:
        """What make_sim_printer(field=...) takes to put cards in this reader."""
        return f"vpcd://127.0.0.1:{self.port}"


@dataclass
class PrivatePcscd:
    """A pcscd of its own under ``root``, serving ``readers``."""

    root: Path
    readers: list[VirtualReader] = field(default_factory=list)
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> str:
        return str(self.root / "pcscd.comm")

    @property
    def env(self) -> dict[str, str]:
        """The environment a client process needs to reach this pcscd."""
        return {"PCSCLITE_CSOCK_NAME": self.socket}

    @property
    def log_path(self) -> Path:
        return self.root / "pcscd.log"

    def reader(self, pcsc_name: str) -> VirtualReader:
        return next(r for r in self.readers if r.pcsc_name == pcsc_name)

    def prepare(self, count: int, names: tuple[str, ...] = READER_NAMES) -> None:
        """Configure ``count`` vpcd readers, each on a free pair of ports."""
        conf = self.root / "reader.conf.d"
        conf.mkdir(parents=True, exist_ok=True)
        taken: set[int] = set()
        for i in range(count):
            name = names[i] if i < len(names) else f"Evolis Primacy contactless {i + 1}"
            port = _free_port_pair(taken)
            taken.update((port, port + 1))
            driver = self.root / f"libifdvpcd-{i}.so"
            shutil.copyfile(VPCD_DRIVER, driver)
            (conf / f"reader-{i}").write_text(READER_CONF.format(name=name, port=port, driver=driver))
            self.readers.append(VirtualReader(name, port))

    def start(self) -> None:
        """Start pcscd and return once every reader's port listens."""
        if self.running:
            return
        Path(self.socket).unlink(missing_ok=True)
        argv = [
            _tool("systemd-socket-activate"),
            "-l",
            self.socket,
            _tool("pcscd"),
            "-f",
            "-c",
            str(self.root / "reader.conf.d"),
            *self.extra_args,
        ]
        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        activated = False
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pcscd exited with status {self.process.returncode}:\n{self.log()}")
            if not activated and os.path.exists(self.socket):
                with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(self.socket)  # the first connection execs pcscd
                    activated = True
            if activated and all(_listening(r.port) for r in self.readers):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pcscd's vpcd readers did not listen within {START_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.02)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL after STOP_TIMEOUT). Cards in its readers see the link close."""
        process, self.process = self.process, None
        stop_process(process, STOP_TIMEOUT)

    def log(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def private_pcscd(readers: int = 2) -> Iterator[PrivatePcscd]:
    """A private pcscd with ``readers`` vpcd readers, started; stopped and removed when the block ends."""
    root = Path(tempfile.mkdtemp(prefix="printd-pcscd-"))
    server = PrivatePcscd(root, extra_args=("-d",) if os.environ.get("PCSCD_DEBUG") else ())
    try:
        server.prepare(readers)
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _free_port_pair(taken: set[int]) -> int:
    """A port P such that P and P+1 are free now (vpcd binds both on every interface)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("0.0.0.0", 0))
            port = int(probe.getsockname()[1])
        if port >= 65535 or {port, port + 1} & taken:
            continue
        with socket.socket() as second:
            try:
                second.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of TCP ports for a vpcd reader")


def _listening(port: int) -> bool:
    """Whether something listens on TCP ``port`` (read from /proc, so no connection is made: a connection to a
    vpcd port would be a card)."""
    wanted = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as rows:
            for row in rows:
                fields = row.split()
                if len(fields) > 3 and fields[3] == "0A" and (fields[1] + " ").endswith(wanted):
                    return True
    return False


@pytest.fixture(scope="session")
def pcsc_stack() -> Iterator[PrivatePcscd]:
    """One private pcscd for the test process, with four vpcd readers; PCSCLITE_CSOCK_NAME points this process
    (and every process it starts) at it. libpcsclite reads the variable once, at the process's first PC/SC call:
    a test that reached another pcscd before this fixture ran leaves the process talking to that one."""
    require_pcscd()
    with private_pcscd(readers=4) as server:
        previous = os.environ.get("PCSCLITE_CSOCK_NAME")
        os.environ.update(server.env)
        try:
            yield server
        finally:
            if previous is None:
                os.environ.pop("PCSCLITE_CSOCK_NAME", None)
            else:
                os.environ["PCSCLITE_CSOCK_NAME"] = previous
