"""Durable state: the job queue, write-ahead attempts and the blank ledger (SQLite by default)."""

from printd.store.interface import Store
from printd.store.records import Attempt, Claim, JobContent, JobRecord, NewJob, SubmitResult
from printd.store.sqlite import SqliteStore

__all__ = ["Attempt", "Claim", "JobContent", "JobRecord", "NewJob", "SqliteStore", "Store", "SubmitResult"]
