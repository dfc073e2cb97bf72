"""One card's CUPS job followed to its end, and its outcome settled (the rules: drivers/cups/driver.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import structlog

from drivers.base import CardResult, Counters, DriverError, Outcome, Reason, SpoilCategory
from drivers.cups.record import BackendRecord, RecordOutcome
from drivers.cups.status import HELD_JOB, QUEUE_MISSING, QUEUE_PAUSED, QueueView

if TYPE_CHECKING:
    from drivers.cups.driver import CupsDriver

log = structlog.get_logger("drivers.cups.job")

JOB_ATTRIBUTES = [
    "job-state",
    "job-impressions-completed",
    "job-printer-state-message",
    "time-at-processing",
]
# IPP job-state values (RFC 8011).
JOB_PENDING, JOB_HELD, JOB_PROCESSING, JOB_STOPPED, JOB_CANCELED, JOB_ABORTED, JOB_COMPLETED = range(3, 10)
TERMINAL = frozenset({JOB_CANCELED, JOB_ABORTED, JOB_COMPLETED})
STATE_NAMES = {
    JOB_PENDING: "pending",
    JOB_HELD: "held",
    JOB_PROCESSING: "processing",
    JOB_STOPPED: "stopped",
    JOB_CANCELED: "canceled",
    JOB_ABORTED: "aborted",
    JOB_COMPLETED: "completed",
}


class CardJob:
    """One card's CUPS job, followed to its end; the fields say what was seen."""

    def __init__(self, driver: CupsDriver, job_id: int, before: Counters | None, *, cancel_unless_begun: bool):
        self.d = driver
        self.job_id = job_id
        self.before = before
        self.cancel_unless_begun = cancel_unless_begun
        self.began = False
        self.lost = False
        self.canceled_at: float | None = None
        self.why_canceled: tuple[Reason | None, str] | None = None
        self.deadline = time.monotonic() + driver.job_timeout

    def follow(self) -> CardResult:
        lost_since: float | None = None
        while True:
            try:
                job = self.d.job(self.job_id)
                view = self.d.view()
            except DriverError as exc:
                if exc.reason == QUEUE_MISSING:  # the job or the queue was deleted behind the driver's back
                    return self._unknown(f"CUPS job {self.job_id} can no longer be followed ({exc})")
                self.lost = True  # the scheduler went away, or is restarting
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > self.d.reconnect_timeout:
                    return self._unknown(f"lost the CUPS scheduler while job {self.job_id} was under way ({exc})")
                time.sleep(self.d.poll_interval)
                continue
            lost_since = None
            state = int(job.get("job-state", JOB_ABORTED))
            self.began = self.began or state == JOB_PROCESSING or bool(job.get("time-at-processing"))
            record = view.record if view.record is not None and view.record.job == self.job_id else None
            if state in TERMINAL:
                # A canceled job's backend may still be finishing its card (the printer stays processing):
                # its record is awaited, and the job is purged only once the backend is done.
                finishing = state != JOB_COMPLETED and view.processing
                if not finishing or self._past_kill_wait():
                    return self._settle(job, view, record if record is not None and record.outcome.final else None)
            elif record is not None and record.outcome.final:
                if state != JOB_PROCESSING:  # a STOP or HOLD left it pending or held: it must not print again
                    self._cancel()
            elif state != JOB_PROCESSING:
                self._not_going_on(state, view)
            if self.canceled_at is None and time.monotonic() > self.deadline:
                log.warning("cups.job_timeout", queue=self.d.queue, job=self.job_id)
                self._cancel((None, f"CUPS did not print job {self.job_id} within {self.d.job_timeout:g} s"))
            if self._past_kill_wait():
                return self._unknown(f"CUPS job {self.job_id} did not end after it was canceled")
            time.sleep(self.d.poll_interval)

    def _not_going_on(self, state: int, view: QueueView) -> None:
        """A job pending, held or stopped: cancel it unless it is only waiting its turn on a ready queue."""
        if self.began or self.lost or self.cancel_unless_begun:
            self._cancel()
        elif view.stopped or not view.accepting:
            refusal = self.d.refusal(view)
            reason = (refusal.reason if refusal is not None else None) or QUEUE_PAUSED
            self._cancel((reason, str(refusal) if refusal is not None else "the CUPS queue stopped"))
        elif state in (JOB_HELD, JOB_STOPPED):
            self._cancel((HELD_JOB, f"CUPS {STATE_NAMES[state]} job {self.job_id} before it was printed"))

    def _cancel(self, why: tuple[Reason | None, str] | None = None) -> None:
        if self.canceled_at is not None:
            return
        self.why_canceled = why
        self.canceled_at = time.monotonic()
        self.d.cancel(self.job_id)

    def _past_kill_wait(self) -> bool:
        return self.canceled_at is not None and time.monotonic() - self.canceled_at > self.d.kill_wait

    # --- outcomes ---

    def _settle(self, job: dict[str, Any], view: QueueView, record: BackendRecord | None) -> CardResult:
        self.d.cancel(self.job_id, purge=True)
        message = str(job.get("job-printer-state-message") or "")
        after = view.counters()
        if record is not None:
            return self._proven(record, message, view)
        state = int(job.get("job-state", JOB_ABORTED))
        if state == JOB_COMPLETED and int(job.get("job-impressions-completed") or 0) >= 1:
            return self._result(Outcome.PRINTED, "", None, after, view)
        if not self.began and not self.lost:
            reason, detail = self.why_canceled or (
                view.main_reason() or QUEUE_PAUSED,
                f"CUPS job {self.job_id} was {STATE_NAMES.get(state, state)} before it was printed",
            )
            return self._result(Outcome.NOT_FED, detail, reason, after, view)
        detail = (
            f"CUPS job {self.job_id} ended {STATE_NAMES.get(state, state)} after printing began and the printer "
            "left no record of the card; check the output hopper and the reject box"
        )
        return self._result(Outcome.UNKNOWN, _joined(detail, message), view.main_reason(), after, view)

    def _proven(self, record: BackendRecord, message: str, view: QueueView) -> CardResult:
        """The outcome the backend recorded for this job."""
        after = record.counters() or view.counters()
        reason = Reason.parse(record.reason) if record.reason else None
        if record.outcome is RecordOutcome.REFUSED:
            raise DriverError(f"the printer refused the card, nothing was fed: {message or 'no detail'}")
        if record.outcome is RecordOutcome.PRINTED:
            return self._result(Outcome.PRINTED, "", None, after, view, chip=record.chip)
        if record.outcome is RecordOutcome.SPOILED:
            try:
                category = SpoilCategory(record.category or "")
            except ValueError:
                category = SpoilCategory.PRINT_FAILED
            detail = message or "the printer sent the card to the reject box"
            return self._result(Outcome.SPOILED, detail, reason, after, view, category, record.chip)
        if record.outcome is RecordOutcome.NOT_FED:
            reason = reason or view.main_reason() or QUEUE_PAUSED
            return self._result(Outcome.NOT_FED, message or "the printer fed no card", reason, after, view)
        detail = message or "the printer cannot tell what became of the card; check the hopper and the reject box"
        return self._result(Outcome.UNKNOWN, detail, reason, after, view, chip=record.chip)

    def _unknown(self, detail: str) -> CardResult:
        log.warning("cups.card_unknown", queue=self.d.queue, job=self.job_id)
        return CardResult(Outcome.UNKNOWN, detail=detail, counters_before=self.before)

    def _result(
        self,
        outcome: Outcome,
        detail: str,
        reason: Reason | None,
        after: Counters | None,
        view: QueueView,
        category: SpoilCategory | None = None,
        chip: str | None = None,
    ) -> CardResult:
        log.debug("cups.card_settled", queue=self.d.queue, job=self.job_id, outcome=outcome.value)
        return CardResult(
            outcome,
            category=category,
            detail=detail,
            reason=reason,
            chip_uid=chip,
            counters_before=self.before,
            counters_after=after,
            reasons_after=view.reasons,
        )


def _joined(first: str, second: str) -> str:
    return f"{first} ({second})" if second else first
