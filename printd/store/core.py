"""The store's behaviour over any SQL engine: the queue, the write-ahead attempts, the ledger and custody.

Invariants (tested by the one store contract suite over every engine):
- A job is claimed by one printer at a time: a claim is committed with its attempt before any blank is fed, and a
  job with an open attempt is never claimed again.
- Every ledger event is appended in the transaction that moves the job and the kept totals (queue counts, stock
  per station and place, per printer, per quarter hour); the totals always equal a fold of the ledger.
- A station claims only while its own custody holds a blank that no open attempt has taken.

Engines (``SqliteStore``, ``PostgresStore``) supply the connections and the transactions (``_write``, ``_read``),
and say what a failure of their storage looks like.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.errors import PrintdError
from printd.jobs import ENDED, JobEvent, JobState, Priority, next_state, spoil_event
from printd.ledger import (
    PRINTER_PLACES,
    Balance,
    Direction,
    LedgerEntry,
    LedgerKind,
    Reconciliation,
    Resolution,
    open_difference,
)
from printd.store import accounts, cards, handovers, ledger_reads, receipts, reconciliations, stations, stock_history
from printd.store.accounts import Account, AccountChange, NewAccount
from printd.store.cards import Card, CardFate
from printd.store.health import StorageHealth, StorageUnavailableError
from printd.store.ledger_reads import PeriodReads
from printd.store.overview import Overview
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
from printd.store.sql import Db, lock_key
from printd.store.stations import StationView, Transfer
from printd.store.stock_history import StockEvent

_JOB_COLUMNS = "id, ref, priority, state, attempts, printer, created_at, updated_at, station"
INTERRUPTED = "printd stopped"
"""How the detail of every start-up settlement begins (an audit finds them by it)."""
SUBMIT_CHUNK = 100
"""Jobs a submission writes with one statement a table..."""
SUBMIT_CHUNK_BYTES = 4 << 20
"""...and no more card content than this in one statement. Bigger statements are no faster, and on PostgreSQL
they hold the server longer at a time: status replies meanwhile wait longer (p99 ~25 ms at 500 jobs, ~17 ms at
100, on 2 cores beside the server)."""
UNCONFIRMED_CLAIM = "the claim's commit was not confirmed (the database connection was lost); no blank was fed"


def _job(row: Sequence[Any]) -> JobRecord:
    id_, ref, priority, state, attempts, printer, created, updated, station = row
    return JobRecord(id_, ref, Priority(priority), JobState(state), attempts, printer, created, updated, station)


_SHAPE_SUMS = "count(*), sum(count)"
"""Per group of ledger events of one shape: how many events, and the blanks their counts add up to."""


def _shape(kind: str, resolution: str | None, from_issued: int, count: int) -> LedgerEntry:
    """The events of one shape as one entry: ``count`` is their counts' sum (for the kinds that carry one)."""
    return LedgerEntry(LedgerKind(kind), int(count), Resolution(resolution) if resolution else None, bool(from_issued))


def _custody(db: Db) -> dict[str, Balance]:
    per: dict[str, Balance] = {}
    for station, place, count in db.execute("SELECT station, place, count FROM stock_totals"):
        setattr(per.setdefault(station, Balance()), place, int(count))
    return dict(sorted(per.items()))


def _printer_totals(db: Db) -> dict[str, dict[str, int]]:
    per: dict[str, dict[str, int]] = {}
    for printer, place, count in db.execute("SELECT printer, place, count FROM printer_totals"):
        per.setdefault(printer, {"issued": 0, "spoiled": 0, "in_doubt": 0})[place] = int(count)
    return per


def _named_card(job: JobRecord, job_cards: list[Card], card: int | str) -> Card:
    """The card of ``job`` named by its attempt id (int) or chip UID (str)."""
    for found in job_cards:
        if (found.attempt_id == card) if isinstance(card, int) else (found.chip_uid == card):
            return found
    what = f"attempt {card}" if isinstance(card, int) else f"chip UID {card[:40]!r}"
    raise PrintdError(
        "job.card_not_found", f"job {job.id} has no card with {what}; 'printctl job --id {job.id}' lists its cards"
    )


def _chunks(jobs: Sequence[NewJob]) -> Iterator[Sequence[NewJob]]:
    """``jobs`` a chunk at a time: at most ``SUBMIT_CHUNK`` jobs and about ``SUBMIT_CHUNK_BYTES`` of content."""
    start, size = 0, 0
    for end, job in enumerate(jobs):
        if end > start and (end - start == SUBMIT_CHUNK or size + job.content.size > SUBMIT_CHUNK_BYTES):
            yield jobs[start:end]
            start, size = end, 0
        size += job.content.size
    if start < len(jobs):
        yield jobs[start:]


def _flat(rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


class SqlStore:
    """All reads and writes of printd's durable state, for one station. Thread-safe."""

    station: str
    max_attempts: int
    health: StorageHealth

    def _write(self) -> AbstractContextManager[Db]:
        """One write transaction: committed when the block ends, nothing of it left when it raises. A failure of
        the storage itself is recorded in ``health`` and raised as ``StorageUnavailableError``."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Db]:
        """A consistent snapshot for the duration of the block."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _init_core(self, station: str, max_attempts: int) -> None:
        self.station = station
        self.max_attempts = max_attempts
        # Printers and attempts whose last write failed at its commit, which may yet have gone through.
        self._unconfirmed_claims: set[str] = set()
        self._unconfirmed_settles: set[int] = set()

    def watch_queue(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when another process makes work this station may print (a no-op with one process)."""

    def lock_station(self) -> None:
        """Make sure no other process runs this station on the store (the SQLite engine's file lock does)."""

    # ---- jobs -------------------------------------------------------------------------------------------

    def submit(self, job: NewJob, actor: str) -> SubmitResult:
        result = self.submit_many([job], actor)[0]
        if isinstance(result, PrintdError):
            raise result
        return result

    def submit_many(self, jobs: Sequence[NewJob], actor: str) -> list[SubmitResult | PrintdError]:
        """Insert jobs in one transaction, index for index; a ref seen before (in the store or earlier in ``jobs``)
        is the same job, or a conflict. The rows are written a chunk at a time (one lookup, one insert of each
        table per chunk), so a batch of thousands costs a few hundred statements, not five a job."""
        results: list[SubmitResult | PrintdError] = []
        now = time.time()
        with self._write() as db:
            known = {name for (name,) in db.execute("SELECT name FROM stations").fetchall()} | {self.station}
            submitted: dict[str, tuple[str, JobRecord]] = {}  # by ref: the digest and job of each ref met so far
            for chunk in _chunks(jobs):
                results += self._submit_chunk(db, chunk, known, submitted, actor, now)
            inserted = Counter(r.job.priority for r in results if isinstance(r, SubmitResult) and not r.duplicate)
            for priority, count in sorted(inserted.items()):
                self._count(db, JobState.QUEUED, priority, count)
        return results

    def _submit_chunk(
        self,
        db: Db,
        chunk: Sequence[NewJob],
        known: set[str],
        submitted: dict[str, tuple[str, JobRecord]],
        actor: str,
        now: float,
    ) -> list[SubmitResult | PrintdError]:
        """``submitted``: the digest and job of every ref met so far in the transaction, kept up to date."""
        refs = list({job.ref: None for job in chunk if job.ref not in submitted})
        if refs:
            marks = ", ".join("?" * len(refs))
            rows = db.execute(f"SELECT digest, {_JOB_COLUMNS} FROM jobs WHERE ref IN ({marks})", refs).fetchall()
            submitted.update((row[2], (row[0], _job(row[1:]))) for row in rows)
        new: dict[str, NewJob] = {}  # the first job of each ref the store does not hold, in the order they came
        for job in chunk:
            if (job.station is None or job.station in known) and job.ref not in submitted:
                new.setdefault(job.ref, job)
        if new:
            ids = self._insert_jobs(db, list(new.values()), actor, now)
            for ref, job in new.items():
                record = JobRecord(ids[ref], ref, job.priority, JobState.QUEUED, 0, None, now, now, job.station)
                submitted[ref] = (job.digest, record)
        first = set(new)  # refs inserted now: the first job of each is new, a later one with them a duplicate
        results: list[SubmitResult | PrintdError] = []
        for job in chunk:
            if job.station is not None and job.station not in known:
                results.append(stations.unknown(job.station, sorted(known)))
                continue
            digest, record = submitted[job.ref]
            if digest != job.digest:
                results.append(
                    PrintdError(
                        "job.ref_conflict",
                        f"job reference {job.ref!r} was already submitted with different content;"
                        " use a new reference, or cancel the first job and use reprint",
                    )
                )
            else:
                results.append(SubmitResult(record, duplicate=job.ref not in first))
                first.discard(job.ref)
        return results

    def _insert_jobs(self, db: Db, jobs: list[NewJob], actor: str, now: float) -> dict[str, int]:
        """Insert new jobs (refs not in the store) with their content and submit event; their ids by ref."""
        values = ", ".join(["(?, ?, ?, 'queued', ?, ?, ?)"] * len(jobs))
        params = [v for job in jobs for v in (job.ref, job.digest, int(job.priority), now, now, job.station)]
        cur = db.execute(
            f"INSERT INTO jobs (ref, digest, priority, state, created_at, updated_at, station) VALUES {values}"
            " RETURNING id, ref",
            params,
        )
        ids = {ref: int(job_id) for job_id, ref in cur.fetchall()}
        # Whole statements rather than executemany: the driver sends each as one message and waits for it without
        # the interpreter lock, where a row at a time (even pipelined) keeps this thread busy in Python throughout.
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(jobs))
        c = [(ids[j.ref], j.content.front, j.content.back, j.content.chip, j.content.holder) for j in jobs]
        db.execute(f"INSERT INTO job_content (job_id, front, back, chip, holder) VALUES {values}", _flat(c))
        values = ", ".join(["(?, ?, 'submit', NULL, 'queued', ?, NULL, '')"] * len(jobs))
        db.execute(
            f"INSERT INTO job_events (job_id, at, event, from_state, to_state, actor, printer, detail) VALUES {values}",
            _flat((ids[j.ref], now, actor) for j in jobs),
        )
        return ids

    def get_job(self, key: int | str) -> JobRecord:
        with self._read() as db:
            return self._find_job(db, key)

    def list_jobs(
        self,
        state: JobState | None = None,
        limit: int = 100,
        station: str | None = None,
        priority: Priority | None = None,
    ) -> list[JobRecord]:
        """The newest jobs, or those in ``state`` in the order they print; ``station``: bound to that station."""
        where: list[str] = []
        args: list[object] = []
        if state is not None:
            where.append("state = ?")
            args.append(state.value)
        if station is not None:
            where.append("station = ?")
            args.append(station)
        if priority is not None:
            where.append("priority = ?")
            args.append(int(priority))
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY priority, id LIMIT ?" if state is not None else " ORDER BY id DESC LIMIT ?"
        with self._read() as db:
            return [_job(r) for r in db.execute(sql, (*args, limit)).fetchall()]

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
            counts.update(db.execute("SELECT state, sum(count) FROM queue_counts GROUP BY state").fetchall())
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
        try:
            with self._write() as db:
                return self._claim(db, printer, counters)
        except StorageUnavailableError:
            self._unconfirmed_claims.add(printer)
            raise

    def settle_attempt(
        self, attempt: Attempt, result: CardResult, actor: str = "printd", *, unprintable: bool = False
    ) -> JobRecord:
        """Record the driver's outcome, its ledger event and the job's transition in one transaction.

        ``unprintable``: the driver refused the job's content before feeding (NOT_FED): the job fails.
        """
        if unprintable and result.outcome is not Outcome.NOT_FED:
            raise ValueError("only a NOT_FED outcome can mark a job unprintable")
        try:
            with self._write() as db:
                return self._settle(db, attempt, result, actor, unprintable)
        except StorageUnavailableError:
            self._unconfirmed_settles.add(attempt.id)
            raise

    def settle_and_claim(
        self, attempt: Attempt, result: CardResult, counters: Counters | None
    ) -> tuple[JobRecord, Claim | None]:
        """Settle one card and claim the printer's next in one transaction: one commit (one fsync) per card.

        The write-ahead rule still holds: the next attempt, with the counters read after this card, is
        committed before the next blank can be fed. If the commit fails, neither is booked: the caller still
        holds the outcome, and no claim is returned, so nothing may be fed.
        """
        try:
            with self._write() as db:
                job = self._settle(db, attempt, result, "printd", False)
                return job, self._claim(db, attempt.printer, counters)
        except StorageUnavailableError:
            self._unconfirmed_settles.add(attempt.id)
            self._unconfirmed_claims.add(attempt.printer)
            raise

    def _claim(self, db: Db, printer: str, counters: Counters | None) -> Claim | None:
        # While storage is failing, no blank is taken: its outcome could not be booked after the card.
        if self.health.fault is not None:
            return None
        if printer in self._unconfirmed_claims:
            # A claim holds its station's custody row to its commit: taking that row first waits for a lost claim
            # still being committed, so its attempt is seen below.
            self._available_blanks(db)
            self._settle_unconfirmed_claims(db, printer, counters)
        if self._available_blanks(db) <= 0:
            return None
        # Jobs another station is claiming right now are passed over (their rows are locked), not waited for.
        row = db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'queued' AND (station IS NULL OR station = ?)"
            f" ORDER BY priority, id LIMIT 1{db.dialect.skip_locked}",
            (self.station,),
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
        (attempt_id,) = db.execute(
            "INSERT INTO attempts (job_id, printer, station, number, started_at, cards_fed_before)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (job.id, printer, self.station, job.attempts + 1, now, before),
        ).fetchone()
        attempt = Attempt(attempt_id, job.id, printer, job.attempts + 1, before, now)
        return Claim(job, attempt, JobContent(*content_row))

    def _settle_unconfirmed_claims(self, db: Db, printer: str, counters: Counters | None) -> None:
        """A claim of ``printer`` failed at its commit, which may yet have gone through (a connection lost while
        committing). The printer asks for work again only with nothing in hand, so an open attempt of its own now
        is that claim, and no blank was fed for it."""
        self._unconfirmed_claims.discard(printer)
        rows = db.execute(
            "SELECT id, job_id, printer, number, cards_fed_before, started_at FROM attempts"
            " WHERE printer = ? AND station = ? AND outcome IS NULL ORDER BY id",
            (printer, self.station),
        ).fetchall()
        for row in rows:
            result = CardResult(Outcome.NOT_FED, detail=UNCONFIRMED_CLAIM, counters_after=counters)
            self._settle(db, Attempt(*row), result, "printd", False)

    def _settle(self, db: Db, attempt: Attempt, result: CardResult, actor: str, unprintable: bool) -> JobRecord:
        job = self._find_job(db, attempt.job_id)
        if self._already_settled(db, attempt, result):
            return job  # a retry of a commit whose confirmation was lost: booked once already
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

    def _already_settled(self, db: Db, attempt: Attempt, result: CardResult) -> bool:
        """True when this settlement is the retry of one whose commit failed yet went through (the connection was
        lost while committing): the attempt holds this very outcome already. Any other second settlement is
        refused by ``_close_attempt``."""
        if attempt.id not in self._unconfirmed_settles:
            return False
        self._unconfirmed_settles.discard(attempt.id)
        # The commit whose confirmation was lost may still be under way on the server (the retry comes at once over
        # a new connection): its transaction holds the attempt's row, so wait for it and read what it committed.
        sql = f"SELECT outcome FROM attempts WHERE id = ?{db.dialect.for_update}"
        (outcome,) = db.execute(sql, (attempt.id,)).fetchone()
        return bool(outcome == result.outcome.value)

    def open_attempts(self, printer: str | None = None) -> list[Attempt]:
        """This station's attempts with no outcome yet (another station settles its own)."""
        with self._read() as db:
            sql = (
                "SELECT id, job_id, printer, number, cards_fed_before, started_at FROM attempts"
                " WHERE outcome IS NULL AND station = ?"
            )
            sql += " AND printer = ? ORDER BY id" if printer else " ORDER BY id"
            rows = db.execute(sql, (self.station, printer) if printer else (self.station,)).fetchall()
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
                "SELECT id, printer, attempt_id, chip_uid, station FROM ledger WHERE job_id = ? AND kind = 'in_doubt'"
                " AND id NOT IN (SELECT CAST(reference AS INTEGER) FROM ledger WHERE kind = 'resolved'"
                " AND job_id = ?) ORDER BY id DESC LIMIT 1",
                (job.id, job.id),
            ).fetchone()
            if row is None:
                raise PrintdError("internal", f"job {job.id} is in doubt but has no open in-doubt blank")
            doubt_id, printer, attempt_id, chip_uid, fed_at = row
            # booked in the custody the blank was taken from, whichever station's operator resolves it
            self._book(
                db,
                LedgerEntry(LedgerKind.RESOLVED, resolution=resolution),
                actor=actor,
                printer=printer,
                job_id=job.id,
                attempt_id=attempt_id,
                chip_uid=chip_uid,
                reference=str(doubt_id),
                station=fed_at,
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
            (fed_at,) = db.execute("SELECT station FROM attempts WHERE id = ?", (found.attempt_id,)).fetchone()
            self._book(
                db,
                LedgerEntry(LedgerKind.SPOILED, from_issued=True),
                station=fed_at,  # the custody the card was printed from, whoever inspects it
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
            lock_key(db, f"receipt:{reference}")
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
        """The whole queue's balance, every station's custody together."""
        with self._read() as db:
            totals = dict(db.execute("SELECT place, sum(count) FROM stock_totals GROUP BY place").fetchall())
        return Balance(**{k: int(v) for k, v in totals.items()})

    def balance_by_station(self) -> dict[str, Balance]:
        """Each station's custody: its receipts and transfers, and what its printers did with them."""
        with self._read() as db:
            return _custody(db)

    def overview(self) -> Overview:
        """The queue, every station's custody (an empty one for a station that never held a blank), each printer's
        blanks and the stations, in one snapshot: what a status reply shows."""
        with self._read() as db:
            queue = {s.value: 0 for s in JobState}
            queue.update(db.execute("SELECT state, sum(count) FROM queue_counts GROUP BY state").fetchall())
            views = stations.views(db)
            custody = {view.name: Balance() for view in views} | _custody(db)
            waiting = _waiting(db, _WAITING_KEPT)
            return Overview(queue, dict(sorted(custody.items())), _printer_totals(db), views, waiting)

    def balance_from_ledger(self) -> Balance:
        """The balance folded from every ledger event: the truth the cached totals must equal. (Events of one
        shape are summed by the database: a fold of shapes, not of a million rows held in memory.)"""
        balance = Balance()
        with self._read() as db:
            for k, r, f, events, count in db.execute(
                f"SELECT kind, resolution, from_issued, {_SHAPE_SUMS} FROM ledger"
                " GROUP BY kind, resolution, from_issued"
            ).fetchall():
                balance.apply(_shape(k, r, f, count), int(events))
        return balance

    def balance_by_station_from_ledger(self) -> dict[str, Balance]:
        """Per station, the fold of the events booked at it and of the transfers into it: the truth the kept
        custody totals must equal."""
        per: dict[str, Balance] = {}
        with self._read() as db:
            rows = db.execute(
                f"SELECT station, to_station, kind, resolution, from_issued, {_SHAPE_SUMS} FROM ledger"
                " GROUP BY station, to_station, kind, resolution, from_issued"
            ).fetchall()
        for station, to_station, k, r, f, events, count in rows:
            entry = _shape(k, r, f, count)
            if to_station is None:
                per.setdefault(station, Balance()).apply(entry, int(events))
            else:
                per.setdefault(station, Balance()).apply(replace(entry, transfer=Direction.OUT), int(events))
                per.setdefault(to_station, Balance()).apply(replace(entry, transfer=Direction.IN), int(events))
        return dict(sorted(per.items()))

    def transfer_stock(self, count: int, to: str, reference: str, actor: str, source: str | None = None) -> Transfer:
        """Move ``count`` blanks on hand from ``source``'s custody (this station's by default) to ``to``'s, in one
        transaction, booked once under ``reference``: the same reference and count again return the first
        transfer; anything else under it is refused, as is a source with fewer blanks free."""
        source = source or self.station
        if count <= 0:
            raise PrintdError("stock.invalid_count", f"a transfer moves at least one blank; {count} was given")
        if to == source:
            raise PrintdError(
                "stock.transfer_same_station", f"the blanks are in the custody of station {source!r} already"
            )
        with self._write() as db:
            lock_key(db, f"transfer:{reference}")
            first = stations.transfer_booked(db, reference)
            if first is not None:
                return stations.same_transfer(first, count, source, to)
            stations.require_known(db, source)
            stations.require_known(db, to)
            available = self._available_blanks(db, source)
            if available < count:
                in_flight = self._blanks_in_flight(db, source)
                raise PrintdError(
                    "stock.insufficient",
                    f"station {source!r} has only {available} blank(s) on hand and free"
                    + (f" ({in_flight} more being printed now)" if in_flight else "")
                    + f", so {count} cannot be transferred; transfer fewer, or receive the delivery first",
                    {"available": available, "in_flight": in_flight},
                )
            entry = LedgerEntry(LedgerKind.TRANSFERRED, count=count)
            self._book(db, entry, actor=actor, reference=reference, station=source, to_station=to)
            found = stations.transfer_booked(db, reference)
        assert found is not None
        return found

    def balance_by_printer(self) -> dict[str, dict[str, int]]:
        with self._read() as db:
            return _printer_totals(db)

    def balance_by_printer_from_ledger(self) -> dict[str, Balance]:
        """Per printer, the fold of its ledger events: the truth the kept per-printer totals must equal. Only
        events that move a printer's blanks count (a reconciliation, or an adjustment naming a printer, make no
        row: the kept totals have none for them either)."""
        per: dict[str, Balance] = {}
        with self._read() as db:
            rows = db.execute(
                f"SELECT printer, kind, resolution, from_issued, {_SHAPE_SUMS} FROM ledger WHERE printer IS NOT NULL"
                " AND kind IN ('issued', 'spoiled', 'in_doubt', 'resolved') GROUP BY printer, kind, resolution,"
                " from_issued"
            ).fetchall()
        for printer, k, r, f, events, count in rows:
            per.setdefault(printer, Balance()).apply(_shape(k, r, f, count), int(events))
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
        """Jobs waiting to be printed (queued or held), by priority label, from the kept counts."""
        with self._read() as db:
            return _waiting(db, _WAITING_KEPT)

    def backlog_by_priority_from_jobs(self) -> dict[str, int]:
        """The same by a scan of the jobs: the truth the kept counts must equal (for tests and audits)."""
        with self._read() as db:
            return _waiting(db, _WAITING_COUNTED)

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
                        station=item.station,
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

    def transfers(self, limit: int = 100) -> list[Transfer]:
        """The latest transfers between stations, newest first."""
        with self._read() as db:
            return stations.transfers(db, limit)

    def stock_history(self, limit: int = 100, kind: str | None = None) -> list[StockEvent]:
        """Receipts, adjustments, transfers and berita acara, newest first (see printd/store/stock_history.py)."""
        if kind is not None and kind not in stock_history.KINDS:
            raise ValueError(f"the stock history has kinds {', '.join(stock_history.KINDS)}, not {kind!r}")
        with self._read() as db:
            return stock_history.history(db, limit, kind)

    # ---- stations -----------------------------------------------------------------------------------

    def register_station(self, printers: list[str], host: str, pid: int) -> None:
        """Record this station as running, with its printers (each printer name belongs to one station)."""
        with self._write() as db:
            stations.register(db, self.station, printers, host, pid, time.time())

    def station_heard(self, summary: dict[str, object]) -> None:
        """Note that this station is alive, with what it says of itself (its printers' states)."""
        with self._write() as db:
            stations.heard(db, self.station, summary, time.time())

    def stations(self) -> list[StationView]:
        with self._read() as db:
            return stations.views(db)

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

    # ---- dashboard accounts (see printd/store/accounts.py) ---------------------------------------------

    def add_account(self, new: NewAccount, actor: str) -> Account:
        with self._write() as db:
            return accounts.add(db, new, actor, time.time())

    def change_account(self, name: str, change: AccountChange, actor: str) -> Account:
        with self._write() as db:
            return accounts.change(db, name, change, actor, time.time())

    def account(self, name: str) -> Account | None:
        with self._read() as db:
            return accounts.get(db, name)

    def list_accounts(self) -> list[Account]:
        with self._read() as db:
            return accounts.listed(db)

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

    def _find_job(self, db: Db, key: int | str) -> JobRecord:
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
        db: Db,
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
        # Kept counts are hot rows every station writes: always in one order, so two transactions never deadlock.
        for state, change in sorted(((job.state, -1), (target, 1)), key=lambda moved: moved[0].value):
            self._count(db, state, job.priority, change)
        self._log_event(db, job.id, event.value, job.state, target, actor, printer, detail, now)
        return replace(job, state=target, printer=printer or job.printer, updated_at=now)

    def _count(self, db: Db, state: JobState, priority: Priority, change: int) -> None:
        """Move the kept count of jobs in ``state`` of ``priority``, in this station's row: stations changing jobs
        at once never wait for one another's row, and only the sum over stations means anything."""
        db.execute(
            "INSERT INTO queue_counts (station, state, priority, count) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (station, state, priority) DO UPDATE SET count = queue_counts.count + excluded.count",
            (self.station, state.value, int(priority), change),
        )

    def _require_content(self, db: Db, job_id: int) -> None:
        if db.execute("SELECT 1 FROM job_content WHERE job_id = ?", (job_id,)).fetchone() is None:
            raise PrintdError(
                "job.content_purged",
                f"job {job_id} ended longer ago than the retention period and its card content was purged;"
                " submit it again under a new reference",
            )

    def _log_event(
        self,
        db: Db,
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

    def _close_attempt(self, db: Db, attempt: Attempt, outcome: str, result: CardResult, now: float) -> None:
        after = result.counters_after.cards_fed if result.counters_after else None
        cur = db.execute(
            "UPDATE attempts SET outcome = ?, settled_at = ?, cards_fed_after = COALESCE(?, cards_fed_after),"
            " chip_uid = ?, detail = ? WHERE id = ? AND outcome IS NULL AND station = ?",
            (outcome, now, after, result.chip_uid, result.detail, attempt.id, self.station),
        )
        if cur.rowcount != 1:
            row = db.execute("SELECT station FROM attempts WHERE id = ?", (attempt.id,)).fetchone()
            if row is not None and row[0] != self.station:
                raise PrintdError(
                    "internal",
                    f"attempt {attempt.id} belongs to station {row[0]!r}; only that station settles its cards",
                )
            raise PrintdError("internal", f"attempt {attempt.id} was already settled; refusing to book it twice")

    def _book(
        self,
        db: Db,
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
        station: str | None = None,
        to_station: str | None = None,
    ) -> int:
        """Append one ledger event at ``station`` (this one by default) and move the kept totals by the same fold,
        in the caller's transaction. A transfer (``to_station``) moves the totals of both its stations."""
        at = time.time()
        station = station or self.station
        (event_id,) = db.execute(
            "INSERT INTO ledger (at, kind, count, resolution, from_issued, station, printer, job_id, attempt_id,"
            " chip_uid, category, detail, reference, actor, to_station)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                at,
                entry.kind.value,
                entry.count,
                entry.resolution.value if entry.resolution else None,
                int(entry.from_issued),
                station,
                printer,
                job_id,
                attempt_id,
                chip_uid,
                category,
                detail,
                reference,
                actor,
                to_station,
            ),
        ).fetchone()
        ledger_reads.count_in_quarter(
            db,
            station,
            at,
            entry.kind.value,
            entry.resolution.value if entry.resolution else None,
            entry.from_issued,
            category,
            entry.count,
        )
        if to_station is None:
            self._move_totals(db, station, entry, printer)
        else:
            self._move_totals(db, station, replace(entry, transfer=Direction.OUT), None)
            self._move_totals(db, to_station, replace(entry, transfer=Direction.IN), None)
        return int(event_id)

    def _move_totals(self, db: Db, station: str, entry: LedgerEntry, printer: str | None) -> None:
        for place, change in Balance.fold([entry]).as_dict().items():
            if not change:
                continue
            db.execute(
                "INSERT INTO stock_totals (station, place, count) VALUES (?, ?, ?)"
                " ON CONFLICT (station, place) DO UPDATE SET count = stock_totals.count + excluded.count",
                (station, place, change),
            )
            if printer is not None and place in PRINTER_PLACES:
                db.execute(
                    "INSERT INTO printer_totals (printer, place, count) VALUES (?, ?, ?)"
                    " ON CONFLICT (printer, place) DO UPDATE SET count = printer_totals.count + excluded.count",
                    (printer, place, change),
                )

    def _available_blanks(self, db: Db, station: str | None = None) -> int:
        """Blanks on hand in ``station``'s custody (this one's by default) that no open attempt has taken. In a
        write transaction the custody's row stays locked until it commits: claims and transfers out of one
        station's custody take turns, so no blank is promised twice."""
        station = station or self.station
        row = db.execute(
            f"SELECT count FROM stock_totals WHERE station = ? AND place = 'on_hand'{db.dialect.for_update}",
            (station,),
        ).fetchone()
        return (int(row[0]) if row else 0) - self._blanks_in_flight(db, station)

    def _blanks_in_flight(self, db: Db, station: str | None = None) -> int:
        return int(
            db.execute(
                "SELECT count(*) FROM attempts WHERE outcome IS NULL AND station = ?", (station or self.station,)
            ).fetchone()[0]
        )


_WAITING_KEPT = "SELECT priority, sum(count) FROM queue_counts WHERE state IN ('queued', 'held') GROUP BY priority"
_WAITING_COUNTED = "SELECT priority, count(*) FROM jobs WHERE state IN ('queued', 'held') GROUP BY priority"


def _waiting(db: Db, sql: str) -> dict[str, int]:
    """Jobs waiting (queued or held) by priority label, every priority present."""
    counts = {p.label: 0 for p in Priority}
    counts.update({Priority(int(p)).label: int(n) for p, n in db.execute(sql).fetchall()})
    return counts
