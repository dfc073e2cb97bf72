"""Test helper: a systemd container — a minimal Debian root (mmdebstrap) booted by systemd-nspawn — and commands
run inside it (nsenter into its namespaces), for testing the Debian package under a live systemd.

The container has the host's network (the package sources mmdebstrap used), no machined registration and no
host bus (--register=no --keep-unit); its systemd is PID 1 in its own PID, mount, UTS and IPC namespaces. Needs
root, systemd-nspawn (systemd-container) and mmdebstrap: `require_container_tools` fails under CI=true when one
is missing and skips otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.components import require_component, stop_process

BOOT_SECONDS = 120  # a few seconds alone; much more on a loaded 2-core machine
TIMED_OUT, KILLED_AFTER_TIMEOUT = 124, 137  # coreutils timeout's exit statuses
TOOLS = {"systemd-nspawn": "systemd-container", "mmdebstrap": "mmdebstrap", "nsenter": "util-linux"}


def require_container_tools() -> None:
    """Fails under CI=true (skips otherwise) unless this is root with systemd-nspawn, mmdebstrap and nsenter."""
    missing = [f"{tool} (Debian package {package})" for tool, package in TOOLS.items() if not shutil.which(tool)]
    problem = None
    if os.geteuid() != 0:
        problem = "the systemd container needs root (systemd-nspawn)"
    elif missing:
        problem = f"not installed: {', '.join(missing)}; make setup installs them"
    require_component("a systemd container", problem)


def make_root(root: Path, log: Path, suite: str = "bookworm") -> subprocess.Popen[bytes]:
    """Start mmdebstrap making a minimal Debian ``suite`` with systemd in ``root`` (a new directory), its package
    lists kept so apt can install into it as on a fresh system; the caller waits for it (it runs beside the package
    build)."""
    include = "systemd,systemd-sysv,dbus"
    with log.open("wb") as out:
        return subprocess.Popen(
            ["mmdebstrap", "--variant=minbase", "--skip=cleanup/apt/lists", f"--include={include}", suite, str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class Container:
    """One booted container on ``root``; ``run`` executes a command inside, as root or as a user."""

    def __init__(self, root: Path, name: str, console: Path) -> None:
        self.root = root
        self.name = name
        self.console = console
        self._nspawn: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self, *kernel_args: str) -> None:
        """Boot the container's systemd and wait until it has finished starting up."""
        with self.console.open("wb") as out:
            self._nspawn = subprocess.Popen(
                [
                    "systemd-nspawn",
                    "--register=no",
                    "--keep-unit",
                    "--quiet",
                    f"--directory={self.root}",
                    f"--machine={self.name}",
                    "--boot",
                    "--",
                    "systemd.firstboot=off",
                    *kernel_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            self._check_alive()
            if not self.leader:
                self.leader = self._container_init(self._nspawn.pid)
            elif self.run("systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded"):
                return
            time.sleep(0.2)
        raise AssertionError(f"the container did not finish booting in {BOOT_SECONDS} s:\n{self.console_text()}")

    def run(
        self,
        *argv: str,
        user: str | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the container (as ``user``, with that user's groups, when given), for at most
        ``timeout`` seconds."""
        self._check_alive()
        # nsenter forks the command into the container's PID namespace and killing nsenter would leave it running
        # there (an apt-get holding dpkg's lock for the next scenario): the command's own deadline is inside, by
        # coreutils' timeout, and the one out here only catches nsenter itself hanging.
        command = ["nsenter", f"--target={self.leader}", "--all", "--wd=/", "--"]
        command += ["timeout", "--kill-after=5", f"{timeout}s"]
        if user is not None:
            command += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--reset-env", "--"]
        variables = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **(env or {})}
        command += ["env", *(f"{key}={value}" for key, value in variables.items()), *argv]
        result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout + 15, check=False)
        if result.returncode in (TIMED_OUT, KILLED_AFTER_TIMEOUT):
            raise AssertionError(
                f"in the container, {' '.join(argv)} did not finish in {timeout} s and was stopped:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        if check and result.returncode != 0:
            raise AssertionError(
                f"in the container, {' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def path(self, inside: str) -> Path:
        """The host's path of ``inside`` (an absolute path in the container)."""
        return self.root / inside.lstrip("/")

    def poweroff(self, timeout: float = 60) -> None:
        """Shut the container down from inside; kill nspawn if it does not end in ``timeout`` seconds."""
        if self._nspawn is None or self._nspawn.poll() is not None:
            return
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self.run("systemctl", "poweroff", "--no-block", check=False, timeout=10)
        try:
            self._nspawn.wait(timeout)
        except subprocess.TimeoutExpired:
            # nspawn ends the container on SIGTERM (a clean halt), on SIGKILL of its session at once.
            stop_process(self._nspawn, 15)

    def console_text(self) -> str:
        return self.console.read_text(errors="replace")[-4000:] if self.console.exists() else ""

    def _check_alive(self) -> None:
        assert self._nspawn is not None, "boot() first"
        if self._nspawn.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited {self._nspawn.returncode}:\n{self.console_text()}")

    @staticmethod
    def _container_init(nspawn: int) -> int:
        """The container's PID 1 (its systemd), as this machine numbers it, once nspawn has started it; else 0.
        nspawn's first child is a short-lived helper in the host's PID namespace that starts the container's init
        and exits: entering that helper's namespaces would run commands outside the container, then fail."""
        for child in Path(f"/proc/{nspawn}/task/{nspawn}/children").read_text().split():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                status = Path(f"/proc/{child}/status").read_text()
                numbers = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
                if len(numbers) >= 2 and numbers[-1] == "1":
                    return int(child)
        return 0


@contextlib.contextmanager
def booted(root: Path, name: str, console: Path, *kernel_args: str) -> Iterator[Container]:
    """A booted container on ``root``, powered off and its root removed afterwards."""
    container = Container(root, name, console)
    try:
        container.boot(*kernel_args)
        yield container
    finally:
        container.poweroff()
        shutil.rmtree(root, ignore_errors=True)
