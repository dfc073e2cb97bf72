"""Working days: weekends, holidays, counting back for the forecast window and stepping forward over a lead time."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printd.reports.calendar import WorkCalendar

D = dt.date
MON, FRI, SAT, SUN = D(2026, 3, 2), D(2026, 3, 6), D(2026, 3, 7), D(2026, 3, 8)
NEW_YEAR = D(2026, 1, 1)  # a Thursday
OFFICE = WorkCalendar(holidays=frozenset({NEW_YEAR, D(2026, 3, 19), D(2026, 3, 20)}))  # Thu-Fri off in March


def test_weekend_and_holidays_are_not_working_days() -> None:
    assert [MON.weekday(), FRI.weekday(), SAT.weekday(), SUN.weekday()] == [0, 4, 5, 6]
    cal = WorkCalendar()
    assert cal.is_working(MON) and cal.is_working(FRI) and cal.is_working(NEW_YEAR)
    assert not cal.is_working(SAT) and not cal.is_working(SUN)
    assert not OFFICE.is_working(NEW_YEAR)
    six_day_week = WorkCalendar(weekend=frozenset({6}))
    assert six_day_week.is_working(SAT) and not six_day_week.is_working(SUN)


def test_working_days_back_from_a_working_day_includes_it() -> None:
    assert WorkCalendar().working_days_back(FRI, 3) == [D(2026, 3, 4), D(2026, 3, 5), FRI]


def test_working_days_back_from_a_weekend_starts_at_the_friday_before() -> None:
    assert WorkCalendar().working_days_back(SUN, 3) == [D(2026, 3, 4), D(2026, 3, 5), FRI]
    assert WorkCalendar().working_days_back(SAT, 1) == [FRI]


def test_working_days_back_skips_holidays_and_may_end_on_one() -> None:
    # 19 and 20 March are holidays: from the 20th (a holiday) back, the last three are Mon-Wed of that week.
    assert OFFICE.working_days_back(D(2026, 3, 20), 3) == [D(2026, 3, 16), D(2026, 3, 17), D(2026, 3, 18)]
    assert OFFICE.working_days_back(D(2026, 3, 23), 2) == [D(2026, 3, 18), D(2026, 3, 23)]
    # Over New Year: 31 Dec (Wed) then 2 Jan (Fri).
    assert OFFICE.working_days_back(D(2026, 1, 2), 2) == [D(2025, 12, 31), D(2026, 1, 2)]


def test_working_days_back_zero_is_empty() -> None:
    assert WorkCalendar().working_days_back(MON, 0) == []
    assert WorkCalendar().working_days_back(SUN, 0) == []


def test_working_days_between_counts_after_start_up_to_end() -> None:
    cal = WorkCalendar()
    assert cal.working_days_between(MON, MON) == 0
    assert cal.working_days_between(FRI, D(2026, 3, 9)) == 1  # Fri -> Mon
    assert cal.working_days_between(SAT, SUN) == 0
    assert cal.working_days_between(SAT, D(2026, 3, 9)) == 1
    assert cal.working_days_between(MON, D(2026, 3, 27)) == 19  # four weeks of five, less the start
    assert OFFICE.working_days_between(MON, D(2026, 3, 27)) == 17  # two holidays inside
    assert OFFICE.working_days_between(D(2025, 12, 31), D(2026, 1, 2)) == 1
    holiday_on_weekend = WorkCalendar(holidays=frozenset({SAT}))
    assert holiday_on_weekend.working_days_between(FRI, D(2026, 3, 9)) == 1  # not taken off twice


def test_add_working_days() -> None:
    cal = WorkCalendar()
    assert cal.add_working_days(FRI, 1) == D(2026, 3, 9)
    assert cal.add_working_days(SAT, 0) == SAT  # zero steps stay put, working day or not
    assert cal.add_working_days(SAT, 1) == D(2026, 3, 9)
    assert cal.add_working_days(MON, 20) == D(2026, 3, 30)
    assert OFFICE.add_working_days(D(2026, 3, 18), 1) == D(2026, 3, 23)
    assert OFFICE.add_working_days(D(2025, 12, 31), 1) == D(2026, 1, 2)


@pytest.mark.parametrize(
    ("weekend", "message"),
    [
        (frozenset({7}), "0 \\(Monday\\) to 6 \\(Sunday\\), got 7"),
        (frozenset({-1}), "got -1"),
        (frozenset({"saturday"}), "got 'saturday'"),
        (frozenset(range(7)), "no working day"),
    ],
)
def test_bad_weekend_is_refused(weekend: frozenset[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkCalendar(weekend=weekend)


def test_bad_dates_and_counts_are_refused() -> None:
    cal = WorkCalendar()
    with pytest.raises(TypeError, match=r"a holiday must be a datetime\.date"):
        WorkCalendar(holidays=frozenset({dt.datetime(2026, 1, 1)}))  # would never match a date
    with pytest.raises(TypeError, match=r"until must be a datetime\.date"):
        cal.working_days_back(dt.datetime(2026, 3, 6, 12), 1)
    with pytest.raises(ValueError, match="n must be 0 or more, got -1"):
        cal.working_days_back(FRI, -1)
    with pytest.raises(TypeError, match="n must be an int"):
        cal.add_working_days(FRI, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="n must be an int"):
        cal.add_working_days(FRI, True)
    with pytest.raises(ValueError, match="n must be 0 or more"):
        cal.add_working_days(FRI, -2)
    with pytest.raises(ValueError, match=r"end \(2026-03-02\) is before start \(2026-03-06\)"):
        cal.working_days_between(FRI, MON)


def test_a_set_is_taken_as_a_frozenset() -> None:
    cal = WorkCalendar(weekend={6}, holidays={NEW_YEAR})  # type: ignore[arg-type]
    assert cal.weekend == frozenset({6}) and cal.holidays == frozenset({NEW_YEAR})
    assert hash(cal) == hash(WorkCalendar(weekend=frozenset({6}), holidays=frozenset({NEW_YEAR})))


calendars = st.builds(
    WorkCalendar,
    weekend=st.frozensets(st.integers(0, 6), max_size=6),
    holidays=st.frozensets(st.dates(D(2025, 6, 1), D(2027, 6, 1)), max_size=40),
)
dates = st.dates(D(2025, 1, 1), D(2027, 12, 31))


@given(calendars, dates, st.integers(0, 120))
def test_add_then_count_round_trips(cal: WorkCalendar, start: dt.date, n: int) -> None:
    end = cal.add_working_days(start, n)
    assert cal.working_days_between(start, end) == n
    assert n == 0 or cal.is_working(end)


@given(calendars, dates, dates)
def test_between_matches_counting_day_by_day(cal: WorkCalendar, a: dt.date, b: dt.date) -> None:
    start, end = min(a, b), max(a, b)
    one_by_one = sum(cal.is_working(start + dt.timedelta(days=i)) for i in range(1, (end - start).days + 1))
    assert cal.working_days_between(start, end) == one_by_one


@given(calendars, dates, st.integers(0, 60))
def test_working_days_back_are_the_last_n(cal: WorkCalendar, until: dt.date, n: int) -> None:
    days = cal.working_days_back(until, n)
    assert len(days) == n
    assert all(cal.is_working(d) for d in days)
    assert days == sorted(set(days))
    if days:
        assert days[-1] <= until
        assert cal.working_days_between(days[0], until) == n - 1  # no working day skipped, none after until
