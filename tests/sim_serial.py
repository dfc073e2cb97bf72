"""Test helpers: a simulated printer behind a pty, served by a thread in the test or by a real subprocess."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.sim import SimHandle
from drivers.sim.serve import LinkPrinter, PtyServer
from drivers.transports.serial import SerialTransport

START_TIMEOUT = 10.0


@contextmanager
def pty_server(printer: LinkPrinter) -> Iterator[PtyServer]:
    """``printer`` served on a pty by a thread; the pty ends (hangs up) when the server stops."""
    server = PtyServer(printer)

    def run() -> None:
        try:
            server.serve_forever()
        finally:
            server.close()

    thread = threading.Thread(target=run, name=f"pty-server {server.path}", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(5)
        assert not thread.is_alive(), "the pty server did not stop"


@contextmanager
def pty_sim_link(handle: SimHandle, options: str = "baudrate=115200") -> Iterator[SerialTransport]:
    """The serial transport to ``handle``'s printer, served on a pty by a thread in this process."""
    with pty_server(handle.printer) as server:
        transport = SerialTransport.from_url(f"serial://{server.path}?{options}")
        try:
            yield transport
        finally:
            transport.close()


@dataclass
class ServedSim:
    """``python -m drivers.sim serve --pty`` running in a subprocess."""

    process: subprocess.Popen[bytes]
    path: str
    state_file: Path
    stderr_file: Path

    def transport(self, options: str = "baudrate=115200") -> SerialTransport:
        return SerialTransport.from_url(f"serial://{self.path}?{options}")

    def state(self) -> dict[str, Any]:
        """The physical state the server last saved."""
        data: dict[str, Any] = json.loads(self.state_file.read_text(encoding="utf-8"))
        return data

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, and the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, whatever it was doing."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)

    @property
    def stderr(self) -> str:
        return self.stderr_file.read_text(encoding="utf-8", errors="replace")


def serve_argv(state_file: Path, name: str = "served", **options: Any) -> list[str]:
    """The command line of ``serve --pty``; ``options`` are its flags (``seconds_per_card=0`` ->
    ``--seconds-per-card 0``; True for a bare flag)."""
    argv = [sys.executable, "-m", "drivers.sim", "serve", "--pty", "--name", name, "--state-file", str(state_file)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return argv


@contextmanager
def served_sim(tmp_path: Path, *, state_file: Path | None = None, **options: Any) -> Iterator[ServedSim]:
    """Start ``python -m drivers.sim serve --pty`` (``options`` as in `serve_argv`, mechanical time 0 unless
    given) and wait for the pty path it prints; the server is stopped when the block ends."""
    state = state_file if state_file is not None else tmp_path / "sim-state.json"
    options.setdefault("seconds_per_card", 0)
    stderr_file = tmp_path / f"serve-{len(list(tmp_path.glob('serve-*.log')))}.log"
    with stderr_file.open("wb") as err:
        process = subprocess.Popen(serve_argv(state, **options), stdout=subprocess.PIPE, stderr=err)
    served = ServedSim(process, "", state, stderr_file)
    try:
        served.path = _first_line(process, stderr_file)
        yield served
    finally:
        served.kill()
        if process.stdout is not None:
            process.stdout.close()


def _first_line(process: subprocess.Popen[bytes], stderr_file: Path) -> str:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], START_TIMEOUT)
        chunk = os.read(fd, 256) if ready else b""
        if not chunk:
            process.kill()
            process.wait(5)
            raise RuntimeError(f"serve printed no path: {stderr_file.read_text(errors='replace')}")
        line += chunk
    return line.decode().strip()
