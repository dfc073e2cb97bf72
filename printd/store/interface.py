"""The store's interface: every read and write of printd's durable state, named by use, whatever the engine.

Station, control and reports code depend on ``Store``, never on one engine; ``SqliteStore`` and ``PostgresStore``
provide it (mypy checks that they do), and every engine passes the one store contract suite in tests/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from drivers.base import CardResult, Counters, SpoilCategory
from printd.errors import PrintdError
from printd.jobs import JobEvent, JobState, Priority
from printd.ledger import Balance, Reconciliation, Resolution
from printd.store.accounts import Account, AccountChange, NewAccount
from printd.store.cards import Card
from printd.store.health import StorageHealth
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
)
from printd.store.stations import StationView, Transfer
from printd.store.stock_history import StockEvent


class Store(Protocol):
    station: str
    max_attempts: int
    health: StorageHealth

    # ---- jobs ------------------------------------------------------------------------------------
    def submit(self, job: NewJob, actor: str) -> SubmitResult: ...

    def submit_many(self, jobs: Sequence[NewJob], actor: str) -> list[SubmitResult | PrintdError]:
        """Insert jobs in one transaction; a ref seen before is the same job (or a conflict)."""
        ...

    def get_job(self, key: int | str) -> JobRecord: ...

    def list_jobs(
        self,
        state: JobState | None = None,
        limit: int = 100,
        station: str | None = None,
        priority: Priority | None = None,
    ) -> list[JobRecord]: ...

    def job_history(self, job_id: int) -> list[dict[str, object]]: ...

    def job_content(self, job_id: int) -> JobContent | None: ...

    def job_cards(self, job_id: int) -> list[Card]:
        """The job's attempts, oldest first, each with what became of its blank."""
        ...

    def queue_counts(self) -> dict[str, int]: ...

    def queue_counts_from_jobs(self) -> dict[str, int]:
        """The counts by a scan of every job: the truth the kept counts must equal (for tests and audits)."""
        ...

    def transition(self, key: int | str, event: JobEvent, actor: str, detail: str = "") -> JobRecord:
        """An operator's state change (hold, release, cancel, reprint)."""
        ...

    def backlog_by_priority(self) -> dict[str, int]:
        """Jobs waiting to be printed (queued or held), by priority label."""
        ...

    def backlog_by_priority_from_jobs(self) -> dict[str, int]:
        """The same counted from the jobs themselves (tests and audits)."""
        ...

    # ---- printing: the write-ahead rule ----------------------------------------------------------
    def claim_next(self, printer: str, counters: Counters | None) -> Claim | None:
        """Take the next job and commit its attempt, with the printer's counters, before any feed."""
        ...

    def settle_attempt(
        self, attempt: Attempt, result: CardResult, actor: str = "printd", *, unprintable: bool = False
    ) -> JobRecord:
        """Record the driver's outcome, its ledger event and the job's transition in one transaction."""
        ...

    def settle_and_claim(
        self, attempt: Attempt, result: CardResult, counters: Counters | None
    ) -> tuple[JobRecord, Claim | None]:
        """Settle one card and claim the printer's next in one transaction: one commit (one fsync) per card."""
        ...

    def open_attempts(self, printer: str | None = None) -> list[Attempt]: ...

    def settle_interrupted(self, attempt: Attempt, cards_fed_now: int, *, rejected_at_start: bool = False) -> JobRecord:
        """Start-up settlement of an attempt cut off by a restart, from the printer's card counter."""
        ...

    def resolve(
        self,
        key: int | str,
        resolution: Resolution,
        actor: str,
        note: str = "",
        category: SpoilCategory | None = None,
    ) -> JobRecord:
        """An operator settles an in-doubt blank from what the output hopper and reject box show."""
        ...

    def qc_spoil(
        self,
        key: int | str,
        card: int | str,
        category: SpoilCategory,
        detail: str,
        actor: str,
    ) -> QcSpoil:
        """An operator rejects a printed card (named by attempt id or chip UID) at inspection; once per card."""
        ...

    # ---- stock and the ledger --------------------------------------------------------------------
    def receive_stock(self, count: int, reference: str, actor: str, serials: str | None = None) -> Receipt:
        """Book a delivery once: the same reference, count and serials again return the first receipt."""
        ...

    def adjust_stock(self, count: int, reason: str, actor: str, printer: str | None = None) -> int:
        """A supervisor's correction of the stock on hand (a miscount, blanks fed outside printd on ``printer``)."""
        ...

    def balance(self) -> Balance:
        """The whole queue's balance, every station's custody together."""
        ...

    def balance_by_station(self) -> dict[str, Balance]: ...

    def overview(self) -> Overview:
        """Queue, custody per station, blanks per printer and the stations, in one snapshot (for status)."""
        ...

    def balance_by_station_from_ledger(self) -> dict[str, Balance]:
        """Per station, the fold of its events and the transfers into it: the truth the kept totals must equal."""
        ...

    def transfer_stock(self, count: int, to: str, reference: str, actor: str, source: str | None = None) -> Transfer:
        """Move blanks on hand from one station's custody to another's, booked once under ``reference``."""
        ...

    def transfers(self, limit: int = 100) -> list[Transfer]: ...

    def stock_history(self, limit: int = 100, kind: str | None = None) -> list[StockEvent]:
        """Receipts, adjustments, transfers and berita acara (one row each), newest first; ``kind``: only those."""
        ...

    def balance_from_ledger(self) -> Balance:
        """The balance folded from every ledger event: the truth the cached totals must equal."""
        ...

    def balance_by_printer(self) -> dict[str, dict[str, int]]: ...

    def balance_by_printer_from_ledger(self) -> dict[str, Balance]:
        """Per printer, the fold of its ledger events: the truth the kept per-printer totals must equal."""
        ...

    def spoiled_list(self, since: float | None = None, category: str | None = None) -> list[dict[str, object]]: ...

    def ledger_events(self) -> list[dict[str, object]]: ...

    # ---- reports ---------------------------------------------------------------------------------
    def period_reads(self, start: float, end: float, *, rows: bool = True) -> PeriodReads:
        """In one snapshot: every event before ``start`` grouped by shape, and the period's events."""
        ...

    def quarters_consistent(self) -> bool:
        """The kept quarter-hour sums equal a scan of the ledger (for tests and audits)."""
        ...

    # ---- berita acara ----------------------------------------------------------------------------
    def pending_spoils(self, before: float | None = None) -> list[HandoverItem]:
        """Spoiled blanks in no berita acara yet (booked before ``before``; None: all), oldest first."""
        ...

    def book_handover(self, draft: Handover, before: float | None) -> Handover:
        """Book every pending spoiled blank (before ``before``) as ``draft.kind`` under ``draft.number``."""
        ...

    def handover(self, number: str) -> Handover: ...

    def handover_numbers(self, limit: int = 100) -> list[tuple[str, int]]: ...

    # ---- reconciliation --------------------------------------------------------------------------
    def reconcile(self, printer: str, counter: int, actor: str) -> Reconciliation:
        """Hold ``printer``'s card counter against the ledger and record it as a ``reconciled`` event."""
        ...

    def reconciliations(self, printer: str | None = None, limit: int = 100) -> list[Reconciliation]:
        """The latest reconciliations, newest first."""
        ...

    def unreconciled(self, printer: str, counter: int | None) -> int | None:
        """Blanks still unexplained on ``printer`` given its counter now; None when it was never reconciled."""
        ...

    # ---- stations --------------------------------------------------------------------------------
    def register_station(self, printers: list[str], host: str, pid: int) -> None: ...

    def station_heard(self, summary: dict[str, object]) -> None: ...

    def stations(self) -> list[StationView]: ...

    def lock_station(self) -> None:
        """Refuse (``station.running``) when another process runs this station on the store."""
        ...

    def watch_queue(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when another process makes work this station may print."""
        ...

    # ---- printers --------------------------------------------------------------------------------
    def set_printer_paused(self, name: str, paused: bool, reason: str | None, actor: str = "printd") -> None: ...

    def printer_events(self, name: str) -> list[dict[str, object]]: ...

    def printer_pauses(self) -> dict[str, str | None]: ...

    # ---- dashboard accounts (not ledger data) -----------------------------------------------------
    def add_account(self, new: NewAccount, actor: str) -> Account:
        """Create a dashboard account (``account.exists`` when the name is taken)."""
        ...

    def change_account(self, name: str, change: AccountChange, actor: str) -> Account:
        """Change an account's password hash, disabled flag or language (``account.not_found``)."""
        ...

    def account(self, name: str) -> Account | None: ...

    def list_accounts(self) -> list[Account]:
        """Every account, by name."""
        ...

    # ---- retention and lifetime ------------------------------------------------------------------
    def purge_content(self, ended_before: float) -> int:
        """Delete the personal data (faces, chip payload, holder) of jobs that ended before the cutoff."""
        ...

    def close(self) -> None: ...
