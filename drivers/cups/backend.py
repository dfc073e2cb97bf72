"""The simulated Evolis card printer as a CUPS backend (URI scheme printdsim): each job prints one card."""

# Installing. CUPS runs the executables in its backend directory (ServerBin/backend, /usr/lib/cups/backend on
# Debian), named by URI scheme, with a clean environment. The console script printd-cups-backend is this
# module's `main`:
#
#   ln -s "$(command -v printd-cups-backend)" /usr/lib/cups/backend/printdsim
#
# or a wrapper written by drivers.cups.install.install_backend (it runs `python -m drivers.cups.backend`). The
# file must be owned by root and not writable by group or others. Mode 0755 runs it as CUPS's User (lp): that
# user must then be able to run the Python it names and to write the state file's directory. Mode 0700 runs it
# as root (needed when the Python lives where lp cannot reach, e.g. under /root). Then a raw queue (no driver;
# printd's documents pass unchanged):
#
#   lpadmin -p card-1 -v 'printdsim:///var/lib/printd/sim/card-1.json?cards=500' -o printer-error-policy=abort-job -E
#
# (device URI: drivers/cups/device.py). The error policy matters only if the backend itself crashes: a crashed
# job is then aborted instead of printed again.
#
# Called with no arguments it lists its device. For a job CUPS calls it as
# `printdsim job-id user title copies options [file]`, the device URI in DEVICE_URI. The document (from the
# file, else stdin) is a card or a printer command (drivers/cups/document.py). The card is printed on the
# simulator's model by the real Evolis driver over the in-process link, with the printer's state loaded from
# and saved to the state file, under the state file's lock (drivers.sim.serve.StateLock): two jobs, or a job
# and a simulator served on a pty, never share the printer; a job waits while another process holds it.
#
# What it reports on stderr, the scheduler's channel (never the job's title, user or content):
#   PAGE: 1 1     after a good card (job-impressions-completed becomes 1)
#   STATE: -…/+…  the printer's conditions as printer-state-reasons: media-empty-error (feeder empty),
#                 cover-open-error, media-jam-error, marker-supply-empty-error (ribbon ended),
#                 reject-box-full-error, media-low-warning, marker-supply-low-warning, ...
#   ATTR: marker-names, marker-types=ribbonWax, marker-levels (% of ribbon left), marker-low-levels
#   ATTR: marker-message=<record>  the job's outcome and the printer's counters (drivers/cups/record.py),
#                 written when the job starts and again when it ends; CUPS keeps it across restarts
#   INFO:/ERROR:  one line for people
#
# Exit codes: one meaning each, so that CUPS's own job states already tell the outcomes apart:
#   0 OK      the card is good, in the output hopper: the job completes
#   5 CANCEL  a blank was used and is spoiled (in the reject box), or the document was refused with nothing
#             fed (the record says which): the job is canceled at the device, never printed again
#   4 STOP    no blank left the feeder, because of a printer condition (the record's reason): the queue
#             stops and the job goes back to pending (printd cancels it; CUPS would print it once enabled)
#   3 HOLD    the card's fate is unknown (e.g. the printer stopped answering mid-card): the job is held, for
#             an operator, and never printed again by CUPS
#   A command job exits 0; a broken device URI or state file exits 4 (the queue stops: fix the queue).
#
# SIGTERM (the job was canceled): before a blank is fed the backend stops at once; once a card is on its way
# it finishes that card, as a card cannot stop half-way, and the record says what became of it. A job the
# scheduler runs a second time (it restarts a job that was printing when it stopped) is recognised by its
# job-uuid in the journal (drivers/cups/journal.py) and never feeds another blank: it reports the first run's
# outcome, or unknown. A card that an interrupted job left inside goes to the reject box when the next job
# starts, as a printer clears its card path.

from __future__ import annotations

import dataclasses
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import IO, Any

import structlog

from drivers import base
from drivers.base import Card, CardResult, DriverError, PrinterInfo, PrinterStatus, Reason
from drivers.cups.device import SCHEME, Device
from drivers.cups.document import Command, CommandDocument, DocumentError, decode
from drivers.cups.journal import Journal
from drivers.cups.record import BackendRecord, RecordOutcome
from drivers.evolis.driver import EvolisDriver
from drivers.evolis.status import OTHER_ERROR
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.faults import FaultScriptError
from drivers.sim.serve import ServerLockedError, StateLock
from drivers.sim.state import StateError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_HOLD = 3
EXIT_STOP = 4
EXIT_CANCEL = 5
EXIT_OF = {
    RecordOutcome.PRINTED: EXIT_OK,
    RecordOutcome.SPOILED: EXIT_CANCEL,
    RecordOutcome.REFUSED: EXIT_CANCEL,
    RecordOutcome.NOT_FED: EXIT_STOP,
    RecordOutcome.UNKNOWN: EXIT_HOLD,
    RecordOutcome.NONE: EXIT_OK,
}
# A job that ran before with one of these outcomes (or none: it was interrupted) is never printed again.
MAY_HAVE_FED = frozenset({RecordOutcome.PRINTED, RecordOutcome.SPOILED, RecordOutcome.UNKNOWN})
DEVICE_LINE = f'direct {SCHEME} "Evolis Primacy (simulated)" "printd simulated card printer"'
USAGE = f"Usage: {SCHEME} job-id user title copies options [file]"

# The printer-state-reasons this backend owns: each is set while its condition holds and removed otherwise.
MANAGED_REASONS = frozenset(value for value in vars(base).values() if isinstance(value, Reason)) | {OTHER_ERROR}
LOCK_POLL = 0.1
_JOB_UUID = re.compile(r"(?:^|\s)job-uuid=(\S+)")


class Reporter:
    """Status lines for the scheduler. A scheduler that went away must not stop a card half-way: after a
    write error the lines go nowhere."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def line(self, prefix: str, text: str) -> None:
        try:
            self.stream.write(f"{prefix}: {' '.join(text.split())}\n")
            self.stream.flush()
        except (OSError, ValueError):
            self.stream = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
            sys.stderr = self.stream  # or the interpreter fails flushing the broken one at exit

    def info(self, text: str) -> None:
        self.line("INFO", text)

    def error(self, text: str) -> None:
        self.line("ERROR", text)

    def state(self, reasons: Iterable[Reason]) -> None:
        present = {str(r) for r in reasons}
        absent = sorted(str(r) for r in MANAGED_REASONS if str(r) not in present)
        if absent:
            self.line("STATE", "-" + ",".join(absent))
        if present:
            self.line("STATE", "+" + ",".join(sorted(present)))

    def attr(self, **values: str) -> None:
        self.line("ATTR", " ".join(f"{name.replace('_', '-')}='{value}'" for name, value in values.items()))


class _StatusLogger:
    """structlog's output as DEBUG lines for the scheduler's log (a backend's stdout goes nowhere)."""

    def __init__(self, out: Reporter) -> None:
        self.out = out

    def msg(self, message: str) -> None:
        self.out.line("DEBUG", message)

    debug = info = warning = warn = error = critical = exception = fatal = msg


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(DEVICE_LINE, flush=True)
        return EXIT_OK
    if len(args) not in (5, 6):
        print(USAGE, file=sys.stderr)
        return EXIT_FAILED
    out = Reporter(sys.stderr)
    _log_to(out)
    canceled = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: canceled.set())
    return BackendJob(args, os.environ.get("DEVICE_URI", ""), out, canceled).run()


class BackendJob:
    """One CUPS job: a card or a command, on the simulated printer named by the device URI."""

    def __init__(self, args: list[str], uri: str, out: Reporter, canceled: threading.Event) -> None:
        self.job_id = int(args[0]) if args[0].isdigit() else 0
        self.copies = args[3]
        found = _JOB_UUID.search(args[4])
        self.key = found.group(1) if found else f"job-{self.job_id}"
        self.file = args[5] if len(args) == 6 else None
        self.uri = uri
        self.out = out
        self.canceled = canceled
        self.handle: SimHandle | None = None
        self.info = PrinterInfo("", "", "")
        self.started = False

    def run(self) -> int:
        try:
            device = Device.from_uri(self.uri)
        except ValueError as exc:
            self.out.error(f"Bad device URI: {exc}")
            return EXIT_STOP
        lock = StateLock(device.state_file)
        if not self._acquire(lock):
            self.out.info("Job canceled before the printer was free; nothing was fed")
            return EXIT_CANCEL
        try:
            try:
                self.handle = make_sim_printer(
                    device.name,
                    cards=device.cards,
                    seconds_per_card=device.seconds_per_card,
                    spoil_rate=device.spoil_rate,
                    seed=device.seed,
                    faults=device.faults,
                    state_file=device.state_file,
                    ribbon=device.ribbon,
                    encoder=device.encoder,
                )
            except (StateError, FaultScriptError, ValueError, OSError) as exc:
                self.out.error(f"The simulated printer cannot be loaded: {exc}")
                return EXIT_STOP
            journal = Journal(device.state_file)
            self._clear_card_path(self.handle, journal)
            # The in-process link answers as soon as write() returns, after the command's mechanical time:
            # a reply that has not come within reply_timeout never will, motion or not.
            timeout = device.reply_timeout
            options = {"reply_timeout": timeout, "motion_timeout": timeout, "quiet_timeout": 0.02, "confirm_delay": 0.0}
            driver = self.handle.driver(**options)
            self.info = driver.open()
            return self._job(driver, journal)
        except Exception as exc:  # a bug must not leave the scheduler guessing: a started card is in doubt
            self.out.error(f"Backend failure ({type(exc).__name__})")
            return EXIT_HOLD if self.started else EXIT_STOP
        finally:
            lock.release()

    # --- the job ---

    def _job(self, driver: EvolisDriver, journal: Journal) -> int:
        try:
            document = decode(self._read())
        except (DocumentError, OSError) as exc:
            return self._refuse(driver, f"{exc}")
        if isinstance(document, CommandDocument):
            return self._command(driver, document)
        if self.copies != "1":
            return self._refuse(driver, f"copies is {self.copies[:8]!r}: one job prints one card, copies must be 1")
        return self._card(driver, journal, document)

    def _card(self, driver: EvolisDriver, journal: Journal, card: Card) -> int:
        before = driver.status()
        earlier = journal.lookup(self.key)
        if earlier is not None and (earlier.record is None or earlier.record.outcome in MAY_HAVE_FED):
            return self._rerun(before, earlier.record, earlier.cards_fed)
        if self.canceled.is_set():
            self._finish(before, self._record(RecordOutcome.NOT_FED, before), "Job canceled; nothing was fed")
            return EXIT_CANCEL
        self.started = True
        journal.started(self.key, self.job_id, before.counters.cards_fed)
        self._report(before, self._record(RecordOutcome.STARTED, before, fed_before=before.counters.cards_fed))
        self.out.info("Printing a card")
        try:
            result = driver.print_card(card)
        except DriverError as exc:  # raised only before anything reached the printer
            record = self._record(RecordOutcome.REFUSED, before)
            journal.finished(self.key, record)
            return self._finish(before, record, f"Document refused, nothing fed: {exc}")
        after = driver.status()
        record = self._result_record(result, after)
        journal.finished(self.key, record)
        return self._finish(after, record, _message(result))

    def _rerun(self, status: PrinterStatus, earlier: BackendRecord | None, fed_before: int | None) -> int:
        """The scheduler runs a job a second time after its first run may have fed a blank: report what the
        first run did, never feed again."""
        if earlier is not None:
            record = dataclasses.replace(earlier, job=self.job_id)
            text = f"This job already ran on the printer (outcome: {earlier.outcome}); it is not printed again"
        else:
            record = self._record(RecordOutcome.UNKNOWN, status, fed_before=fed_before)
            text = "This job was interrupted while printing; it is not printed again: check the printer"
        return self._finish(status, record, text)

    def _command(self, driver: EvolisDriver, document: CommandDocument) -> int:
        if Command.CLEAR_ERRORS in document.commands:
            driver.clear_errors()
        status = driver.status()
        return self._finish(status, self._record(RecordOutcome.NONE, status), "Printer status reported")

    def _refuse(self, driver: EvolisDriver, why: str) -> int:
        status = driver.status()
        return self._finish(status, self._record(RecordOutcome.REFUSED, status), f"Document refused: {why}")

    def _finish(self, status: PrinterStatus, record: BackendRecord, message: str) -> int:
        self._report(status, record)
        if record.outcome is RecordOutcome.PRINTED:
            self.out.line("PAGE", "1 1")
        if record.outcome in (RecordOutcome.PRINTED, RecordOutcome.NONE):
            self.out.info(message)
        else:
            self.out.error(message)
        return EXIT_OF[record.outcome]

    # --- records and reports ---

    def _record(self, outcome: RecordOutcome, status: PrinterStatus, **fields: Any) -> BackendRecord:
        counters = status.counters
        info = self.info
        return BackendRecord(
            job=self.job_id,
            outcome=outcome,
            fed=counters.cards_fed,
            rejected=counters.cards_rejected,
            panels=counters.panels_printed,
            ribbon=counters.ribbon_remaining,
            serial=info.serial_number or None,
            model=info.model or None,
            firmware=info.firmware or None,
            **fields,
        )

    def _result_record(self, result: CardResult, after: PrinterStatus) -> BackendRecord:
        return self._record(
            RecordOutcome(result.outcome.value),
            after,
            category=None if result.category is None else result.category.value,
            reason=None if result.reason is None else str(result.reason),
            chip=result.chip_uid,
            fed_before=None if result.counters_before is None else result.counters_before.cards_fed,
        )

    def _report(self, status: PrinterStatus, record: BackendRecord) -> None:
        self.out.state(status.reasons)
        capacity = self.handle.model.ribbon_cards if self.handle is not None else 0
        left = status.counters.ribbon_remaining
        if capacity > 0 and left is not None:
            low = self.handle.model.ribbon_low if self.handle is not None else 0
            self.out.attr(
                marker_colors="none",
                marker_names="Ribbon",
                marker_types="ribbonWax",
                marker_levels=str(max(0, min(100, round(100 * left / capacity)))),
                marker_low_levels=str(min(100, math.ceil(100 * low / capacity))),
                marker_high_levels="100",
            )
        self.out.attr(marker_message=record.format())

    # --- around the job ---

    def _acquire(self, lock: StateLock) -> bool:
        """Take the printer, waiting while another process has it; False if the job is canceled meanwhile."""
        waiting = False
        while not self.canceled.is_set():
            try:
                lock.acquire()
                return True
            except ServerLockedError:
                if not waiting:
                    self.out.info("Waiting for the simulated printer: another process is using it")
                    waiting = True
                time.sleep(LOCK_POLL)
        return False

    def _clear_card_path(self, handle: SimHandle, journal: Journal) -> None:
        if handle.model.card is not None:
            card = handle.model.reject()
            journal.leftover(card.index)
            self.out.info("A card left inside by an interrupted job went to the reject box")

    def _read(self) -> bytes:
        if self.file is not None:
            with open(self.file, "rb") as handle:
                return handle.read()
        return sys.stdin.buffer.read()


def _message(result: CardResult) -> str:
    detail = result.detail or "no detail"
    if result.outcome is base.Outcome.PRINTED:
        return "Card printed"
    if result.outcome is base.Outcome.SPOILED:
        category = result.category.value if result.category else "spoiled"
        return f"Card spoiled ({category}), now in the reject box: {detail}"
    if result.outcome is base.Outcome.NOT_FED:
        return f"No card fed ({result.reason or 'printer not ready'}): {detail}"
    return f"Card in doubt, check the output hopper and the reject box: {detail}"


def _log_to(out: Reporter) -> None:
    def render(_: object, level: str, event: structlog.typing.EventDict) -> str:
        return " ".join(f"{key}={value}" for key, value in {"level": level, **event}.items())

    structlog.configure(processors=[render], logger_factory=lambda *_: _StatusLogger(out))


if __name__ == "__main__":
    sys.exit(main())
