"""The printdsim CUPS backend run directly, as cupsd runs it: argv, DEVICE_URI, a clean environment, stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from drivers.base import Card
from drivers.cups.backend import DEVICE_LINE, EXIT_CANCEL, EXIT_HOLD, EXIT_OK, EXIT_STOP
from drivers.cups.document import Command, encode_card, encode_command
from drivers.cups.install import wrapper_script
from drivers.cups.journal import Journal
from drivers.cups.record import BackendRecord, RecordOutcome
from drivers.sim import make_sim_printer
from drivers.sim.model import PrinterModel
from drivers.sim.serve import StateLock
from drivers.sim.state import StateFile
from tests.conftest import card_png

ROOT = Path(__file__).resolve().parents[1]
RIBBON_ENDED = "marker-supply-empty-error"
CARD = encode_card(Card(front=card_png("FRONT"), back=card_png("BACK", (648, 1016)), chip_payload=b"payload"))


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def lines(self, prefix: str) -> list[str]:
        return [line[len(prefix) + 2 :] for line in self.stderr.splitlines() if line.startswith(prefix + ": ")]

    @property
    def record(self) -> BackendRecord:
        records = [BackendRecord.parse(text.split("=", 1)[1].strip("'")) for text in self.lines("ATTR")]
        found = [r for r in records if r is not None]
        assert found, self.stderr
        return found[-1]

    @property
    def reasons(self) -> tuple[set[str], set[str]]:
        """The reasons the last STATE lines set and cleared."""
        added: set[str] = set()
        removed: set[str] = set()
        for text in self.lines("STATE"):
            target = added if text.startswith("+") else removed
            target |= set(text[1:].split(","))
        return added, removed


def uri(state: Path, **query: object) -> str:
    query.setdefault("ribbon", "kb")
    query.setdefault("cards", 20)
    return f"printdsim://{quote(str(state))}?{urlencode({k: str(v) for k, v in query.items()}, quote_via=quote)}"


def backend(
    device: str,
    document: bytes | None = CARD,
    *,
    job: int = 1,
    copies: str = "1",
    uuid: str | None = None,
    tmp: Path | None = None,
) -> Run:
    """One job, as cupsd runs it: the document as a file argument, a clean environment."""
    args = [str(job), "root", "a title", copies, f"job-uuid={uuid or f'urn:uuid:test-{job}'} number-up=1"]
    if document is not None:
        assert tmp is not None
        path = tmp / f"d{job:05d}-001"
        path.write_bytes(document)
        args.append(str(path))
    env = {"DEVICE_URI": device, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "drivers.cups.backend", *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def model(state: Path) -> PrinterModel:
    """The printer as the backend left it in its state file."""
    printer = PrinterModel(json.loads(state.read_text())["serial"])
    StateFile(state).load(printer)
    return printer


def test_with_no_arguments_it_lists_its_device(tmp_path: Path) -> None:
    wrapper = tmp_path / "printdsim"
    wrapper.write_text(wrapper_script(sys.executable, str(ROOT)))
    wrapper.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(wrapper)], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, DEVICE_LINE)
    assert DEVICE_LINE == 'direct printdsim "Evolis Primacy (simulated)" "printd simulated card printer"'


def test_wrong_arguments_print_the_usage(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "drivers.cups.backend", "1", "root"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1 and "Usage: printdsim job-id user title copies options [file]" in done.stderr


def test_a_card_is_printed_and_reported(tmp_path: Path) -> None:
    state = tmp_path / "desk.json"
    run = backend(uri(state), tmp=tmp_path)
    assert run.code == EXIT_OK, run.stderr
    assert run.lines("PAGE") == ["1 1"]
    assert run.lines("INFO")[-1] == "Card printed"
    added, removed = run.reasons
    assert "media-empty-error" in removed and "cover-open-error" in removed and not added
    markers = [line for line in run.lines("ATTR") if "marker-levels" in line][-1]
    assert "marker-types='ribbonWax'" in markers and "marker-levels='100'" in markers
    printer = model(state)
    record = run.record
    assert record.outcome is RecordOutcome.PRINTED and record.job == 1
    assert (record.fed_before, record.fed, record.chip) == (0, 1, printer.hopper[0].chip_uid)
    assert record.serial == printer.serial and record.model == "Primacy"
    truth = printer.physical_truth()
    assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box) == (1, 1, 0)
    assert printer.hopper[0].sides_printed == ["front", "back"]
    assert [e["event"] for e in Journal(state).lines()] == ["started", "outcome"]
    for secret in ("a title", "root", "payload", "FRONT"):
        assert secret not in run.stderr


@pytest.mark.parametrize(
    ("faults", "code", "outcome", "reason", "category", "where"),
    [
        ("card 1: jam", EXIT_CANCEL, RecordOutcome.SPOILED, "media-jam-error", "print_failed", "reject"),
        ("card 1: print fails", EXIT_CANCEL, RecordOutcome.SPOILED, None, "print_failed", "reject"),
        ("card 1: ribbon ends", EXIT_CANCEL, RecordOutcome.SPOILED, RIBBON_ENDED, "print_failed", "reject"),
        ("card 1: encode fails", EXIT_CANCEL, RecordOutcome.SPOILED, None, "encode_failed", "reject"),
        ("card 1: cover opens", EXIT_STOP, RecordOutcome.NOT_FED, "cover-open-error", None, "feeder"),
        ("after 0: feeder empty", EXIT_STOP, RecordOutcome.NOT_FED, "media-empty-error", None, "feeder"),
        ("after 0: reject box full", EXIT_STOP, RecordOutcome.NOT_FED, "reject-box-full-error", None, "feeder"),
        ("card 1: no reply", EXIT_HOLD, RecordOutcome.UNKNOWN, None, None, "hopper"),
    ],
)
def test_each_fault_has_its_lines_and_exit_code(
    tmp_path: Path,
    faults: str,
    code: int,
    outcome: RecordOutcome,
    reason: str | None,
    category: str | None,
    where: str,
) -> None:
    state = tmp_path / "desk.json"
    run = backend(uri(state, faults=faults, reply_timeout=0.3), tmp=tmp_path)
    assert run.code == code, run.stderr
    record = run.record
    assert (record.outcome, record.category) == (outcome, category)
    if reason is not None:
        assert record.reason == reason
    assert not run.lines("PAGE")
    assert run.lines("ERROR"), run.stderr
    truth = model(state).physical_truth()
    placed = {"reject": truth.in_reject_box, "hopper": truth.in_hopper, "feeder": truth.in_feeder == 20}
    assert placed[where] == 1 and truth.balanced
    assert truth.cards_fed == (0 if where == "feeder" else 1) == record.fed
    if outcome is RecordOutcome.NOT_FED:
        assert reason in run.reasons[0]


def test_a_condition_left_after_a_spoiled_card_stays_set(tmp_path: Path) -> None:
    run = backend(uri(tmp_path / "desk.json", faults="card 1: ribbon ends"), tmp=tmp_path)
    assert run.code == EXIT_CANCEL and "marker-supply-empty-error" in run.reasons[0]


@pytest.mark.parametrize(
    ("document", "copies", "message"),
    [(b"%!PS-Adobe-3.0\n", "1", "not a printd card document"), (CARD, "2", "copies must be 1")],
)
def test_a_document_it_cannot_print_is_refused_without_feeding(
    tmp_path: Path, document: bytes, copies: str, message: str
) -> None:
    state = tmp_path / "desk.json"
    run = backend(uri(state), document, copies=copies, tmp=tmp_path)
    assert run.code == EXIT_CANCEL and run.record.outcome is RecordOutcome.REFUSED
    assert message in run.lines("ERROR")[-1]
    assert model(state).physical_truth().cards_fed == 0


def test_an_unreadable_face_is_refused_before_anything_moves(tmp_path: Path) -> None:
    state = tmp_path / "desk.json"
    run = backend(uri(state), encode_card(Card(front=b"not an image")), tmp=tmp_path)
    assert run.code == EXIT_CANCEL and run.record.outcome is RecordOutcome.REFUSED
    assert model(state).physical_truth().cards_fed == 0


def test_a_job_run_a_second_time_never_feeds_a_second_blank(tmp_path: Path) -> None:
    state = tmp_path / "desk.json"
    first = backend(uri(state), tmp=tmp_path, uuid="urn:uuid:same")
    again = backend(uri(state), tmp=tmp_path, uuid="urn:uuid:same")
    assert first.code == again.code == EXIT_OK
    assert again.record.outcome is RecordOutcome.PRINTED and again.lines("PAGE") == ["1 1"]
    assert "already ran" in again.lines("INFO")[-1]
    assert model(state).physical_truth().cards_fed == 1


def test_an_interrupted_job_run_again_is_in_doubt_and_its_card_goes_to_the_reject_box(tmp_path: Path) -> None:
    state = tmp_path / "desk.json"
    printer = make_sim_printer("desk", cards=20, seconds_per_card=0, state_file=state)
    printer.model.feed()  # the first run fed a card, then died
    Journal(state).started("urn:uuid:cut", 7, 0)
    run = backend(uri(state), tmp=tmp_path, job=7, uuid="urn:uuid:cut")
    assert run.code == EXIT_HOLD and run.record.outcome is RecordOutcome.UNKNOWN
    assert "reject box" in " ".join(run.lines("INFO"))
    truth = model(state).physical_truth()
    assert (truth.cards_fed, truth.in_printer, truth.in_reject_box) == (1, 0, 1)
    assert [e["event"] for e in Journal(state).lines()] == ["started", "leftover"]


def test_a_job_not_fed_before_may_print_when_run_again(tmp_path: Path) -> None:
    state = tmp_path / "desk.json"
    assert backend(uri(state, faults="after 0: feeder empty"), tmp=tmp_path, uuid="urn:uuid:x").code == EXIT_STOP
    cleared = backend(uri(state), encode_command(Command.CLEAR_ERRORS), tmp=tmp_path, job=2)
    assert cleared.code == EXIT_OK and "media-empty-error" in cleared.reasons[1]
    assert backend(uri(state), tmp=tmp_path, uuid="urn:uuid:x").code == EXIT_OK


def test_report_status_publishes_identity_counters_and_conditions(tmp_path: Path) -> None:
    state = tmp_path / "desk.json"
    run = backend(uri(state, cards=0), encode_command(Command.REPORT_STATUS), tmp=tmp_path)
    assert run.code == EXIT_OK and run.record.outcome is RecordOutcome.NONE
    assert run.record.fed == 0 and run.record.serial == model(state).serial
    assert "media-empty-error" in run.reasons[0]


def test_a_broken_device_uri_stops_the_queue(tmp_path: Path) -> None:
    run = backend("printdsim://elsewhere/x.json", tmp=tmp_path)
    assert run.code == EXIT_STOP and "Bad device URI" in run.lines("ERROR")[0]


def test_it_waits_for_the_printer_and_stops_at_once_when_canceled_before_feeding(tmp_path: Path) -> None:
    state = tmp_path / "desk.json"
    lock = StateLock(state)
    lock.acquire()
    try:
        process = start(uri(state), tmp_path)
        wait_for(process, "Waiting for the simulated printer")
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == EXIT_CANCEL
    finally:
        lock.release()
    assert not state.exists()  # the printer was never even loaded


def test_a_card_on_its_way_is_finished_when_the_job_is_canceled(tmp_path: Path) -> None:
    state = tmp_path / "desk.json"
    process = start(uri(state, seconds_per_card=1.5), tmp_path)
    wait_for(process, "Printing a card")
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == EXIT_OK
    assert model(state).physical_truth().in_hopper == 1


def start(device: str, tmp: Path) -> subprocess.Popen[str]:
    path = tmp / "d00001-001"
    path.write_bytes(CARD)
    env = {"DEVICE_URI": device, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "drivers.cups.backend", "1", "root", "t", "1", "job-uuid=urn:uuid:s", str(path)]
    return subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)


def wait_for(process: subprocess.Popen[str], text: str, timeout: float = 20.0) -> None:
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if text in line:
            return
        assert line, f"the backend ended before printing {text!r}"
    raise AssertionError(f"no {text!r} within {timeout} s")
