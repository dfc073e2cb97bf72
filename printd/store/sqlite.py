"""The SQLite store: queue, attempts and ledger in one durable file (WAL, synchronous=FULL, one writer)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.errors import PrintdError
from printd.jobs import ENDED, JobEvent, JobState, Priority, next_state, spoil_event
from printd.ledger import (
    PRINTER_PLACES,
    Balance,
    LedgerEntry,
    LedgerKind,
    Reconciliation,
    Resolution,
    open_difference,
)
from printd.store import cards, handovers, ledger_reads, receipts, reconciliations
from printd.store.cards import Card, CardFate
from printd.store.health import Condition, StorageFault, StorageHealth, StorageUnavailableError, classify, has_room
from printd.store.ledger_reads import PeriodReads
from printd.store.receipts import Receipt
from printd.store.records import (
    Attempt,
    Claim,
    Handover,
    HandoverItem,
    JobContent,
    JobRecord,
    NewJob,
    QcSpoil,
    SubmitResult,
    iso,
)
from printd.store.schema import migrate
from printd.store.size_cap import SizeCap

_JOB_COLUMNS = "id, ref, priority, state, attempts, printer, created_at, updated_at"
INTERRUPTED = "printd stopped"
"""How the detail of every start-up settlement begins (an audit finds them by it)."""


def _job(row: Sequence[Any]) -> JobRecord:
    id_, ref, priority, state, attempts, printer, created, updated = row
    return JobRecord(id_, ref, Priority(priority), JobState(state), attempts, printer, created, updated)


def _named_card(job: JobRecord, job_cards: list[Card], card: int | str) -> Card:
    """The card of ``job`` named by its attempt id (int) or chip UID (str)."""
    for found in job_cards:
        if (found.attempt_id == card) if isinstance(card, int) else (found.chip_uid == card):
            return found
    what = f"attempt {card}" if isinstance(card, int) else f"chip UID {card[:40]!r}"
    raise PrintdError(
        "job.card_not_found", f"job {job.id} has no card with {what}; 'printctl job --id {job.id}' lists its cards"
    )


class SqliteStore:
    """All reads and writes of printd's durable state. Thread-safe: one connection behind one lock."""

    def __init__(self, path: Path | str, *, station: str = "station", max_attempts: int = 3) -> None:
        self.path = Path(path)
        self.station = station
        self.max_attempts = max_attempts
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Job content holds personal data: the database is readable by the daemon's user only.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # purged card faces are overwritten in the file, not just unlinked from the b-tree
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        migrate(self._conn)
        self.health = StorageHealth(self._probe_storage)
        self._size_cap = SizeCap.from_environment(self._conn)
        # Readers have a connection of their own: with WAL they see the last commit and never wait for the
        # writer's fsync, so a status reply stays fast while cards and batches are being committed.
        self._read_lock = threading.Lock()
        if str(path) == ":memory:":
            self._reader, self._read_lock = self._conn, self._lock  # type: ignore[assignment]
        else:
            self._reader = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
            self._reader.execute("PRAGMA busy_timeout=5000")
            self._reader.execute("PRAGMA query_only=ON")

    def close(self) -> None:
        self.health.close()
        with self._lock, self._read_lock:
            if self._reader is not self._conn:
                self._reader.close()
            self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. A failure of the storage itself (full, locked, read-only, I/O) rolls it back,
        is recorded in ``health`` and raised as ``StorageUnavailableError``; nothing of the transaction remains."""
        with self._lock:
            try:
                if self._size_cap is not None:
                    self._size_cap.apply(self._conn)
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            except sqlite3.Error as exc:
                fault = classify(exc, self.path)
                if fault is None:
                    raise
                raise StorageUnavailableError(self.health.failed(fault)) from exc

    def _rollback(self) -> None:
        # After SQLITE_FULL or an I/O error SQLite may have rolled back already; a ROLLBACK then only fails.
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for the duration of the block (one read transaction)."""
        with self._read_lock:
            try:
                self._reader.execute("BEGIN")
                try:
                    yield self._reader
                finally:
                    self._reader.execute("COMMIT")
            except sqlite3.Error as exc:
                fault = classify(exc, self.path)
                if fault is None:
                    raise
                raise StorageUnavailableError(self.health.failed(fault)) from exc

    def _probe_storage(self, fault: StorageFault) -> StorageFault | None:
        """A trivial write transaction, committed: None once the database takes commits again (and, after
        "full", has room to grow), else the condition still in force."""
        try:
            with self._write() as db:
                # Rewriting the header's application id dirties page 1 even when the value is unchanged (a
                # no-op UPDATE writes nothing), so the commit goes through the lock, the WAL and its fsync.
                (application_id,) = db.execute("PRAGMA application_id").fetchone()
                db.execute(f"PRAGMA application_id = {int(application_id)}")
                short_of_room = fault.condition is Condition.FULL and not has_room(db, self.path)
        except StorageUnavailableError as exc:
            return exc.fault
        return fault if short_of_room else None

    # ---- jobs -------------------------------------------------------------------------------------------

    def submit(self, job: NewJob, actor: str) -> SubmitResult:
        result = self.submit_many([job], actor)[0]
        if isinstance(result, PrintdError):
            raise result
        return result

    def submit_many(self, jobs: Sequence[NewJob], actor: str) -> list[SubmitResult | PrintdError]:
        """Insert jobs in one transaction; a ref seen before is the same job (or a conflict)."""
        results: list[SubmitResult | PrintdError] = []
        now = time.time()
        with self._write() as db:
            for job in jobs:
                row = db.execute("SELECT digest, " + _JOB_COLUMNS + " FROM jobs WHERE ref = ?", (job.ref,)).fetchone()
                if row is not None:
                    if row[0] != job.digest:
                        results.append(
                            PrintdError(
                                "job.ref_conflict",
                                f"job reference {job.ref!r} was already submitted with different content;"
                                " use a new reference, or cancel the first job and use reprint",
                            )
                        )
                    else:
                        results.append(SubmitResult(_job(row[1:]), duplicate=True))
                    continue
                cur = db.execute(
                    "INSERT INTO jobs (ref, digest, priority, state, created_at, updated_at)"
                    " VALUES (?, ?, ?, 'queued', ?, ?)",
                    (job.ref, job.digest, int(job.priority), now, now),
                )
                job_id = int(cur.lastrowid or 0)
                c = job.content
                db.execute(
                    "INSERT INTO job_content (job_id, front, back, chip, holder) VALUES (?, ?, ?, ?, ?)",
                    (job_id, c.front, c.back, c.chip, c.holder),
                )
                self._log_event(db, job_id, "submit", None, JobState.QUEUED, actor, None, "", now)
                self._count(db, JobState.QUEUED, 1)
                results.append(
                    SubmitResult(
                        JobRecord(job_id, job.ref, job.priority, JobState.QUEUED, 0, None, now, now),
                        duplicate=False,
                    )
                )
        return results

    def get_job(self, key: int | str) -> JobRecord:
        with self._read() as db:
            return self._find_job(db, key)

    def list_jobs(self, state: JobState | None = None, limit: int = 100) -> list[JobRecord]:
        with self._read() as db:
            if state is None:
                rows = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
            else:
                rows = db.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = ? ORDER BY priority, id LIMIT ?",
                    (state.value, limit),
                )
            return [_job(r) for r in rows.fetchall()]

    def job_history(self, job_id: int) -> list[dict[str, object]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT at, event, from_state, to_state, actor, printer, detail FROM job_events"
                " WHERE job_id = ? ORDER BY id",
                (job_id,),
            ).fetchall()
        return [
            {
                "at": iso(r[0]),
                "event": r[1],
                "from": r[2],
                "to": r[3],
                "actor": r[4],
                "printer": r[5],
                "detail": r[6],
            }
            for r in rows
        ]

    def job_content(self, job_id: int) -> JobContent | None:
        with self._read() as db:
            row = db.execute("SELECT front, back, chip, holder FROM job_content WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else JobContent(row[0], row[1], row[2], row[3])

    def queue_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in JobState}
        with self._read() as db:
            counts.update(db.execute("SELECT state, count FROM queue_counts").fetchall())
        return counts

    def queue_counts_from_jobs(self) -> dict[str, int]:
        """The counts by a scan of every job: the truth the kept counts must equal (for tests and audits)."""
        counts = {s.value: 0 for s in JobState}
        with self._read() as db:
            counts.update(db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
        return counts

    def transition(self, key: int | str, event: JobEvent, actor: str, detail: str = "") -> JobRecord:
        """An operator's state change (hold, release, cancel, reprint)."""
        with self._write() as db:
            job = self._find_job(db, key)
            if event is JobEvent.CANCEL and job.state is JobState.PRINTING:
                raise PrintdError(
                    "job.state_conflict",
                    f"job {job.id} is being printed now and cannot be canceled; wait for it to end,"
                    " or pause its printer first",
                )
            return self._move(db, job, event, actor, job.printer, detail)

    # ---- printing: the write-ahead rule --------------------------------------------------------------

    def claim_next(self, printer: str, counters: Counters | None) -> Claim | None:
        """Take the next job and commit its attempt, with the printer's counters, before any feed."""
        with self._write() as db:
            return self._claim(db, printer, counters)

    def settle_attempt(
        self, attempt: Attempt, result: CardResult, actor: str = "printd", *, unprintable: bool = False
    ) -> JobRecord:
        """Record the driver's outcome, its ledger event and the job's transition in one transaction.

        ``unprintable``: the driver refused the job's content before feeding (NOT_FED): the job fails.
        """
        if unprintable and result.outcome is not Outcome.NOT_FED:
            raise ValueError("only a NOT_FED outcome can mark a job unprintable")
        with self._write() as db:
            return self._settle(db, attempt, result, actor, unprintable)

    def settle_and_claim(
        self, attempt: Attempt, result: CardResult, counters: Counters | None
    ) -> tuple[JobRecord, Claim | None]:
        """Settle one card and claim the printer's next in one transaction: one commit (one fsync) per card.

        The write-ahead rule still holds: the next attempt, with the counters read after this card, is
        committed before the next blank can be fed. If the commit fails, neither is booked: the caller still
        holds the outcome, and no claim is returned, so nothing may be fed.
        """
        with self._write() as db:
            job = self._settle(db, attempt, result, "printd", False)
            return job, self._claim(db, attempt.printer, counters)

    def _claim(self, db: sqlite3.Connection, printer: str, counters: Counters | None) -> Claim | None:
        # While storage is failing, no blank is taken: its outcome could not be booked after the card.
        if self.health.fault is not None or self._available_blanks(db) <= 0:
            return None
        row = db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'queued' ORDER BY priority, id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        job = self._move(db, _job(row), JobEvent.CLAIM, "printd", printer, "")
        content_row = db.execute(
            "SELECT front, back, chip, holder FROM job_content WHERE job_id = ?", (job.id,)
        ).fetchone()
        if content_row is None:
            raise PrintdError("job.content_missing", f"job {job.id} has no card content left to print")
        now = time.time()
        before = None if counters is None else counters.cards_fed
        cur = db.execute(
            "INSERT INTO attempts (job_id, printer, number, started_at, cards_fed_before) VALUES (?, ?, ?, ?, ?)",
            (job.id, printer, job.attempts + 1, now, before),
        )
        attempt = Attempt(int(cur.lastrowid or 0), job.id, printer, job.attempts + 1, before, now)
        return Claim(job, attempt, JobContent(*content_row))

    def _settle(
        self, db: sqlite3.Connection, attempt: Attempt, result: CardResult, actor: str, unprintable: bool
    ) -> JobRecord:
        job = self._find_job(db, attempt.job_id)
        self._close_attempt(db, attempt, result.outcome.value, result, time.time())
        kinds = {Outcome.PRINTED: LedgerKind.ISSUED, Outcome.SPOILED: LedgerKind.SPOILED}
        kind = kinds.get(result.outcome, LedgerKind.IN_DOUBT)
        if result.outcome is not Outcome.NOT_FED:
            category = result.category or SpoilCategory.PRINT_FAILED
            self._book(
                db,
                LedgerEntry(kind),
                actor=actor,
                printer=attempt.printer,
                job_id=job.id,
                attempt_id=attempt.id,
                chip_uid=result.chip_uid,
                category=category.value if kind is LedgerKind.SPOILED else None,
                detail="" if kind is LedgerKind.ISSUED else result.detail,
            )
        events = {
            Outcome.PRINTED: JobEvent.PRINTED,
            Outcome.NOT_FED: JobEvent.NOT_FED,
            Outcome.UNKNOWN: JobEvent.UNKNOWN,
        }
        event = events.get(result.outcome) or spoil_event(job.attempts + 1, self.max_attempts)
        if unprintable:
            event = JobEvent.UNPRINTABLE
        if result.outcome is not Outcome.NOT_FED:
            db.execute("UPDATE jobs SET attempts = attempts + 1 WHERE id = ?", (job.id,))
            job = self._find_job(db, job.id)
        return self._move(db, job, event, actor, attempt.printer, result.detail)

    def open_attempts(self, printer: str | None = None) -> list[Attempt]:
        with self._read() as db:
            sql = "SELECT id, job_id, printer, number, cards_fed_before, started_at FROM attempts WHERE outcome IS NULL"
            sql += " AND printer = ? ORDER BY id" if printer else " ORDER BY id"
            rows = db.execute(sql, (printer,) if printer else ()).fetchall()
        return [Attempt(*r) for r in rows]

    def settle_interrupted(self, attempt: Attempt, cards_fed_now: int, *, rejected_at_start: bool = False) -> JobRecord:
        """Start-up settlement of an attempt cut off by a restart, by the write-ahead rule: the printer's card
        counter unchanged -> not fed, the job back in the queue; moved -> in doubt, for an operator.

        ``rejected_at_start``: the printer proved the card's fate: exactly one card was fed since the attempt was
        committed, the printer still held it, and it is now in the reject box -> spoiled, and the job prints
        again on a new blank.
        """
        before = attempt.cards_fed_before
        after = Counters(cards_fed=cards_fed_now)
        if rejected_at_start:
            if before is None or cards_fed_now != before + 1:
                raise ValueError(
                    f"attempt {attempt.id}: a card rejected at start-up is proven this attempt's only after exactly"
                    f" one feed ({before} -> {cards_fed_now})"
                )
            detail = f"{INTERRUPTED} during this card; the printer still held it and sent it to the reject box"
            result = CardResult(Outcome.SPOILED, SpoilCategory.PRINT_FAILED, detail, counters_after=after)
        elif before is None or cards_fed_now != before:
            detail = (
                f"{INTERRUPTED} during this card and the printer's card counter moved"
                f" ({before} -> {cards_fed_now}); check the output hopper and the reject box"
            )
            result = CardResult(Outcome.UNKNOWN, detail=detail, counters_after=after)
        else:
            result = CardResult(Outcome.NOT_FED, detail=f"{INTERRUPTED} before the card was fed", counters_after=after)
        return self.settle_attempt(attempt, result, actor="printd")

    def resolve(
        self,
        key: int | str,
        resolution: Resolution,
        actor: str,
        note: str = "",
        category: SpoilCategory | None = None,
    ) -> JobRecord:
        """An operator settles an in-doubt blank from what the output hopper and reject box show."""
        now = time.time()
        with self._write() as db:
            job = self._find_job(db, key)
            if job.state is not JobState.IN_DOUBT:
                raise PrintdError(
                    "job.state_conflict",
                    f"job {job.id} is {job.state.value}, not in_doubt; nothing to resolve",
                )
            row = db.execute(
                "SELECT id, printer, attempt_id, chip_uid FROM ledger WHERE job_id = ? AND kind = 'in_doubt'"
                " AND id NOT IN (SELECT CAST(reference AS INTEGER) FROM ledger WHERE kind = 'resolved'"
                " AND job_id = ?) ORDER BY id DESC LIMIT 1",
                (job.id, job.id),
            ).fetchone()
            if row is None:
                raise PrintdError("internal", f"job {job.id} is in doubt but has no open in-doubt blank")
            doubt_id, printer, attempt_id, chip_uid = row
            self._book(
                db,
                LedgerEntry(LedgerKind.RESOLVED, resolution=resolution),
                actor=actor,
                printer=printer,
                job_id=job.id,
                attempt_id=attempt_id,
                chip_uid=chip_uid,
                reference=str(doubt_id),
                detail=note,
                category=(category or SpoilCategory.PRINT_FAILED).value if resolution is Resolution.SPOILED else None,
            )
            db.execute(
                "UPDATE attempts SET outcome = ?, settled_at = ? WHERE id = ?",
                (f"resolved:{resolution.value}", now, attempt_id),
            )
            if resolution is Resolution.ISSUED:
                event = JobEvent.RESOLVE_PRINTED
            elif resolution is Resolution.SPOILED:
                event = spoil_event(job.attempts, self.max_attempts, resolving=True)
            else:
                db.execute("UPDATE jobs SET attempts = attempts - 1 WHERE id = ?", (job.id,))
                job = self._find_job(db, job.id)
                event = JobEvent.RESOLVE_NOT_FED
            return self._move(db, job, event, actor, printer, note)

    def qc_spoil(
        self,
        key: int | str,
        card: int | str,
        category: SpoilCategory,
        detail: str,
        actor: str,
    ) -> QcSpoil:
        """An operator rejects a printed card at inspection: that card, named by its attempt id (int) or chip UID
        (str), becomes spoiled. The same card named again books nothing more (a retried request).

        The job prints again if the rejected card was its current one and its content is still held; after the
        retention purged the content the spoil is booked all the same and the job fails (submit it again)."""
        with self._write() as db:
            job = self._find_job(db, key)
            job_cards = cards.of_job(db, job.id)
            found = _named_card(job, job_cards, card)
            if found.fate is CardFate.SPOILED:
                return QcSpoil(job, found, booked=False, reprint=False)
            if found.fate is not CardFate.ISSUED:
                raise PrintdError(
                    "job.state_conflict",
                    f"card {found.attempt_id} of job {job.id} is {found.fate.value.replace('_', ' ')}, not a printed"
                    " card; only a card booked as issued can be rejected at inspection"
                    + (" (settle it with 'printctl resolve')" if found.fate is CardFate.IN_DOUBT else ""),
                )
            self._book(
                db,
                LedgerEntry(LedgerKind.SPOILED, from_issued=True),
                actor=actor,
                printer=found.printer,
                job_id=job.id,
                attempt_id=found.attempt_id,
                chip_uid=found.chip_uid,
                category=category.value,
                detail=detail,
            )
            current = [c for c in job_cards if c.fate is CardFate.ISSUED][-1]
            spoiled = replace(found, fate=CardFate.SPOILED, category=category.value)
            note = f"card {found.attempt_id}: {category.value}: {detail}"
            if job.state is not JobState.DONE or found != current:
                # an earlier card of a reprinted job, or the job is printing again: the job itself does not move
                self._log_event(
                    db, job.id, "card_spoiled", job.state, job.state, actor, found.printer, note, time.time()
                )
                return QcSpoil(job, spoiled, booked=True, reprint=False)
            has_content = db.execute("SELECT 1 FROM job_content WHERE job_id = ?", (job.id,)).fetchone() is not None
            event = JobEvent.QC_SPOIL if has_content else JobEvent.QC_SPOIL_CONTENT_PURGED
            return QcSpoil(self._move(db, job, event, actor, found.printer, note), spoiled, True, has_content)

    def job_cards(self, job_id: int) -> list[Card]:
        """The job's attempts, oldest first, each with what became of its blank."""
        with self._read() as db:
            return cards.of_job(db, job_id)

    # ---- stock --------------------------------------------------------------------------------------

    def receive_stock(self, count: int, reference: str, actor: str, serials: str | None = None) -> Receipt:
        """Book a delivery once: the same reference, count and serials again return the first receipt and book
        nothing; anything else under a booked reference, or serials already received, is refused."""
        if count <= 0:
            raise PrintdError("stock.invalid_count", f"a receipt must add at least one blank; {count} was given")
        with self._write() as db:
            first = receipts.check_new(db, count, reference, serials)
            if first is not None:
                return first
            event_id = self._book(
                db,
                LedgerEntry(LedgerKind.RECEIVED, count=count),
                actor=actor,
                reference=reference,
                detail=serials or "",
            )
            found = receipts.booked(db, reference)
        assert found is not None and found.event_id == event_id
        return found

    def adjust_stock(self, count: int, reason: str, actor: str, printer: str | None = None) -> int:
        """A supervisor's correction of the stock on hand (a miscount, blanks fed outside printd on ``printer``)."""
        if count == 0:
            raise PrintdError("stock.invalid_count", "an adjustment must add or remove at least one blank; 0 was given")
        with self._write() as db:
            # Blanks whose attempt is committed are taken already, as a claim counts them (write-ahead rule).
            available = self._available_blanks(db)
            if available + count < 0:
                in_flight = self._blanks_in_flight(db)
                held = f", {in_flight} more being printed now" if in_flight else ""
                raise PrintdError(
                    "stock.insufficient",
                    f"only {available} blank(s) are on hand and free{held}, so {-count} cannot be written off;"
                    " check the count, or record the missing delivery with 'printctl stock receive' first",
                    {"available": available, "in_flight": in_flight},
                )
            return self._book(
                db, LedgerEntry(LedgerKind.ADJUSTED, count=count), actor=actor, printer=printer, detail=reason
            )

    def balance(self) -> Balance:
        with self._read() as db:
            totals = dict(db.execute("SELECT place, count FROM stock_totals").fetchall())
        return Balance(**{k: int(v) for k, v in totals.items()})

    def balance_from_ledger(self) -> Balance:
        """The balance folded from every ledger event: the truth the cached totals must equal."""
        with self._read() as db:
            rows = db.execute("SELECT kind, count, resolution, from_issued FROM ledger ORDER BY id").fetchall()
        return Balance.fold(LedgerEntry(LedgerKind(k), c, Resolution(r) if r else None, bool(f)) for k, c, r, f in rows)

    def balance_by_printer(self) -> dict[str, dict[str, int]]:
        per: dict[str, dict[str, int]] = {}
        with self._read() as db:
            for printer, place, count in db.execute("SELECT printer, place, count FROM printer_totals"):
                per.setdefault(printer, {"issued": 0, "spoiled": 0, "in_doubt": 0})[place] = count
        return per

    def balance_by_printer_from_ledger(self) -> dict[str, Balance]:
        """Per printer, the fold of its ledger events: the truth the kept per-printer totals must equal. Only
        events that move a printer's blanks count (a reconciliation, or an adjustment naming a printer, make no
        row: the kept totals have none for them either)."""
        per: dict[str, Balance] = {}
        with self._read() as db:
            rows = db.execute(
                "SELECT printer, kind, count, resolution, from_issued FROM ledger WHERE printer IS NOT NULL"
                " AND kind IN ('issued', 'spoiled', 'in_doubt', 'resolved') ORDER BY id"
            ).fetchall()
        for printer, k, c, r, f in rows:
            per.setdefault(printer, Balance()).apply(
                LedgerEntry(LedgerKind(k), c, Resolution(r) if r else None, bool(f))
            )
        return per

    def spoiled_list(self, since: float | None = None, category: str | None = None) -> list[dict[str, object]]:
        sql = (
            "SELECT l.at, l.printer, l.job_id, j.ref, l.category, l.detail, l.chip_uid FROM ledger l"
            " LEFT JOIN jobs j ON j.id = l.job_id"
            " WHERE (l.kind = 'spoiled' OR (l.kind = 'resolved' AND l.resolution = 'spoiled'))"
        )
        args: list[object] = []
        if since is not None:
            sql += " AND l.at >= ?"
            args.append(since)
        if category is not None:
            sql += " AND l.category = ?"
            args.append(category)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY l.id", args).fetchall()
        return [
            {"at": at, "printer": p, "job": j, "ref": ref, "category": c, "detail": d, "chip_uid": uid}
            for at, p, j, ref, c, d, uid in rows
        ]

    def ledger_events(self) -> list[dict[str, object]]:
        with self._read() as db:
            cur = db.execute("SELECT * FROM ledger ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # ---- reports (see printd/store/ledger_reads.py and printd/reports/) ---------------------------------

    def period_reads(self, start: float, end: float, *, rows: bool = True) -> PeriodReads:
        """In one snapshot: every event before ``start`` grouped by shape (they fold to the stock on hand then) and
        the events of ``start`` <= at < ``end``, one by one (``rows``) or else grouped by quarter hour. Both times
        are starts of UTC quarter hours, as every local midnight is."""
        with self._read() as db:
            return PeriodReads(
                ledger_reads.sums_before(db, start),
                ledger_reads.rows_between(db, start, end) if rows else [],
                [] if rows else ledger_reads.quarter_hours(db, start, end),
            )

    def quarters_consistent(self) -> bool:
        """The kept quarter-hour sums equal a scan of the ledger (for tests and audits)."""
        with self._read() as db:
            return ledger_reads.kept_quarters(db) == ledger_reads.quarters_from_ledger(db)

    def backlog_by_priority(self) -> dict[str, int]:
        """Jobs waiting to be printed (queued or held), by priority label."""
        with self._read() as db:
            rows = db.execute(
                "SELECT priority, count(*) FROM jobs WHERE state IN ('queued', 'held') GROUP BY priority"
            ).fetchall()
        counts = {p.label: 0 for p in Priority}
        counts.update({Priority(p).label: int(n) for p, n in rows})
        return counts

    # ---- berita acara: spoiled blanks leaving the office (see printd/store/handovers.py) ----------------

    def pending_spoils(self, before: float | None = None) -> list[HandoverItem]:
        """Spoiled blanks in no berita acara yet (booked before ``before``; None: all), oldest first."""
        with self._read() as db:
            return handovers.pending(db, before)

    def book_handover(self, draft: Handover, before: float | None) -> Handover:
        """Book every pending spoiled blank (before ``before``) as ``draft.kind`` (destroyed or returned) under
        ``draft.number``, one ledger event a blank, all in one transaction. Refused, changing nothing, when the
        number was used before or nothing is pending."""
        kind = LedgerKind(draft.kind)
        if kind not in (LedgerKind.DESTROYED, LedgerKind.RETURNED):
            raise ValueError(f"a handover destroys or returns blanks, not {draft.kind!r}")
        with self._write() as db:
            earlier = handovers.load(db, draft.number, with_items=False)
            if earlier is not None:
                raise PrintdError(
                    "handover.number_taken",
                    f"berita acara number {draft.number!r} was already used on {iso(earlier.at)} for"
                    f" {earlier.kind} blanks; every berita acara needs its own number",
                )
            items = handovers.pending(db, before)
            if not items:
                raise PrintdError(
                    "handover.nothing_pending",
                    "no spoiled blank is waiting for a berita acara"
                    + (" up to that date" if before is not None else "")
                    + "; every spoiled blank is already in one ('printctl spoiled --pending' lists what is waiting)",
                )
            booked = [
                (
                    item.ledger_id,
                    self._book(
                        db,
                        LedgerEntry(kind, count=1),
                        actor=draft.actor,
                        printer=item.printer,
                        chip_uid=item.chip_uid,
                        category=item.category,
                        reference=draft.number,
                        detail=f"spoiled blank of ledger event {item.ledger_id}",
                    ),
                )
                for item in items
            ]
            handover = replace(draft, items=items, at=time.time(), station=self.station)
            handovers.record(db, handover, booked)
            return handover

    def handover(self, number: str) -> Handover:
        with self._read() as db:
            found = handovers.load(db, number)
        if found is None:
            raise PrintdError(
                "handover.not_found", f"no berita acara numbered {number[:64]!r}; 'printctl spoiled handover --list'"
            )
        return found

    def handover_numbers(self, limit: int = 100) -> list[tuple[str, int]]:
        with self._read() as db:
            return handovers.numbers(db, limit)

    # ---- reconciliation (see printd/store/reconciliations.py) -----------------------------------------

    def reconcile(self, printer: str, counter: int, actor: str) -> Reconciliation:
        """Hold ``printer``'s card counter against the ledger and record what was found as a ``reconciled``
        event, which moves no blank. The counter must be read with nothing of this printer in flight."""
        with self._write() as db:
            found = reconciliations.measure(db, printer, counter)
            event_id = self._book(
                db, LedgerEntry(LedgerKind.RECONCILED, count=0), actor=actor, printer=printer, detail=found.summary()
            )
            reconciliations.record(db, event_id, found)
            recorded = reconciliations.last(db, printer)
        assert recorded is not None and recorded.event_id == event_id
        return recorded

    def reconciliations(self, printer: str | None = None, limit: int = 100) -> list[Reconciliation]:
        """The latest reconciliations, newest first."""
        with self._read() as db:
            return reconciliations.history(db, printer, limit)

    def unreconciled(self, printer: str, counter: int | None) -> int | None:
        """Blanks still unexplained on ``printer`` given its counter now (None: not readable), or None when it
        was never reconciled (see `printd.ledger.open_difference`)."""
        with self._read() as db:
            last = reconciliations.last(db, printer)
            if last is None:
                return None
            return open_difference(
                last,
                counter,
                reconciliations.consumed_total(db, printer),
                reconciliations.explained_since(db, printer, last.event_id),
                reconciliations.in_flight(db, printer),
            )

    # ---- printers -----------------------------------------------------------------------------------

    def set_printer_paused(self, name: str, paused: bool, reason: str | None, actor: str = "printd") -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO printers (name, paused, pause_reason, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, pause_reason = excluded.pause_reason,"
                " updated_at = excluded.updated_at",
                (name, int(paused), reason, now),
            )
            db.execute(
                "INSERT INTO printer_events (at, printer, event, reason, actor) VALUES (?, ?, ?, ?, ?)",
                (now, name, "paused" if paused else "resumed", reason, actor),
            )

    def printer_events(self, name: str) -> list[dict[str, object]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT at, event, reason, actor FROM printer_events WHERE printer = ? ORDER BY id", (name,)
            ).fetchall()
        return [{"at": iso(at), "event": event, "reason": reason, "actor": actor} for at, event, reason, actor in rows]

    def printer_pauses(self) -> dict[str, str | None]:
        with self._read() as db:
            rows = db.execute("SELECT name, pause_reason FROM printers WHERE paused = 1").fetchall()
        return {name: reason for name, reason in rows}

    # ---- retention ----------------------------------------------------------------------------------

    def purge_content(self, ended_before: float) -> int:
        """Delete the personal data (faces, chip payload, holder) of jobs that ended before the cutoff."""
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM job_content WHERE job_id IN (SELECT id FROM jobs WHERE ended_at IS NOT NULL"
                " AND ended_at < ?)",
                (ended_before,),
            )
            return cur.rowcount

    # ---- internals ----------------------------------------------------------------------------------

    def _find_job(self, db: sqlite3.Connection, key: int | str) -> JobRecord:
        """A job by its id (an int) or its client reference (a str, even one made of digits)."""
        if isinstance(key, int):
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (key,)).fetchone()
            what = f"id {key}"
        else:
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE ref = ?", (key,)).fetchone()
            what = f"reference {key[:128]!r}"
        if row is None:
            raise PrintdError("job.not_found", f"no job with {what}; list jobs with 'printctl jobs'")
        return _job(row)

    def _move(
        self,
        db: sqlite3.Connection,
        job: JobRecord,
        event: JobEvent,
        actor: str,
        printer: str | None,
        detail: str,
    ) -> JobRecord:
        try:
            target = next_state(job.state, event)
        except Exception as exc:
            raise PrintdError("job.state_conflict", f"job {job.id}: {exc}") from exc
        now = time.time()
        ended = now if target in ENDED else None
        db.execute(
            "UPDATE jobs SET state = ?, printer = COALESCE(?, printer), updated_at = ?, ended_at = ? WHERE id = ?",
            (target.value, printer, now, ended, job.id),
        )
        if target is JobState.QUEUED and job.state in ENDED:
            self._require_content(db, job.id)
        self._count(db, job.state, -1)
        self._count(db, target, 1)
        self._log_event(db, job.id, event.value, job.state, target, actor, printer, detail, now)
        return JobRecord(
            job.id, job.ref, job.priority, target, job.attempts, printer or job.printer, job.created_at, now
        )

    def _count(self, db: sqlite3.Connection, state: JobState, change: int) -> None:
        db.execute(
            "INSERT INTO queue_counts (state, count) VALUES (?, ?)"
            " ON CONFLICT (state) DO UPDATE SET count = count + excluded.count",
            (state.value, change),
        )

    def _require_content(self, db: sqlite3.Connection, job_id: int) -> None:
        if db.execute("SELECT 1 FROM job_content WHERE job_id = ?", (job_id,)).fetchone() is None:
            raise PrintdError(
                "job.content_purged",
                f"job {job_id} ended longer ago than the retention period and its card content was purged;"
                " submit it again under a new reference",
            )

    def _log_event(
        self,
        db: sqlite3.Connection,
        job_id: int,
        event: str,
        from_state: JobState | None,
        to_state: JobState,
        actor: str,
        printer: str | None,
        detail: str,
        at: float,
    ) -> None:
        db.execute(
            "INSERT INTO job_events (job_id, at, event, from_state, to_state, actor, printer, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                at,
                event,
                from_state.value if from_state else None,
                to_state.value,
                actor,
                printer,
                detail,
            ),
        )

    def _close_attempt(
        self, db: sqlite3.Connection, attempt: Attempt, outcome: str, result: CardResult, now: float
    ) -> None:
        after = result.counters_after.cards_fed if result.counters_after else None
        cur = db.execute(
            "UPDATE attempts SET outcome = ?, settled_at = ?, cards_fed_after = COALESCE(?, cards_fed_after),"
            " chip_uid = ?, detail = ? WHERE id = ? AND outcome IS NULL",
            (outcome, now, after, result.chip_uid, result.detail, attempt.id),
        )
        if cur.rowcount != 1:
            raise PrintdError("internal", f"attempt {attempt.id} was already settled; refusing to book it twice")

    def _book(
        self,
        db: sqlite3.Connection,
        entry: LedgerEntry,
        *,
        actor: str,
        printer: str | None = None,
        job_id: int | None = None,
        attempt_id: int | None = None,
        chip_uid: str | None = None,
        category: str | None = None,
        detail: str = "",
        reference: str | None = None,
    ) -> int:
        """Append one ledger event and move the cached totals by the same fold, in the caller's transaction."""
        at = time.time()
        cur = db.execute(
            "INSERT INTO ledger (at, kind, count, resolution, from_issued, station, printer, job_id, attempt_id,"
            " chip_uid, category, detail, reference, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                at,
                entry.kind.value,
                entry.count,
                entry.resolution.value if entry.resolution else None,
                int(entry.from_issued),
                self.station,
                printer,
                job_id,
                attempt_id,
                chip_uid,
                category,
                detail,
                reference,
                actor,
            ),
        )
        ledger_reads.count_in_quarter(
            db,
            at,
            entry.kind.value,
            entry.resolution.value if entry.resolution else None,
            entry.from_issued,
            category,
            entry.count,
        )
        delta = Balance.fold([entry]).as_dict()
        for place, change in delta.items():
            if not change:
                continue
            db.execute(
                "INSERT INTO stock_totals (place, count) VALUES (?, ?)"
                " ON CONFLICT (place) DO UPDATE SET count = count + excluded.count",
                (place, change),
            )
            if printer is not None and place in PRINTER_PLACES:
                db.execute(
                    "INSERT INTO printer_totals (printer, place, count) VALUES (?, ?, ?)"
                    " ON CONFLICT (printer, place) DO UPDATE SET count = count + excluded.count",
                    (printer, place, change),
                )
        return int(cur.lastrowid or 0)

    def _available_blanks(self, db: sqlite3.Connection) -> int:
        """Blanks on hand that no open attempt has taken."""
        row = db.execute("SELECT count FROM stock_totals WHERE place = 'on_hand'").fetchone()
        return (int(row[0]) if row else 0) - self._blanks_in_flight(db)

    def _blanks_in_flight(self, db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT count(*) FROM attempts WHERE outcome IS NULL").fetchone()[0])
