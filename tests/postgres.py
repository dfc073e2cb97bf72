"""Test fixture: a throwaway PostgreSQL cluster (initdb into a temporary directory, a private Unix socket, no TCP).

The server refuses to run as root, so the cluster belongs to an unprivileged user: the Debian package's
``postgres``, or the current user when the tests do not run as root. Its data directory and socket directory are
under one temporary directory that user owns; ``listen_addresses`` is empty, so nothing listens on the network, and
local connections are trusted (the socket directory is 0700, reachable by that user and root alone). The machine's
own PostgreSQL (a running service, /var/lib/postgresql) is never read or written.

A cluster made with ``throwaway_cluster(tcp=True)`` also listens on 127.0.0.1 at a free port (``tcp_url``), for
tests that put something between printd and the server (a proxy that cuts the connection); loopback connections
are trusted too, and nothing listens beyond the machine.

Under CI=true a missing server, or psycopg, fails the tests that need them; elsewhere they are skipped, with the
reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.components import require_component

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # the newest server first
START_TIMEOUT = 30.0


def server_bin() -> Path | None:
    return next((d for d in BIN_DIRS if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


def missing() -> str | None:
    """Why a private cluster cannot run here, or None."""
    if server_bin() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql (Debian package postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no 'postgres' user to run the server as (Debian package postgresql creates it)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    return None


def require_postgres() -> None:
    """Fail under CI=true, skip elsewhere, when a private cluster cannot run."""
    require_component("a throwaway PostgreSQL cluster", missing())


@dataclass
class Cluster:
    directory: Path
    socket_dir: Path
    owner: str
    superuser: str = "printd_test"
    process: subprocess.Popen[bytes] | None = None
    tcp_port: int | None = None
    """Where the server also listens on 127.0.0.1; None: on its private socket only."""

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL reaching the cluster over its private socket."""
        port = "" if self.tcp_port is None else f"&port={self.tcp_port}"  # the socket's name carries the port
        return f"postgresql://{self.superuser}@/{database}?host={quote(str(self.socket_dir), safe='')}{port}"

    def tcp_url(self, database: str = "postgres") -> str:
        """A libpq URL reaching the cluster over TCP on 127.0.0.1 (a cluster made with ``tcp=True``)."""
        assert self.tcp_port is not None, "this cluster listens on its private socket only"
        return f"postgresql://{self.superuser}@127.0.0.1:{self.tcp_port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def fresh_database(self) -> str:
        """A new, empty database of the cluster (each store test gets its own)."""
        self._made = getattr(self, "_made", 0) + 1
        return self.create_database(f"printd_{os.getpid()}_{self._made}")

    def start(self) -> None:
        """Run the server as this process's child (through runuser when root), so a killed one is reaped here."""
        argv = [str(_bin("postgres")), "-D", str(self.data), "-k", str(self.socket_dir), "-c", "listen_addresses="]
        if self.tcp_port is not None:
            argv[-2:] = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.tcp_port)]
        log = (self.directory / "log").open("ab")
        self.process = subprocess.Popen(_owner_argv(self.owner, argv), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.directory / "log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the throwaway PostgreSQL did not start:\n{tail}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url(), connect_timeout=1).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self, mode: str = "fast") -> None:
        """Shut down (``fast``: SIGINT; ``immediate``: SIGQUIT) and wait for the server to exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal(signal.SIGINT if mode == "fast" else signal.SIGQUIT)
        self.process.wait(30)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would, and reap it."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(30)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError, IndexError):
            os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), sig)


def _bin(name: str) -> Path:
    found = server_bin()
    assert found is not None
    return found / name


def _owner_argv(owner: str, argv: list[str]) -> list[str]:
    """The command run as the cluster's owner (root may not run the server or its tools)."""
    return ["runuser", "-u", owner, "--", *argv] if os.geteuid() == 0 else argv


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster(*, tcp: bool = False) -> Iterator[Cluster]:
    """initdb a new cluster, start it, and remove it whole afterwards; ``tcp``: it also listens on 127.0.0.1."""
    owner = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    directory = Path(tempfile.mkdtemp(prefix="printd-pg-"))
    socket_dir = directory / "socket"
    socket_dir.mkdir(mode=0o700)
    if os.geteuid() == 0:
        uid, gid = pwd.getpwnam(owner).pw_uid, pwd.getpwnam(owner).pw_gid
        for path in (directory, socket_dir):
            os.chown(path, uid, gid)
    directory.chmod(0o700)
    cluster = Cluster(directory, socket_dir, owner, tcp_port=_free_port() if tcp else None)
    try:
        initdb = [str(_bin("initdb")), "-D", str(cluster.data), "-U", cluster.superuser, "--auth=trust", "-E", "UTF8"]
        made = subprocess.run(
            _owner_argv(owner, [*initdb, "--locale=C.UTF-8", "--no-instructions"]),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}{made.stderr}")
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    require_postgres()
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A cluster of the test module's own, also on TCP (127.0.0.1), for tests that stop, kill or cut the server:
    the session's cluster, which other modules share, is never disturbed."""
    require_postgres()
    with throwaway_cluster(tcp=True) as made:
        yield made


@pytest.fixture
def server(cluster: Cluster) -> Iterator[Cluster]:
    """The module's own cluster, running at the start of a test and again after it, whatever the test did to it."""
    _ensure_running(cluster)
    yield cluster
    _ensure_running(cluster)


def _ensure_running(cluster: Cluster) -> None:
    if cluster.process is None or cluster.process.poll() is not None:
        cluster.start()
