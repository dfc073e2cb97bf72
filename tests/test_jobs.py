"""The job state table, transition by transition."""

import pytest

from printd.jobs import TRANSITIONS, JobEvent, JobState, Priority, TransitionError, next_state, spoil_event

S, E = JobState, JobEvent

EXPECTED = [
    (S.QUEUED, E.CLAIM, S.PRINTING),
    (S.QUEUED, E.HOLD, S.HELD),
    (S.QUEUED, E.CANCEL, S.CANCELED),
    (S.HELD, E.RELEASE, S.QUEUED),
    (S.HELD, E.CANCEL, S.CANCELED),
    (S.PRINTING, E.PRINTED, S.DONE),
    (S.PRINTING, E.SPOILED, S.QUEUED),
    (S.PRINTING, E.SPOILED_LAST, S.FAILED),
    (S.PRINTING, E.NOT_FED, S.QUEUED),
    (S.PRINTING, E.UNKNOWN, S.IN_DOUBT),
    (S.PRINTING, E.UNPRINTABLE, S.FAILED),
    (S.IN_DOUBT, E.RESOLVE_PRINTED, S.DONE),
    (S.IN_DOUBT, E.RESOLVE_SPOILED, S.QUEUED),
    (S.IN_DOUBT, E.RESOLVE_SPOILED_LAST, S.FAILED),
    (S.IN_DOUBT, E.RESOLVE_NOT_FED, S.QUEUED),
    (S.DONE, E.REPRINT, S.QUEUED),
    (S.FAILED, E.REPRINT, S.QUEUED),
    (S.DONE, E.QC_SPOIL, S.QUEUED),
    (S.DONE, E.QC_SPOIL_CONTENT_PURGED, S.FAILED),
]


@pytest.mark.parametrize(("state", "event", "target"), EXPECTED)
def test_each_allowed_transition(state: JobState, event: JobEvent, target: JobState) -> None:
    assert next_state(state, event) is target


def test_table_has_exactly_the_designed_transitions() -> None:
    assert {(s, e): t for s, e, t in EXPECTED} == TRANSITIONS


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("event", list(JobEvent))
def test_every_other_pair_is_refused(state: JobState, event: JobEvent) -> None:
    if (state, event) in TRANSITIONS:
        return
    with pytest.raises(TransitionError) as info:
        next_state(state, event)
    assert state.value in str(info.value)


def test_cannot_cancel_while_printing_and_message_lists_alternatives() -> None:
    with pytest.raises(TransitionError, match="printing job cannot take 'cancel'; from printing it can take"):
        next_state(S.PRINTING, E.CANCEL)


def test_spoil_event_counts_blanks_against_max_attempts() -> None:
    assert spoil_event(1, 3) is E.SPOILED
    assert spoil_event(3, 3) is E.SPOILED_LAST
    assert spoil_event(2, 3, resolving=True) is E.RESOLVE_SPOILED
    assert spoil_event(3, 3, resolving=True) is E.RESOLVE_SPOILED_LAST


def test_priorities_order_walk_in_first() -> None:
    assert sorted([Priority.BACKLOG, Priority.WALK_IN, Priority.NORMAL]) == [
        Priority.WALK_IN,
        Priority.NORMAL,
        Priority.BACKLOG,
    ]
    assert Priority.from_label("walk_in") is Priority.WALK_IN
    with pytest.raises(KeyError):
        Priority.from_label("urgent")
