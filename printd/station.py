"""The station: one worker thread per printer, all on one queue, each card under the write-ahead rule.

Per card, in the printer's own thread:
1. ``status()``: the printer must be able to print; its counters are read.
2. ``claim_next`` commits the claim and the attempt with those counters (write-ahead) before any feed.
3. ``print_card``; 4. ``settle_attempt`` commits outcome, ledger event and job transition together.
A printer condition (feeder empty, cover open, jam...) pauses the printer until an operator resumes it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from drivers.base import (
    ENCODER_UNAVAILABLE,
    Card,
    CardInsideSensing,
    CardResult,
    Counters,
    DriverError,
    MajorState,
    Outcome,
    PrinterInfo,
    PrinterOfflineError,
    PrinterStatus,
)
from printd.card_metrics import CardMetrics
from printd.errors import PrintdError
from printd.jobs import JobState
from printd.ledger import Balance, Reconciliation
from printd.logging import get_logger
from printd.printers import BuiltPrinter
from printd.store import Attempt, Claim, JobRecord, Store
from printd.store.health import StorageUnavailableError
from printd.store.overview import Overview

log = get_logger("printd.station")

CardListener = Callable[[str, JobRecord, CardResult], None]


@dataclass
class PrinterView:
    """What the station knows of one printer, for status replies."""

    name: str
    state: str = MajorState.OFFLINE.value
    reasons: list[str] = field(default_factory=list)
    paused: bool = False
    pause_reason: str | None = None
    current_job: int | None = None
    current_ref: str | None = None  # the job's reference: what staff know it by
    card_started_at: float | None = None  # when the card in the printer was begun (epoch)
    counters: Counters | None = None
    info: PrinterInfo | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        counters = (
            self.counters.as_dict()
            if self.counters
            else dict.fromkeys(("cards_fed", "cards_rejected", "panels_printed", "ribbon_remaining"))
        )
        return {
            "name": self.name,
            "state": "paused" if self.paused and self.state != MajorState.OFFLINE else self.state,
            "printer_state": self.state,
            "reasons": list(self.reasons),
            "paused": self.paused,
            "pause_reason": self.pause_reason,
            "current_job": self.current_job,
            "current_ref": self.current_ref,
            "card_started_at": self.card_started_at,
            "counters": counters,
            "model": self.info.model if self.info else None,
            "serial_number": self.info.serial_number if self.info else None,
            "detail": self.detail,
        }


class PrinterWorker:
    """Drives one printer: every driver call for it happens in this worker's thread."""

    RETRY_FIRST_SECONDS = 1.0
    RETRY_MAX_SECONDS = 30.0
    REQUERY_SECONDS = 0.5  # before a status that would stop the printer is read again
    STORAGE_RECHECK_SECONDS = 1.0
    STOP_BOOKING_SECONDS = 15.0  # on stop, how long a held outcome is still offered to a failing database

    def __init__(self, station: Station, printer: BuiltPrinter, paused_reason: str | None) -> None:
        self.station = station
        self.store = station.store
        self.printer = printer
        self.name = printer.name
        self.view = PrinterView(printer.name, paused=paused_reason is not None, pause_reason=paused_reason)
        self.wake = threading.Event()
        self.retired = threading.Event()  # removed or changed by a reload: finish the card in hand, then end
        self.clear_requested = False
        self._opened = False
        self._settled = False
        self._pending: tuple[Claim, CardResult] | None = None
        self._retry = self.RETRY_FIRST_SECONDS
        self._reconcile_requests: list[tuple[str, Future[Reconciliation]]] = []
        self._requests_lock = threading.Lock()
        # Held from the last look at the pause flag to the claim's commit, and by Station.pause: once a pause
        # returns, no card is claimed on this printer until it is resumed. (Reentrant: booking a card may pause it.)
        self.claiming = threading.RLock()
        self._thread = threading.Thread(target=self._run, name=f"printer-{printer.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None) -> bool:
        if self._thread.ident is None:  # never started
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---- the loop -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not (self.station.stopping.is_set() or self.retired.is_set()):
            try:
                self._step()
            except Exception as exc:  # a bug must not kill the printer's thread; it shows in status
                log.exception("printer.loop_error", printer=self.name, error=type(exc).__name__)
                self.view.detail = f"internal error: {type(exc).__name__}; see the log"
                # Wait without booking a held outcome here: that booking may be what failed, and a second failure
                # must not end the thread; the next step offers it again.
                self.wake.wait(self.RETRY_FIRST_SECONDS)
                self.wake.clear()
        self._flush_pending()
        self._close()
        self._refuse_reconcile()

    def _step(self) -> None:
        try:
            status = self._printable_status()
            if status is None:  # no next card now: a good card still to be booked is booked on its own
                self._flush_pending()
                return
            if self.store.health.fault is not None:
                self._wait_for_storage()
                return
            with self.claiming:
                if self.view.paused:  # paused since its status was read: the next step books a held card
                    return
                claim = self._claim(status.counters)
            if claim is None and self.store.health.fault is not None:  # storage failed meanwhile: no claim
                self._wait_for_storage()
                return
            if claim is None:
                self._sleep(1.0)
                return
            self._print(claim)
        except StorageUnavailableError:  # a failed commit left nothing behind and fed nothing
            self._wait_for_storage()

    def _wait_for_storage(self) -> None:
        """The database cannot take a commit: claim nothing, book a held good card as soon as it can, and
        look again when storage recovers (or after a while, to keep the printer's status fresh)."""
        fault = self.store.health.fault
        if fault is not None:
            self.view.detail = f"not taking cards while printd cannot write its database ({fault.code})"
        if self.station.stopping.is_set():
            return
        self._flush_pending()
        self.store.health.wait_available(self.STORAGE_RECHECK_SECONDS)

    def _printable_status(self) -> PrinterStatus | None:
        """The printer's status if it can take a card now; otherwise None, after waiting or pausing.

        A status that would stop the printer is read again first, and only a condition that is still there
        stops it (printers report conditions that are not there: a Primacy reporting its ribbon ended while
        ribbon remains). Reconciliations asked for are answered here, between cards."""
        if not self._opened and not self._open():
            self._answer_reconcile(None)
            self._back_off()
            return None
        if self.clear_requested:
            self.clear_requested = False
            self._driver_call(self.printer.driver.clear_errors)
        status = self._status()
        if status is None:
            self._answer_reconcile(None)
            self._back_off()
            return None
        self._retry = self.RETRY_FIRST_SECONDS
        if not self._settled and not self._settle_interrupted(status.counters):
            self._answer_reconcile(None)
            self._back_off()
            return None
        self._answer_reconcile(status)
        if self.view.paused or self.station.stopping.is_set() or self.retired.is_set():
            self._sleep(1.0)
            return None
        if not status.can_print:
            first, status = status, self._requery()
            if status is None:
                self._back_off()
                return None
            if status.can_print:
                log.info("printer.spurious_status", printer=self.name, reasons=sorted(str(r) for r in first.errors))
            else:  # the card before is booked first: whoever sees the pause sees that card's outcome too
                self._flush_pending()
                self.station.pause(self.name, ", ".join(sorted(str(r) for r in status.errors)) or status.state.value)
                return None
        return status

    def _requery(self) -> PrinterStatus | None:
        """The status read again after `REQUERY_SECONDS` (None: the printer went away meanwhile)."""
        self.station.stopping.wait(self.REQUERY_SECONDS)
        return self._status()

    def _claim(self, counters: Counters) -> Claim | None:
        """Claim the next card; a good card still to be booked is settled in the same transaction."""
        if self._pending is None:
            return self.store.claim_next(self.name, counters)
        done, result = self._pending
        job, claim = self.store.settle_and_claim(done.attempt, result, counters)
        self._pending = None
        self.station.card_done(self.name, job, result)
        return claim

    def _print(self, claim: Claim) -> None:
        self.view.current_job, self.view.current_ref = claim.job.id, claim.job.ref
        self.view.card_started_at = time.time()
        self.view.state = MajorState.BUSY.value
        content = claim.content
        card = Card(front=content.front, back=content.back, chip_payload=content.chip)
        log.debug("job.printing", job=claim.job.id, printer=self.name, attempt=claim.attempt.number)
        unprintable = False
        started = time.monotonic()
        try:
            result = self.printer.driver.print_card(card)
        except PrinterOfflineError as exc:
            result = CardResult(Outcome.UNKNOWN, detail=f"the printer went offline mid-card: {exc}")
        except DriverError as exc:  # refused before anything reached the printer (e.g. an unusable image)
            log.error("job.unprintable", printer=self.name, job=claim.job.id, error=str(exc))
            result = CardResult(Outcome.NOT_FED, detail=f"the driver cannot print this job: {exc}")
            unprintable = True
        except Exception as exc:  # the contract says drivers return outcomes; if one raises, never guess
            log.exception("printer.driver_raised", printer=self.name, job=claim.job.id)
            result = CardResult(Outcome.UNKNOWN, detail=f"the driver failed mid-card ({type(exc).__name__})")
        self.station.metrics.card_cycle(self.name, time.monotonic() - started)
        self.view.current_job = self.view.current_ref = self.view.card_started_at = None
        if result.outcome is Outcome.PRINTED:
            # booked together with the next claim, after the printer's status is read (one commit a card)
            self._pending = (claim, result)
            return
        job = self._settle(claim, result, unprintable)
        self.station.card_done(self.name, job, result)
        if result.outcome is Outcome.UNKNOWN and self._card_may_be_inside():
            # The next card could be printed on the blank in doubt. Someone takes it out first.
            why = f"card in doubt (job {job.id}) may be inside the printer: take it out, resolve the job, then resume"
            self.station.pause(self.name, why if result.reason is None else f"{result.reason}, {why}")
        elif result.reason is not None and (
            result.outcome in (Outcome.NOT_FED, Outcome.UNKNOWN) or result.reason == ENCODER_UNAVAILABLE
        ):  # a blank spoiled because the encoder is gone: the next card would meet the same encoder
            self.station.pause(self.name, str(result.reason))

    def _card_may_be_inside(self) -> bool:
        """After a card in doubt: False only when the printer's card sensor says no card is inside (the blank
        left for the hopper or the reject box, where the operator finds it when resolving the job)."""
        driver = self.printer.driver
        if not isinstance(driver, CardInsideSensing):
            return True
        try:
            return driver.card_inside() is not False
        except DriverError:  # unreachable, or no answer: it may be
            return True

    def _flush_pending(self) -> None:
        """Book a good card on its own when no next card follows at once; it stays held until it is booked."""
        if self._pending is None:
            return
        claim, result = self._pending
        try:
            job = self._settle(claim, result)
        except StorageUnavailableError:
            if not self.station.stopping.is_set():
                raise  # still held: the loop waits for storage and offers it again
            self._pending = None  # stopping with storage still failing: logged, the next start settles it
            return
        self._pending = None
        self.station.card_done(self.name, job, result)

    def _settle(self, claim: Claim, result: CardResult, unprintable: bool = False) -> JobRecord:
        """Commit a card's outcome. While storage cannot take it the outcome stays in memory and is retried,
        and this printer does nothing else meanwhile, so no blank is fed with an outcome unbooked."""
        delay = 0.1
        held_since: float | None = None
        give_up_at: float | None = None
        while True:
            try:
                job = self.store.settle_attempt(claim.attempt, result, unprintable=unprintable)
            except StorageUnavailableError as exc:
                if held_since is None:
                    held_since = time.monotonic()
                    self.view.detail = f"a card's outcome waits in memory until printd can write it ({exc.code})"
                    log.warning(
                        "store.outcome_held",
                        printer=self.name,
                        job=claim.job.id,
                        attempt=claim.attempt.id,
                        outcome=result.outcome.value,
                        code=exc.code,
                    )
                if self.station.stopping.is_set():
                    give_up_at = give_up_at or time.monotonic() + self.STOP_BOOKING_SECONDS
                    if time.monotonic() >= give_up_at:
                        # The attempt stays open in the database: the next start settles it from the printer's
                        # counter (in doubt, as a blank was fed); this line tells the operator its real fate.
                        log.error(
                            "store.outcome_unbooked",
                            printer=self.name,
                            job=claim.job.id,
                            attempt=claim.attempt.id,
                            outcome=result.outcome.value,
                            category=result.category.value if result.category else None,
                            chip_uid=result.chip_uid,
                        )
                        raise
                self.store.health.wait_available(delay)
                delay = min(delay * 2, 5.0)
                continue
            except PrintdError:
                raise
            except Exception as exc:  # unexpected trouble: the outcome is kept in memory and retried
                log.error("store.settle_failed", printer=self.name, job=claim.job.id, error=str(exc))
                if self.station.stopping.wait(delay) and delay >= 5.0:
                    raise
                delay = min(delay * 2, 5.0)
                continue
            if held_since is not None:
                log.info(
                    "store.outcome_booked",
                    printer=self.name,
                    job=claim.job.id,
                    attempt=claim.attempt.id,
                    after_seconds=round(time.monotonic() - held_since, 1),
                )
            return job

    def _settle_interrupted(self, counters: Counters) -> bool:
        """Settle the attempts a crash left without an outcome, by the write-ahead rule (DESIGN.md). False when
        the printer went away meanwhile: they stay open and their jobs untouched until it can be reached."""
        attempts = self.store.open_attempts(self.name)
        if attempts:
            log.warning(
                "attempt.settling_at_start", printer=self.name, attempts=len(attempts), cards_fed=counters.cards_fed
            )
            moved = any(a.cards_fed_before != counters.cards_fed for a in attempts)
            try:
                inside = self._sensed_card_inside() if moved else False
                rejected = inside is True and self._one_card_fed(attempts, counters) and self._reject_card_inside()
            except PrinterOfflineError as exc:
                self._offline(str(exc))
                return False
            for attempt in attempts:
                proven = rejected and attempt is attempts[-1]
                job = self.store.settle_interrupted(attempt, counters.cards_fed, rejected_at_start=proven)
                log.warning(
                    "attempt.settled_at_start",
                    printer=self.name,
                    job=job.id,
                    attempt=attempt.id,
                    state=job.state.value,
                    card_rejected=proven,
                )
                if job.state is JobState.IN_DOUBT and inside is not False and not rejected:
                    # The next card could be printed on the blank in doubt. Someone takes it out first.
                    why = f"card in doubt (job {job.id}) may be inside the printer: take it out, resolve the job"
                    self.station.pause(self.name, why + ", then resume")
        self._settled = True
        return True

    # The printer proves an interrupted card's fate when exactly one card was fed since the one open attempt was
    # committed (so a card inside is that card), the presence sensor reads it inside, the printer takes it to the
    # reject box and the sensor then reads none: it is spoiled. Anything else proves nothing: in doubt.

    def _sensed_card_inside(self) -> bool | None:
        """The printer's card sensor: True / False, or None when it has none or gives no usable answer."""
        driver = self.printer.driver
        if not isinstance(driver, CardInsideSensing):
            return None
        try:
            return driver.card_inside()
        except PrinterOfflineError:
            raise
        except DriverError:
            return None

    @staticmethod
    def _one_card_fed(attempts: list[Attempt], counters: Counters) -> bool:
        before = attempts[-1].cards_fed_before
        return len(attempts) == 1 and before is not None and counters.cards_fed == before + 1

    def _reject_card_inside(self) -> bool:
        """Send the card inside to the reject box; True when the printer did and its sensor then reads none."""
        driver = self.printer.driver
        assert isinstance(driver, CardInsideSensing)
        try:
            return driver.reject_card() and driver.card_inside() is False
        except PrinterOfflineError:
            raise
        except DriverError:
            return False

    # ---- reconciliation ---------------------------------------------------------------------------------

    def request_reconcile(self, actor: str) -> Future[Reconciliation]:
        """Ask for this printer's card counter to be reconciled with the ledger; answered between cards."""
        future: Future[Reconciliation] = Future()
        with self._requests_lock:
            self._reconcile_requests.append((actor, future))
        self.wake.set()
        if not self._thread.is_alive() and self._thread.ident is not None:
            self._refuse_reconcile()  # the loop has ended: nobody else will answer
        return future

    def _refuse_reconcile(self) -> None:
        """Answer requests the ended loop will never take: printd is stopping, or a reload removed the printer."""
        with self._requests_lock:
            requests, self._reconcile_requests = self._reconcile_requests, []
        for _, future in requests:
            if future.set_running_or_notify_cancel():
                future.set_exception(
                    PrintdError(
                        "printer.not_found",
                        f"printer {self.name!r} stopped taking requests (printd is stopping, or a reload removed or"
                        " changed it); reconcile again once it is back in 'printctl status'",
                    )
                )

    def _answer_reconcile(self, status: PrinterStatus | None) -> None:
        """Reconcile for those who asked, with the counter just read (``status``; None: it cannot be read).
        A good card still to be booked is booked first, so nothing of this printer is in flight."""
        with self._requests_lock:
            requests, self._reconcile_requests = self._reconcile_requests, []
        if not requests:
            return
        if status is not None:
            self._flush_pending()
        for actor, future in requests:
            if not future.set_running_or_notify_cancel():
                continue  # the caller stopped waiting
            if status is None:
                why = self.view.detail or "it is offline"
                future.set_exception(
                    PrintdError(
                        "printer.offline",
                        f"printer {self.name!r} cannot be reached ({why}), so its card counter cannot be read;"
                        " reconcile it once it is back",
                    )
                )
                continue
            try:
                future.set_result(self.store.reconcile(self.name, status.counters.cards_fed, actor))
            except Exception as exc:  # the caller gets the error (storage trouble, say); the printer carries on
                future.set_exception(exc)

    # ---- driver calls ---------------------------------------------------------------------------------

    def _open(self) -> bool:
        try:
            self.view.info = self.printer.driver.open()
        except DriverError as exc:
            self._offline(str(exc))
            with contextlib.suppress(DriverError):
                self.printer.driver.close()  # a link that broke during open is dropped: the next try makes a new one
            return False
        self._opened = True
        log.info("printer.opened", printer=self.name, model=self.view.info.model)
        return True

    def _status(self) -> PrinterStatus | None:
        try:
            status = self.printer.driver.status()
        except DriverError as exc:
            self._offline(str(exc))
            return None
        self.view.state = status.state.value
        self.view.reasons = sorted(str(r) for r in status.reasons)
        self.view.counters = status.counters
        self.view.detail = ""
        return status

    def _driver_call(self, call: Callable[[], object]) -> None:
        try:
            call()
        except DriverError as exc:
            self._offline(str(exc))

    def _offline(self, message: str) -> None:
        if self.view.state != MajorState.OFFLINE.value or not self.view.detail:  # once, also when down from the start
            log.warning("printer.offline", printer=self.name, detail=message)
        self.view.state = MajorState.OFFLINE.value
        self.view.detail = message
        self._close()

    def _close(self) -> None:
        if self._opened:
            self._opened = False
            with contextlib.suppress(DriverError):
                self.printer.driver.close()

    def _back_off(self) -> None:
        """Wait before reconnecting: 1 s, then doubling up to 30 s while the printer stays unreachable."""
        self._sleep(self._retry)
        self._retry = min(self._retry * 2, self.RETRY_MAX_SECONDS)

    def _sleep(self, seconds: float) -> None:
        self._flush_pending()  # never wait with a card's outcome still unbooked
        self.wake.wait(seconds)
        self.wake.clear()


class Station:
    def __init__(
        self,
        store: Store,
        printers: list[BuiltPrinter],
        *,
        low_stock_threshold: int = 0,
        metrics: CardMetrics | None = None,
    ) -> None:
        self.store = store
        self.low_stock_threshold = low_stock_threshold
        self.metrics = metrics if metrics is not None else CardMetrics(ZoneInfo("Asia/Jakarta"))
        self.stopping = threading.Event()
        self.listeners: list[CardListener] = []
        self._low_stock_reported = False
        self._reorder_reported = False
        # (reorder point, recommended request) from the forecast, or None while it cannot say; set by the daemon
        self.reorder: Callable[[], tuple[int, int] | None] = lambda: None
        pauses = store.printer_pauses()
        self.workers = {p.name: PrinterWorker(self, p, pauses.get(p.name)) for p in printers}

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop claiming, let each card in a printer finish, then return (False if one did not in time)."""
        self.stopping.set()
        for worker in self.workers.values():
            worker.wake.set()
        deadline = time.monotonic() + timeout
        finished = [w.join(max(0.0, deadline - time.monotonic())) for w in self.workers.values()]  # join every one
        return all(finished)

    def notify_work(self) -> None:
        # A paused printer takes no work until resumed (resume wakes it): waking it for every submission
        # would only make it query its status and go back to sleep.
        for worker in self.workers.values():
            if not worker.view.paused:
                worker.wake.set()

    # The workers dict is replaced, never changed in place: other threads iterate it without a lock.

    def add_printer(self, printer: BuiltPrinter) -> PrinterWorker:
        """Start a worker for a printer configured while running; no other worker may be driving it."""
        if printer.name in self.workers:
            raise ValueError(f"printer {printer.name!r} already has a worker; retire and remove it first")
        worker = PrinterWorker(self, printer, self.store.printer_pauses().get(printer.name))
        self.workers = {**self.workers, printer.name: worker}
        worker.start()
        return worker

    def retire_worker(self, worker: PrinterWorker) -> None:
        """Claim nothing more on this printer; the card in it finishes and is booked, then its thread ends."""
        worker.retired.set()
        worker.wake.set()

    def remove_worker(self, worker: PrinterWorker) -> None:
        """Forget a retired worker whose thread has ended (its printer's name is free again)."""
        if not worker.join(0.0):
            raise ValueError(f"printer {worker.name!r} is still running; retire it and wait for it first")
        if self.workers.get(worker.name) is worker:
            self.workers = {name: w for name, w in self.workers.items() if w is not worker}

    def worker(self, name: str) -> PrinterWorker:
        try:
            return self.workers[name]
        except KeyError:
            raise PrintdError(
                "printer.not_found",
                f"no printer named {name!r}; configured: {', '.join(self.workers) or 'none'}",
            ) from None

    def pause(self, name: str, reason: str, actor: str = "printd") -> PrinterView:
        """No card is claimed on the printer once this returns; the card in it, if any, finishes."""
        worker = self.worker(name)
        with worker.claiming:
            if not worker.view.paused or worker.view.pause_reason != reason:
                self.store.set_printer_paused(name, True, reason, actor)
                worker.view.paused, worker.view.pause_reason = True, reason
                log.warning("printer.paused", printer=name, reason=reason, actor=actor)
        return worker.view

    def resume(self, name: str, actor: str = "printd") -> PrinterView:
        """An operator fixed the cause: clear the printer's error state and print again."""
        worker = self.worker(name)
        self.store.set_printer_paused(name, False, None, actor)
        worker.view.paused, worker.view.pause_reason = False, None
        worker.clear_requested = True
        worker.wake.set()
        log.info("printer.resumed", printer=name, actor=actor)
        return worker.view

    def views(self) -> list[PrinterView]:
        return [w.view for w in self.workers.values()]

    def card_done(self, printer: str, job: JobRecord, result: CardResult) -> None:
        """A card's outcome is booked. The worker may hold the next card's claim, committed, or have a printer to
        pause after this card: a storage fault met here must not end its step, or that claim would be dropped
        unprinted (its job left printing until a restart) or the pause skipped."""
        log.info(
            f"job.{result.outcome.value}",
            job=job.id,
            printer=printer,
            state=job.state.value,
            category=result.category.value if result.category else None,
            chip_uid=result.chip_uid,
        )
        self.metrics.card_booked(printer, result)
        with contextlib.suppress(StorageUnavailableError):  # logged by the store; checked again after the next card
            self.check_stock()
        for listener in self.listeners:
            listener(printer, job, result)

    def check_stock(self) -> None:
        """Log ``stock.low`` and ``stock.reorder`` once each time on hand falls below the threshold or the reorder
        point (again only after it rose above it)."""
        # Low stock is this station's custody (the van runs short on its own); the reorder point is the office's.
        by_station = self.store.balance_by_station()  # once a card: one read serves both
        custody = by_station.get(self.store.station)
        on_hand = custody.on_hand if custody is not None else 0
        low = on_hand < self.low_stock_threshold
        if low and not self._low_stock_reported:
            log.warning("stock.low", on_hand=on_hand, threshold=self.low_stock_threshold)
        self._low_stock_reported = low
        office = Balance.total(by_station.values()).on_hand
        reorder = self._below_reorder_point(office)
        if reorder is not None and not self._reorder_reported:
            log.warning("stock.reorder", on_hand=office, reorder_point=reorder[0], request=reorder[1])
        self._reorder_reported = reorder is not None

    def _below_reorder_point(self, on_hand: int) -> tuple[int, int] | None:
        try:
            found = self.reorder()
        except Exception:  # a forecast that cannot be made must not stop the station; status says why
            log.exception("stock.forecast_failed")
            return None
        return found if found is not None and on_hand < found[0] else None

    def alerts(self, overview: Overview | None = None) -> list[dict[str, object]]:
        """The stock's warnings; ``overview``: the store's, read already for the same reply."""
        overview = overview or self.store.overview()
        balance = overview.balance
        custody = overview.custody.get(self.store.station, Balance())
        alerts: list[dict[str, object]] = []
        shared = custody != balance  # other stations hold blanks too: say whose stock is meant
        here = f"in this station's custody ({self.store.station})" if shared else "on hand"
        if custody.on_hand < self.low_stock_threshold:
            alerts.append(
                {
                    "event": "stock.low",
                    "message": f"{custody.on_hand} blanks {here}, below the threshold of {self.low_stock_threshold};"
                    + (" transfer blanks here or request more" if shared else " request more blanks"),
                }
            )
        reorder = self._below_reorder_point(balance.on_hand)
        if reorder is not None:
            alerts.append(
                {
                    "event": "stock.reorder",
                    "message": f"{balance.on_hand} blanks on hand, below the reorder point of {reorder[0]}"
                    f" (use over the delivery lead time plus safety stock); request {reorder[1]} blanks now:"
                    " 'printctl stock forecast', 'printctl stock request --output FILE.pdf'",
                }
            )
        if balance.in_doubt:
            alerts.append(
                {
                    "event": "stock.in_doubt",
                    "message": f"{balance.in_doubt} blank(s) in doubt; check the printers and resolve the jobs",
                }
            )
        if custody.on_hand <= 0 and overview.queue["queued"]:
            alerts.append(
                {
                    "event": "stock.exhausted",
                    "message": f"no blanks {here}: printing waits; book a delivery with 'printctl stock receive'"
                    + (" or transfer blanks here with 'printctl stock transfer'" if shared else ""),
                }
            )
        return alerts
