"""Image paths naming a pipe or a device, over the real daemon: refused at once, and the daemon keeps answering."""

from __future__ import annotations

import json
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from printd.control.client import ControlClient
from printd.errors import PrintdError
from tests import test_daemon
from tests.conftest import card_png
from tests.daemon_harness import DaemonProcess, wait_for

daemon = test_daemon.daemon  # the fixture: printd started with one simulated printer, killed afterwards

PROMPT = 10.0  # seconds: far more than a refusal takes, far less than a blocked worker would


def submit(daemon: DaemonProcess, ref: str, front: str) -> PrintdError:
    with ControlClient(daemon.socket, timeout=PROMPT) as client:
        try:
            client.call("jobs.submit", {"job": {"ref": ref, "front": front}})
        except PrintdError as exc:
            return exc
    raise AssertionError(f"{ref} was accepted")


def assert_not_regular(error: PrintdError) -> None:
    assert error.code == "job.image_unreadable" and "front image is not a regular file" in error.message


def answers_and_stops(daemon: DaemonProcess) -> None:
    with ControlClient(daemon.socket, timeout=PROMPT) as client:
        assert client.call("status", {})
    assert daemon.stop(timeout=30) == 0


def test_pipes_named_over_the_socket_are_refused_at_once(daemon: DaemonProcess, tmp_path: Path) -> None:
    pipe = tmp_path / "face.png"
    os.mkfifo(pipe)
    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:  # more than the daemon has worker threads
        errors = list(pool.map(lambda n: submit(daemon, f"PIPE-{n}", str(pipe)), range(8)))
    assert time.monotonic() - began < PROMPT
    for error in errors:
        assert_not_regular(error)
    answers_and_stops(daemon)


def place(spool: Path, name: str, job: dict[str, str]) -> None:
    (spool / f".{name}.tmp").write_text(json.dumps(job))
    (spool / f".{name}.tmp").rename(spool / name)


def test_a_spool_file_naming_a_pipe_does_not_stop_the_spool(daemon: DaemonProcess) -> None:
    spool = daemon.directory / "spool"
    os.mkfifo(spool / "pipe.png")
    place(spool, "pipe.json", {"ref": "S-PIPE", "front": "pipe.png"})
    wait_for((spool / "rejected" / "pipe.json").exists, 20, "the job file naming a pipe to be rejected")
    assert "front image is not a regular file" in (spool / "rejected" / "pipe.json.error.txt").read_text()
    (spool / "face.png").write_bytes(card_png())
    place(spool, "good.json", {"ref": "S-GOOD", "front": "face.png"})
    wait_for((spool / "done" / "good.json").exists, 20, "a later job file to be taken")
    with ControlClient(daemon.socket, timeout=PROMPT) as client:
        assert client.call("jobs.get", {"job": "S-GOOD"})["state"] == "queued"  # type: ignore[index]
    answers_and_stops(daemon)


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_a_device_is_refused_without_reading_it(daemon: DaemonProcess) -> None:
    assert daemon.process is not None
    pid = daemon.process.pid
    # Bound the daemon's address space, so that a read without end fails here rather than exhausting the machine.
    limit = (memory_kib(pid, "VmSize") << 10) + (1 << 30)
    resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
    with ControlClient(daemon.socket, timeout=PROMPT) as client:
        client.call("status", {})
    peak = memory_kib(pid, "VmHWM")
    assert_not_regular(submit(daemon, "ZERO-1", "/dev/zero"))
    assert memory_kib(pid, "VmHWM") - peak < 16 << 10  # KiB: nothing of the device was read
    answers_and_stops(daemon)
