"""The job state machine, as a data table: which event moves a job from which state to which.

Invariants:
- A job is in exactly one state; only the transitions in TRANSITIONS exist.
- ``printing`` is entered only by ``claim`` and left only by a driver outcome or start-up settlement.
- No transition out of ``printing`` books a blank by itself: the ledger event travels with it (ledger.py).
"""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    QUEUED = "queued"
    PRINTING = "printing"
    HELD = "held"
    IN_DOUBT = "in_doubt"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"


class JobEvent(enum.StrEnum):
    CLAIM = "claim"
    PRINTED = "printed"
    SPOILED = "spoiled"  # a blank was used, a reprint is due
    SPOILED_LAST = "spoiled_last"  # a blank was used and max_attempts is reached
    NOT_FED = "not_fed"
    UNKNOWN = "unknown"
    UNPRINTABLE = "unprintable"  # the driver refused the content before feeding: no blank used
    HOLD = "hold"
    RELEASE = "release"
    CANCEL = "cancel"
    RESOLVE_PRINTED = "resolve_printed"
    RESOLVE_SPOILED = "resolve_spoiled"
    RESOLVE_SPOILED_LAST = "resolve_spoiled_last"
    RESOLVE_NOT_FED = "resolve_not_fed"
    REPRINT = "reprint"
    QC_SPOIL = "qc_spoil"  # an operator rejects a printed card at inspection
    QC_SPOIL_CONTENT_PURGED = "qc_spoil_content_purged"  # ... after the retention purged what to print again


class Priority(enum.IntEnum):
    """Lower prints first: a walk-in resident waits at the counter, the backlog waits at home."""

    WALK_IN = 0
    NORMAL = 1
    BACKLOG = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Priority:
        return cls[label.upper()]


S, E = JobState, JobEvent

TRANSITIONS: dict[tuple[JobState, JobEvent], JobState] = {
    (S.QUEUED, E.CLAIM): S.PRINTING,
    (S.QUEUED, E.HOLD): S.HELD,
    (S.QUEUED, E.CANCEL): S.CANCELED,
    (S.HELD, E.RELEASE): S.QUEUED,
    (S.HELD, E.CANCEL): S.CANCELED,
    (S.PRINTING, E.PRINTED): S.DONE,
    (S.PRINTING, E.SPOILED): S.QUEUED,
    (S.PRINTING, E.SPOILED_LAST): S.FAILED,
    (S.PRINTING, E.NOT_FED): S.QUEUED,
    (S.PRINTING, E.UNKNOWN): S.IN_DOUBT,
    (S.PRINTING, E.UNPRINTABLE): S.FAILED,
    (S.IN_DOUBT, E.RESOLVE_PRINTED): S.DONE,
    (S.IN_DOUBT, E.RESOLVE_SPOILED): S.QUEUED,
    (S.IN_DOUBT, E.RESOLVE_SPOILED_LAST): S.FAILED,
    (S.IN_DOUBT, E.RESOLVE_NOT_FED): S.QUEUED,
    (S.DONE, E.REPRINT): S.QUEUED,
    (S.FAILED, E.REPRINT): S.QUEUED,
    (S.DONE, E.QC_SPOIL): S.QUEUED,
    (S.DONE, E.QC_SPOIL_CONTENT_PURGED): S.FAILED,
}

ENDED = frozenset({S.DONE, S.FAILED, S.CANCELED})


class TransitionError(Exception):
    def __init__(self, state: JobState, event: JobEvent) -> None:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is state)
        super().__init__(
            f"a {state.value} job cannot take '{event.value}'"
            + (f"; from {state.value} it can take: {', '.join(allowed)}" if allowed else "")
        )
        self.state = state
        self.event = event


def next_state(state: JobState, event: JobEvent) -> JobState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(state, event) from None


def spoil_event(attempts_used: int, max_attempts: int, *, resolving: bool = False) -> JobEvent:
    """The event for a spoiled blank: reprint while blanks used stay under max_attempts."""
    last = attempts_used >= max_attempts
    if resolving:
        return E.RESOLVE_SPOILED_LAST if last else E.RESOLVE_SPOILED
    return E.SPOILED_LAST if last else E.SPOILED
