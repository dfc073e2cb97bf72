"""CupsDriver: the driver contract (drivers.base.Driver) over a CUPS queue, with pycups."""

# One card is one CUPS job on a raw queue (document: drivers/cups/document.py). The driver follows the job
# to its end and decides, by the one rule of the contract (does the outcome say whether a blank left the
# feeder?), with the backend's record first (drivers/cups/record.py: the printer's own account of the job,
# in the queue's marker-message) and CUPS's job state second:
#
# * The record names this job and a final outcome: that outcome, proven by the printer. This covers a job
#   canceled while its card was printing: the backend finishes the card and says what became of it.
# * No such record: completed with job-impressions-completed >= 1 -> PRINTED (the backend counted a good
#   card); ended, held or stopped before processing began (time-at-processing unset) -> NOT_FED, with the
#   queue's reason; anything else after processing began (aborted, canceled, held, back to pending because
#   the scheduler restarted mid-job, the scheduler lost) -> UNKNOWN. Never a guess.
# * A job that did not end by itself is canceled before the driver returns, so it can never print later
#   unaccounted: pending on a stopped queue (NOT_FED), back to pending or held after processing began, or
#   past ``job_timeout``. Cancel sends the backend SIGTERM; the driver then waits (``kill_wait``) for it to
#   finish the card in progress. Only then is the job purged, its spooled faces with it.
#
# Errors: the scheduler not reachable -> PrinterOfflineError; no such queue, access refused, queue rejecting
# jobs, queue stopped without a printer condition -> DriverError with a sentence saying what to do, from
# open() and status(). print_card never raises for them: nothing was submitted, so it returns NOT_FED with
# that sentence as detail (it raises DriverError only for a card face it cannot read, or a card the backend
# refused, nothing fed).
#
# Counters come from the backend's record only (see status()). With a backend that takes printer commands
# (``commands``; by default when the device URI's scheme is printdsim), open() runs a ReportStatus job so
# the counters and the printer's identity are fresh, and clear_errors() runs ClearErrors so the printer
# clears its error state and reports its conditions again: CUPS keeps the reasons a backend last reported
# until the next job runs, and a paused station runs no job.

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import cups
import structlog

from drivers import base
from drivers.base import (
    Card,
    CardResult,
    Counters,
    DriverError,
    Outcome,
    PrinterInfo,
    PrinterOfflineError,
    PrinterStatus,
    Reason,
)
from drivers.cups.device import SCHEME
from drivers.cups.document import CARD_FORMAT, COMMAND_FORMAT, Command, encode_card, encode_command
from drivers.cups.job import (
    JOB_ATTRIBUTES,
    JOB_COMPLETED,
    JOB_HELD,
    JOB_PROCESSING,
    JOB_STOPPED,
    STATE_NAMES,
    TERMINAL,
    CardJob,
)
from drivers.cups.status import (
    PRINTER_ATTRIBUTES,
    QUEUE_FORBIDDEN,
    QUEUE_MISSING,
    QUEUE_PAUSED,
    QUEUE_REJECTING,
    QueueView,
)
from drivers.evolis import panels

log = structlog.get_logger("drivers.cups.driver")

JOB_NAME = "printd card"
COMMAND_JOB_NAME = "printd command"
CHUNK = 65536
_HTTP_CONTINUE = 100
# IPP status codes (RFC 8011 and CUPS): not found, the access refusals, not accepting, service unavailable.
_NOT_FOUND = 0x0406
_REFUSED = frozenset({0x0401, 0x0402, 0x0403, 0x1000})
_NOT_ACCEPTING = 0x0506
_UNAVAILABLE = 0x0502


class CupsDriver:
    """A card printer behind the CUPS queue ``queue`` on ``server`` (a host or a Unix socket path; None:
    the client's default). Not thread-safe: one caller. ``connection_factory`` returns a
    pycups-compatible connection (tests); pycups has no types, so connections are typed Any."""

    def __init__(
        self,
        queue: str,
        *,
        server: str | None = None,
        poll_interval: float = 0.25,
        job_timeout: float = 300.0,
        reconnect_timeout: float = 30.0,
        kill_wait: float = 40.0,
        commands: bool | None = None,
        connection_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.queue = queue
        self.server = server
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.reconnect_timeout = reconnect_timeout
        self.kill_wait = kill_wait
        self.commands = commands
        self._factory = connection_factory or self._connect
        self._connection: Any = None

    # ------------------------------------------------------------------------------------- the contract

    def open(self) -> PrinterInfo:
        """Find the queue, cancel the driver's own jobs that never started (a previous run's), wait for one
        still printing, and refresh the printer's report when the backend takes commands."""
        view = self.view()
        self._tidy_queue()
        if self._takes_commands(view) and view.accepting and not view.stopped:
            self._run_command(Command.REPORT_STATUS)
            view = self.view()
        return view.printer_info()

    def close(self) -> None:
        self._connection = None

    def status(self) -> PrinterStatus:
        """The queue's state and reasons, and the counters of the backend's record. CUPS counts no cards
        itself (job-impressions-completed misses every spoiled blank), so a queue whose backend publishes no
        record raises DriverError rather than report a made-up counter that could settle a blank wrongly."""
        view = self.view()
        refusal = self.refusal(view)
        if refusal is not None and not view.conditions:
            raise refusal
        counters = view.counters()
        if counters is None:
            raise DriverError(
                f"CUPS queue {self.queue!r} reports no card counter: its backend publishes no printd record "
                "(marker-message). Resume the printer to run a status report, or use a printdsim queue: printd "
                "accounts for every blank from the printer's own counter"
            )
        return PrinterStatus(view.major_state, view.reasons, counters)

    def clear_errors(self) -> None:
        """Enable the queue and let it accept jobs; with a backend that takes commands, have the printer
        clear its error state and report its conditions again."""
        self._call(lambda c: c.enablePrinter(self.queue))
        self._call(lambda c: c.acceptJobs(self.queue))
        if self._takes_commands(self.view()):
            self._run_command(Command.CLEAR_ERRORS)

    def print_card(self, card: Card) -> CardResult:
        for face in (card.front, card.back):
            if face is not None:
                try:
                    panels.card_image(face)
                except panels.ImageError as exc:
                    raise DriverError(str(exc)) from None
        try:
            view = self.view()
        except DriverError as exc:
            return _not_fed(exc.reason or base.OFFLINE, str(exc), None, frozenset())
        before = view.counters()
        refusal = self.refusal(view)
        if refusal is not None:
            return _not_fed(refusal.reason or QUEUE_PAUSED, str(refusal), before, view.reasons)
        try:
            job_id, sent = self._submit(encode_card(card), JOB_NAME, CARD_FORMAT)
        except DriverError as exc:
            return _not_fed(exc.reason or base.OFFLINE, str(exc), before, view.reasons)
        log.debug("cups.job_submitted", queue=self.queue, job=job_id)
        return CardJob(self, job_id, before, cancel_unless_begun=not sent).follow()

    # --------------------------------------------------------------------------------------- internals

    def view(self) -> QueueView:
        attrs = self._call(lambda c: c.getPrinterAttributes(self.queue, requested_attributes=PRINTER_ATTRIBUTES))
        return QueueView.of(self.queue, attrs)

    def job(self, job_id: int) -> dict[str, Any]:
        attrs: dict[str, Any] = self._call(lambda c: c.getJobAttributes(job_id, requested_attributes=JOB_ATTRIBUTES))
        return attrs

    def cancel(self, job_id: int, *, purge: bool = False) -> None:
        """Cancel (or purge, once it has ended) a job; a job already gone or ended is left as it is."""
        try:
            self._call(lambda c: c.cancelJob(job_id, purge_job=purge))
        except PrinterOfflineError:
            raise
        except DriverError as exc:
            log.info("cups.cancel_refused", queue=self.queue, job=job_id, purge=purge, error=str(exc))

    def _connect(self) -> Any:
        return cups.Connection(host=self.server) if self.server else cups.Connection()

    def _call(self, call: Callable[[Any], Any]) -> Any:
        try:
            if self._connection is None:
                self._connection = self._factory()
            return call(self._connection)
        except (cups.IPPError, cups.HTTPError, RuntimeError) as exc:
            error = self._error(exc)
            if isinstance(error, PrinterOfflineError):
                self._connection = None
            raise error from None

    def _error(self, exc: Exception) -> DriverError:
        where = f"CUPS at {self.server}" if self.server else "the CUPS server"
        status, text = _status_of(exc)
        if status is None or status == _UNAVAILABLE:
            return PrinterOfflineError(
                f"{where} does not answer ({text}): start the scheduler (systemctl start cups) or correct the "
                "printer's CUPS server setting"
            )
        if status == _NOT_FOUND:
            return DriverError(
                f"{where} has no queue {self.queue!r} (or no such job): create it "
                f"(lpadmin -p {self.queue} -v <device URI> -E) or correct the printer's queue name",
                QUEUE_MISSING,
            )
        if status in _REFUSED or status in (401, 403):
            return DriverError(
                f"{where} refuses this user access to queue {self.queue!r} ({text}): allow the user in the "
                "queue's operation policy (printer-op-policy) or run printd as a user CUPS allows",
                QUEUE_FORBIDDEN,
            )
        if status == _NOT_ACCEPTING:
            return self._rejecting()
        return DriverError(f"{where} answered {text!r} (status {status:#06x}) for queue {self.queue!r}")

    def _rejecting(self) -> DriverError:
        return DriverError(
            f"CUPS queue {self.queue!r} is rejecting jobs: accept jobs again (cupsaccept {self.queue}) or "
            "resume the printer in printd",
            QUEUE_REJECTING,
        )

    def refusal(self, view: QueueView) -> DriverError | None:
        """Why no card may be submitted now, as the error to raise or report; None when the queue is ready."""
        if not view.accepting:
            return self._rejecting()
        if not view.stopped:
            return None
        said = f" ({view.message})" if view.message else ""
        if view.conditions:
            conditions = ", ".join(sorted(str(r) for r in view.conditions))
            return DriverError(
                f"CUPS stopped queue {self.queue!r}: the printer reports {conditions}{said}; fix the printer, "
                "then resume it in printd (or cupsenable it)",
                view.main_reason(),
            )
        return DriverError(
            f"CUPS queue {self.queue!r} is stopped{said}: enable it (cupsenable {self.queue}) or resume the "
            "printer in printd once it is ready",
            QUEUE_PAUSED,
        )

    def _takes_commands(self, view: QueueView) -> bool:
        if self.commands is not None:
            return self.commands
        return urlsplit(view.device_uri).scheme == SCHEME

    def _submit(self, data: bytes, name: str, document_format: str) -> tuple[int, bool]:
        """Create a job and send ``data``: (job id, whether the whole document reached CUPS). DriverError
        when no job was created."""
        job_id = int(self._call(lambda c: c.createJob(self.queue, name, {})))
        try:
            conn = self._connection
            if conn.startDocument(self.queue, job_id, name, document_format, 1) != _HTTP_CONTINUE:
                raise DriverError("CUPS did not take the document")
            for start in range(0, len(data), CHUNK):
                chunk = data[start : start + CHUNK]
                if conn.writeRequestData(chunk, len(chunk)) != _HTTP_CONTINUE:
                    raise DriverError("CUPS did not take the document")
            conn.finishDocument(self.queue)
        except (DriverError, cups.IPPError, cups.HTTPError, RuntimeError) as exc:
            log.warning("cups.document_not_sent", queue=self.queue, job=job_id, error=type(exc).__name__)
            self._connection = None
            return job_id, False
        return job_id, True

    def _run_command(self, command: Command) -> None:
        """Run a printer command job to its end (at most ``job_timeout``), then purge it."""
        job_id, sent = self._submit(encode_command(command), COMMAND_JOB_NAME, COMMAND_FORMAT)
        deadline = time.monotonic() + self.job_timeout
        canceled = not sent
        if canceled:
            self.cancel(job_id)
        while True:
            state = int(self.job(job_id).get("job-state", JOB_COMPLETED))
            if state in TERMINAL:
                break
            stuck = state != JOB_PROCESSING and self.view().stopped
            if not canceled and (stuck or state in (JOB_HELD, JOB_STOPPED) or time.monotonic() > deadline):
                self.cancel(job_id)
                canceled, deadline = True, time.monotonic() + self.kill_wait
            elif canceled and time.monotonic() > deadline:
                raise DriverError(f"CUPS job {job_id} ({command.value}) did not end; check the CUPS queue")
            time.sleep(self.poll_interval)
        self.cancel(job_id, purge=True)
        log.debug("cups.command_done", queue=self.queue, command=command.value, state=STATE_NAMES[state])

    def _tidy_queue(self) -> None:
        """The driver's jobs a previous run left on the queue: cancel those not printing (they must never
        print unaccounted), wait for one printing to end, and purge them all (their faces are personal data)."""
        names = (JOB_NAME, COMMAND_JOB_NAME)
        # The document's name, not job-name: CUPS hides job-name from other users by default (JobPrivateValues).
        wanted = ["job-id", "document-name-supplied", "job-state", "job-printer-uri"]
        for which in ("not-completed", "completed"):

            def listed(connection: Any, which: str = which) -> Any:
                return connection.getJobs(which_jobs=which, my_jobs=False, requested_attributes=wanted)

            jobs: dict[int, dict[str, Any]] = self._call(listed)
            for job_id, attrs in sorted(jobs.items()):
                uri = str(attrs.get("job-printer-uri", ""))
                if attrs.get("document-name-supplied") not in names or not uri.endswith(f"/{self.queue}"):
                    continue
                if attrs.get("job-state") == JOB_PROCESSING:
                    log.warning("cups.waiting_for_earlier_job", queue=self.queue, job=job_id)
                    self._wait_ended(job_id, self.job_timeout)
                elif attrs.get("job-state") not in TERMINAL:
                    log.warning("cups.canceling_earlier_job", queue=self.queue, job=job_id)
                    self.cancel(job_id)
                self.cancel(job_id, purge=True)

    def _wait_ended(self, job_id: int, timeout: float) -> None:
        """Wait for a job to end; cancel it after ``timeout``, and give up ``kill_wait`` later."""
        deadline, canceled = time.monotonic() + timeout, False
        while int(self.job(job_id).get("job-state", JOB_COMPLETED)) not in TERMINAL:
            if time.monotonic() > deadline:
                if canceled:
                    raise DriverError(f"CUPS job {job_id} did not end after it was canceled; check the CUPS queue")
                self.cancel(job_id)
                deadline, canceled = time.monotonic() + self.kill_wait, True
            time.sleep(self.poll_interval)


def _not_fed(reason: Reason, detail: str, before: Counters | None, reasons: frozenset[Reason]) -> CardResult:
    return CardResult(
        Outcome.NOT_FED,
        detail=detail,
        reason=reason,
        counters_before=before,
        counters_after=before,
        reasons_after=reasons,
    )


def _status_of(exc: Exception) -> tuple[int | None, str]:
    """The IPP or HTTP status in a pycups error (None: no connection at all) and its text."""
    args = getattr(exc, "args", ())
    if isinstance(exc, RuntimeError) or not args or not isinstance(args[0], int):
        return None, str(exc) or type(exc).__name__
    text = str(args[1]) if len(args) > 1 else f"HTTP status {args[0]}"
    return int(args[0]), text
