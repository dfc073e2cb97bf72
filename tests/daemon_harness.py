"""Test helper: a real printd daemon in a subprocess, its config, its socket, and the sims' physical truth."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from drivers.sim import sim_serial
from drivers.sim.cards import PhysicalTruth
from drivers.sim.model import PrinterModel
from drivers.sim.state import StateFile
from printd.cli import main as printctl_main
from printd.control.client import ControlClient
from printd.store import Store
from printd.store.engines import open_store

ROOT = Path(__file__).resolve().parents[1]


def toml_value(value: object) -> str:
    return json.dumps(value)  # JSON strings, numbers, booleans and lists are valid TOML values


@dataclass
class SimSpec:
    name: str
    cards: int = 5000
    seconds_per_card: float = 0.0
    spoil_rate: float = 0.0
    seed: int = 0
    faults: list[str] = field(default_factory=list)
    ribbon: str = "kb"
    encoder: bool | str = True  # a str: a real encoder beside the simulated printer (pcsc://READER)
    field: str | None = None  # vpcd://HOST:PORT: the virtual reader each card at the contactless station goes into
    transport: str | None = None  # set: a real Evolis driver over this URL (e.g. a simulator served on a pty)
    encoder_url: str | None = None  # with transport: the chip encoder beside it (sim+unix:///PATH)
    cups_queue: str | None = None  # set: printed through this CUPS queue (on cups_server)
    cups_server: str | None = None


class ChildProcess:
    """A process of printd's (the daemon, printd-web) started by a test: its output appended to ``log_path``; stopped
    by SIGTERM as systemd stops it, or killed."""

    process: subprocess.Popen[bytes] | None
    log_path: Path
    STOP_SECONDS = 60.0

    def launch(self, python_args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``python PYTHON_ARGS`` from the checkout, unbuffered, its output in ``log_path``."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *python_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {}),
            )
        return self.process

    def stop(self, timeout: float | None = None) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(self.STOP_SECONDS if timeout is None else timeout)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@dataclass
class DaemonProcess(ChildProcess):
    directory: Path
    printers: list[SimSpec]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    station: str = "test-station"
    database_url: str | None = None
    """A PostgreSQL URL the station shares with others; None: a SQLite file of its own in ``directory``."""

    def __post_init__(self) -> None:
        self.log_path = self.directory / "printd.log"

    @property
    def socket(self) -> str:
        return str(self.directory / "printd.sock")

    @property
    def database(self) -> Path:
        return self.directory / "printd.db"

    @property
    def store_setting(self) -> str:
        """What ``[station] database`` says: the shared server's URL, or the station's own file."""
        return self.database_url or str(self.database)

    def state_file(self, name: str) -> Path:
        return self.directory / f"sim-{name}.json"

    def write_config(self, extra_station: dict[str, Any] | None = None) -> Path:
        station = {
            "name": self.station,
            "database": self.store_setting,
            "socket": self.socket,
            "spool": str(self.directory / "spool"),
            "low_stock_threshold": 100,
            "spool_poll_seconds": 0.2,
        } | (extra_station or {})
        lines = ["[station]"] + [f"{k} = {toml_value(v)}" for k, v in station.items()]
        for spec in self.printers:
            if spec.cups_queue is not None:
                lines += [
                    "[[printer]]",
                    f"name = {toml_value(spec.name)}",
                    'type = "cups"',
                    f"queue = {toml_value(spec.cups_queue)}",
                    f"server = {toml_value(spec.cups_server)}",
                    "job_timeout = 60.0",
                ]
                continue
            if spec.transport is not None:
                lines += [
                    "[[printer]]",
                    f"name = {toml_value(spec.name)}",
                    'type = "evolis"',
                    f"transport = {toml_value(spec.transport)}",
                    f"ribbon = {toml_value(spec.ribbon)}",
                    "reply_timeout = 2.0",
                    "motion_timeout = 10.0",
                ]
                if spec.encoder_url is not None:
                    lines.append(f"encoder = {toml_value(spec.encoder_url)}")
                continue
            lines += [
                "[[printer]]",
                f"name = {toml_value(spec.name)}",
                'type = "sim"',
                f"cards = {spec.cards}",
                f"seconds_per_card = {spec.seconds_per_card}",
                f"spoil_rate = {spec.spoil_rate}",
                f"seed = {spec.seed}",
                f"faults = {toml_value(spec.faults)}",
                f"ribbon = {toml_value(spec.ribbon)}",
                f"encoder = {toml_value(spec.encoder)}",
                f"state_file = {toml_value(str(self.state_file(spec.name)))}",
            ]
            if spec.field is not None:
                lines.append(f"field = {toml_value(spec.field)}")
        path = self.directory / "printd.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, extra_station: dict[str, Any] | None = None) -> None:
        """Start printd and wait until its socket takes connections."""
        process = self.spawn(extra_station)
        deadline = time.monotonic() + 30
        while not listening(self.socket):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"printd did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def spawn(self, extra_station: dict[str, Any] | None = None) -> subprocess.Popen[bytes]:
        """Start printd and return at once, without waiting for its socket (a stale one may be left by a kill)."""
        config = self.write_config(extra_station)
        return self.launch(["-m", "printd.daemon", "run", "--config", str(config)])

    def client(self) -> ControlClient:
        return ControlClient(self.socket, timeout=60)

    def physical_truth(self, name: str) -> tuple[PhysicalTruth, PrinterModel]:
        model = PrinterModel(sim_serial(name))
        StateFile(self.state_file(name)).load(model)
        return model.physical_truth(), model

    def open_store(self) -> Store:
        """The store the daemon uses, opened as this station (close it before the daemon starts again)."""
        return open_store(self.store_setting, station=self.station)


def listening(path: str) -> bool:
    """Whether a Unix socket at ``path`` takes connections: its file appears at bind(), a moment before listen()."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Printctl:
    """printctl as staff run it, every word it prints kept for the final check."""

    def __init__(self, socket: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.socket = socket
        self.capsys = capsys
        self.seen: list[str] = []

    def run(self, *argv: str, expect: int = 0) -> tuple[str, str]:
        try:
            code = printctl_main(["--socket", self.socket, *argv])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        self.seen += [out, err]
        assert code == expect, (argv, code, out, err)
        return out, err

    def __call__(self, *argv: str, expect: int = 0) -> str:
        return "".join(self.run(*argv, expect=expect))

    def json(self, *argv: str, expect: int = 0) -> Any:
        return msgspec.json.decode(self.run("--json", *argv, expect=expect)[0])


def settled(ctl: Printctl, ref: str, *states: str) -> None:
    wait_for(lambda: ctl.json("job", ref)["state"] in states, 30, f"{ref} to be {' or '.join(states)}")
