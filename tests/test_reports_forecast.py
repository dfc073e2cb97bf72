"""The forecast: hand-computed cases for each rule, and the invariants of printd/reports/forecast.py for any input."""

import dataclasses
import datetime as dt
import math
from statistics import NormalDist
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printd.reports.calendar import WorkCalendar
from printd.reports.forecast import forecast
from printd.reports.model import DayUse, Forecast, ForecastParams

AS_OF = dt.date(2026, 3, 27)  # a Friday; the 20 working days before it run from Monday 2 March
Z95 = NormalDist().inv_cdf(0.95)  # 1.6449


def working_days(n: int, until: dt.date = AS_OF) -> list[dt.date]:
    return WorkCalendar().working_days_back(until, n)


def run(history: list[DayUse], on_hand: int = 0, backlog: dict[str, int] | None = None, **params: Any) -> Forecast:
    return forecast(history, on_hand, backlog or {}, ForecastParams(**params), as_of=AS_OF)


def van(days: int = 20, size: int = 150) -> list[DayUse]:
    """A mobile service car out on Wednesdays only: ``size`` blanks (2 % spoiled) one working day in five."""
    return [DayUse(d, size * 49 // 50, size // 50) if d.weekday() == 2 else DayUse(d, 0, 0) for d in working_days(days)]


def test_regular_use_every_field() -> None:
    # 110 and 90 blanks on alternate days, 2 spoiled each day: 2,000 used, 40 spoiled over 20 days.
    history = [DayUse(d, 108, 2) if i % 2 else DayUse(d, 88, 2) for i, d in enumerate(working_days(20))]
    backlog = {"walk_in": 3, "normal": 40, "backlog": 447}
    f = run(history, on_hand=1500, backlog=backlog)
    assert f.daily_use == 100.0
    assert f.spoil_rate == 0.02
    assert f.backlog == backlog and f.backlog is not backlog
    assert f.backlog_blanks == 500  # 490 / 0.98
    assert f.days_left == 15.0
    assert f.days_left_with_backlog == 10.0  # (1500 - 500) / 100
    # sigma = sqrt(20 * 10**2 / 19) = 10.26; lead-time use 100 * 20 = 2000; safety 1.6449 * 10.26 * sqrt(20) = 75.5
    assert f.reorder_point == 2076
    assert f.request == 1100  # 500 + 2076 - 1500 = 1076, rounded up to boxes of 100
    assert f.expected_delivery == 1100 and f.expected_delivery_days == 11.0
    assert f.method_kind == "regular"
    assert f.method == (
        "Daily use is the average over the last 20 working days, with printing on 20 of them: 100 blanks a working"
        " day, 2% spoiled."
    )
    assert f.method_id == (
        "Pemakaian harian dihitung dari rata-rata 20 hari kerja terakhir (terdapat pencetakan pada 20 hari di"
        " antaranya), yaitu 100 keping per hari kerja dengan tingkat kerusakan 2%."
    )
    assert f.params == ForecastParams() and f.as_of == AS_OF and f.on_hand == 1500


def test_steady_use_has_no_safety_stock() -> None:
    f = run([DayUse(d, 50, 0) for d in working_days(20)], on_hand=300, lead_time_days=10)
    assert (f.daily_use, f.reorder_point, f.request) == (50.0, 500, 200)
    assert f.days_left == 6.0 and f.spoil_rate == 0.0


def test_a_van_printing_one_day_a_week_uses_thirty_a_working_day() -> None:
    f = run(van(), on_hand=200)
    assert f.method_kind == "intermittent"
    assert f.daily_use == 30.0  # 600 over 20 working days: not 150 (a print day) and not 7.5
    assert f.spoil_rate == 0.02
    # p = 4/20, every print day 150: sigma = 150 * sqrt(0.2 * 0.8) = 60; safety 1.6449 * 60 * sqrt(20) = 441.4
    assert f.reorder_point == math.ceil(600 + Z95 * 60 * math.sqrt(20)) == 1042
    assert f.request == 900  # 1042 - 200 = 842
    assert f.days_left == pytest.approx(200 / 30)
    assert f.method == (
        "Use is intermittent, with printing on only 4 of the last 20 working days, so daily use is the average print"
        " day (150 blanks) times the share of days with printing (4 of 20): 30 blanks a working day, 2% spoiled, with"
        " a safety stock for both the size and the irregularity of print days."
    )
    assert f.method_id.startswith(
        "Pemakaian tidak terjadi setiap hari (pencetakan hanya pada 4 dari 20 hari kerja terakhir), sehingga"
        " pemakaian harian dihitung dari rata-rata pemakaian per hari cetak (150 keping) dikalikan proporsi hari"
        " yang ada pencetakan (4 dari 20), yaitu 30 keping per hari kerja"
    )


def test_intermittent_safety_stock_counts_the_spread_of_print_day_sizes() -> None:
    sizes = iter([100, 200, 100, 200])
    history = [DayUse(d, next(sizes), 0) if d.weekday() == 2 else DayUse(d, 0, 0) for d in working_days(20)]
    f = run(history)
    # mean size 150, sample variance of sizes 4 * 50**2 / 3, p = 0.2: sigma**2 = 0.2 * 10000 / 3 + 0.2 * 0.8 * 150**2
    assert f.daily_use == 30.0
    assert f.reorder_point == math.ceil(600 + Z95 * math.sqrt(2000 / 3 + 3600) * math.sqrt(20)) == 1081


def test_the_intermittent_cut_off_is_one_point_three_two_days_per_print_day() -> None:
    def printing_on(active: int) -> Forecast:
        return run([DayUse(d, 10 if i < active else 0, 0) for i, d in enumerate(working_days(20))])

    assert printing_on(16).method_kind == "regular"  # 20 / 16 = 1.25 days per print day
    assert printing_on(15).method_kind == "intermittent"  # 20 / 15 = 1.33
    assert printing_on(15).daily_use == 7.5


def test_no_history_plans_for_the_backlog_only() -> None:
    f = run([], on_hand=120, backlog={"backlog": 1000})
    assert (f.daily_use, f.spoil_rate, f.days_left, f.days_left_with_backlog) == (0.0, 0.0, None, None)
    assert (f.backlog_blanks, f.reorder_point, f.request) == (1000, 0, 900)
    assert f.expected_delivery_days is None
    assert f.method_kind == "none"
    assert f.method == (
        "There is no history to forecast from, as no working day of the 20-day window is recorded yet, so daily use"
        " is taken as 0 and the request covers the backlog only."
    )
    assert f.method_id.startswith("Belum ada riwayat pemakaian yang dapat dijadikan dasar perkiraan")


def test_a_window_without_use_is_no_history() -> None:
    f = run([DayUse(d, 0, 0) for d in working_days(20)], on_hand=500)
    assert (f.daily_use, f.days_left, f.reorder_point, f.request, f.method_kind) == (0.0, None, 0, 0, "none")
    assert "no blanks were used in the last 20 working days" in f.method


def test_days_without_blanks_are_not_days_without_demand() -> None:
    # Stock ran out for two weeks; before that the office printed 100 a day.
    history = [
        DayUse(d, 0, 0, out_of_stock=True) if i >= 10 else DayUse(d, 99, 1) for i, d in enumerate(working_days(20))
    ]
    f = run(history, on_hand=0, backlog={"backlog": 990})
    assert f.method_kind == "regular"
    assert f.daily_use == 100.0  # not 50
    assert f.backlog_blanks == 1000  # 990 / 0.99
    assert f.days_left == 0.0 and f.days_left_with_backlog == -10.0
    assert (f.reorder_point, f.request) == (2000, 3000)
    assert f.method == (
        "Daily use is the average over the 10 working days with blanks on hand among the last 20 working days, with"
        " printing on 10 of them: 100 blanks a working day, 1% spoiled; 10 days without blanks are left out, as a"
        " day without blanks shows no use, not no demand."
    )
    assert "10 hari tanpa blangko tidak dihitung" in f.method_id


def test_a_station_without_blanks_all_window_has_no_history() -> None:
    f = run([DayUse(d, 0, 0, out_of_stock=True) for d in working_days(20)], backlog={"normal": 250})
    assert (f.daily_use, f.method_kind, f.request) == (0.0, "none", 300)
    assert "had no blanks on any of the last 20 working days" in f.method
    assert "blangko habis pada seluruh 20 hari kerja terakhir" in f.method_id


def test_a_new_station_averages_over_the_days_it_has() -> None:
    f = run(van(5), on_hand=0)  # one Wednesday of 150 in its first five working days
    assert f.method_kind == "intermittent"
    assert f.daily_use == 30.0  # 150 / 5, not 150 / 20 = 7.5
    assert "only 1 of the 5 working days recorded so far" in f.method
    assert f.method.endswith("; the history is shorter than the 20-day window, so the figures are rough.")
    assert "riwayatnya masih lebih pendek dari jangka 20 hari kerja" in f.method_id

    one_day = run([DayUse(AS_OF, 80, 0)])
    assert (one_day.daily_use, one_day.method_kind, one_day.reorder_point) == (80.0, "regular", 1600)  # no spread
    assert "the 1 working day recorded so far" in one_day.method


def test_only_the_window_is_read() -> None:
    old = [DayUse(d, 1000, 0) for d in working_days(10, dt.date(2026, 2, 27))]
    recent = [DayUse(d, 40, 0) for d in working_days(20)]
    assert run(old + recent).daily_use == 40.0
    assert run(old + recent, window_days=30).daily_use == pytest.approx((10 * 1000 + 20 * 40) / 30)


def test_a_huge_backlog_leaves_days_left_negative() -> None:
    history = [DayUse(d, 49 + (i < 3), 1 if i < 17 else 0) for i, d in enumerate(working_days(20))]
    assert sum(h.issued for h in history) == 983 and sum(h.spoiled for h in history) == 17
    f = run(history, on_hand=5000, backlog={"walk_in": 0, "normal": 0, "backlog": 6000})
    assert f.spoil_rate == 0.017
    assert f.backlog_blanks == 6104  # 6000 / 0.983 = 6103.8
    assert f.days_left == 100.0
    assert f.days_left_with_backlog == pytest.approx(-22.08)  # (5000 - 6104) / 50: the backlog alone is short
    assert f.reorder_point == math.ceil(1000 + Z95 * math.sqrt(6 / 19) * math.sqrt(20)) == 1005  # days of 49-51
    assert f.request == math.ceil((6104 + f.reorder_point - 5000) / 100) * 100


def test_spoil_rate_zero_and_high() -> None:
    clean = run([DayUse(d, 10, 0) for d in working_days(20)], backlog={"normal": 333})
    assert (clean.spoil_rate, clean.backlog_blanks) == (0.0, 333)

    half = run([DayUse(d, 5, 5) for d in working_days(20)], backlog={"normal": 333})
    assert (half.spoil_rate, half.backlog_blanks) == (0.5, 666)
    assert "backlog is counted" not in half.method

    broken = run([DayUse(d, 1, 9) for d in working_days(20)], backlog={"normal": 333})
    assert broken.spoil_rate == 0.9
    assert broken.backlog_blanks == 666  # capped at 50 %, not 333 / 0.1 = 3330
    assert broken.method.endswith(
        "; the backlog is counted at 50% spoiled, not the 90% measured, as a rate that high is a printer fault to"
        " repair."
    )
    assert "antrean cetak dihitung dengan tingkat kerusakan 50%, bukan 90% yang terukur" in broken.method_id

    everything = run([DayUse(d, 0, 3) for d in working_days(20)], backlog={"normal": 10})
    assert (everything.spoil_rate, everything.backlog_blanks) == (1.0, 20)


def test_rounding_to_the_delivery_unit() -> None:
    steady = [DayUse(d, 10, 0) for d in working_days(20)]  # reorder point 200 at the default 20-day lead time
    assert run(steady, on_hand=0).request == 200  # exactly two boxes, not three
    assert run(steady, on_hand=199).request == 100  # one blank short is a whole box
    assert run(steady, on_hand=200).request == 0
    assert run(steady, on_hand=5000).request == 0
    assert run(steady, on_hand=1, delivery_unit=1).request == 199
    assert run(steady, on_hand=1, delivery_unit=250).request == 250
    assert run(steady, on_hand=0, delivery_unit=150).request == 300


def test_on_hand_zero() -> None:
    f = run([DayUse(d, 20, 0) for d in working_days(20)], on_hand=0, backlog={"walk_in": 30})
    assert (f.days_left, f.days_left_with_backlog) == (0.0, -1.5)
    assert (f.backlog_blanks, f.reorder_point, f.request) == (30, 400, 500)


def test_fill_ratio_changes_the_expectation_not_the_request() -> None:
    history = [DayUse(d, 50, 0) for d in working_days(20)]  # reorder point 1000
    full = run(history, on_hand=0, backlog={"backlog": 1000})
    rationed = run(history, on_hand=0, backlog={"backlog": 1000}, fill_ratio=0.3)
    assert full.request == rationed.request == 2000
    assert (full.expected_delivery, full.expected_delivery_days) == (2000, 40.0)
    assert (rationed.expected_delivery, rationed.expected_delivery_days) == (600, 12.0)
    assert run(history, on_hand=900, fill_ratio=0.29, delivery_unit=1).expected_delivery == 29  # 0.29 * 100


def test_zero_lead_time_asks_for_the_backlog_only() -> None:
    f = run([DayUse(d, 7, 3) for d in working_days(20)], on_hand=10, backlog={"normal": 70}, lead_time_days=0)
    assert (f.backlog_blanks, f.reorder_point, f.request) == (100, 0, 100)


def test_decimals_are_written_for_each_language() -> None:
    f = run([DayUse(d, 12 + i % 2, 0) for i, d in enumerate(working_days(20))])  # 12.5 a day
    assert ": 12.5 blanks a working day" in f.method
    assert "yaitu 12,5 keping per hari kerja" in f.method_id
    big = run([DayUse(d, 1234 + i % 2, 1) for i, d in enumerate(working_days(20))])
    assert "1,235.5 blanks" in big.method and "1.235,5 keping" in big.method_id


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"params": ForecastParams(window_days=0)}, ValueError, "window_days must be at least 1"),
        ({"params": ForecastParams(lead_time_days=-1)}, ValueError, "lead_time_days must be 0 or more"),
        ({"params": ForecastParams(service_level=0.4)}, ValueError, "service_level must be from 0.5"),
        ({"params": ForecastParams(service_level=1.0)}, ValueError, "service_level must be from 0.5"),
        ({"params": ForecastParams(service_level=math.nan)}, ValueError, "service_level"),
        ({"params": ForecastParams(delivery_unit=0)}, ValueError, "delivery_unit must be at least 1"),
        ({"params": ForecastParams(fill_ratio=0.0)}, ValueError, "fill_ratio must be above 0"),
        ({"params": ForecastParams(fill_ratio=1.5)}, ValueError, "fill_ratio"),
        ({"on_hand": -1}, ValueError, "on_hand must be 0 or more"),
        ({"on_hand": 1.5}, TypeError, "on_hand must be an int"),
        ({"backlog": {"normal": -2}}, ValueError, r"backlog\['normal'\] must be 0 or more"),
        ({"as_of": dt.datetime(2026, 3, 27, 8)}, TypeError, r"as_of must be a datetime\.date"),
        ({"history": [DayUse(AS_OF, 1, 0), DayUse(AS_OF, 1, 0)]}, ValueError, "oldest first"),
        ({"history": [DayUse(dt.date(2026, 3, 30), 1, 0)]}, ValueError, "runs past as_of"),
        ({"history": [DayUse(AS_OF, 1, -1)]}, ValueError, "cannot be negative"),
        ({"history": [DayUse(AS_OF, 4, 0, out_of_stock=True)]}, ValueError, "without blanks on hand cannot have used"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    args: dict[str, object] = {"history": [], "on_hand": 0, "backlog": {}, "params": ForecastParams(), "as_of": AS_OF}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        forecast(**args)  # type: ignore[arg-type]


def test_a_card_rejected_at_inspection_the_next_day_is_no_new_use() -> None:
    # The fold counts the card issued on day one and, rejected on day two, spoiled there and no longer issued.
    days = working_days(2)
    f = run([DayUse(days[0], 10, 0), DayUse(days[1], -1, 1)])
    assert f.daily_use == 5.0 and f.spoil_rate == 0.1


# The invariants, for any history, stock, backlog and parameters.

params_st = st.builds(
    ForecastParams,
    window_days=st.integers(1, 30),
    lead_time_days=st.integers(0, 40),
    service_level=st.floats(0.5, 0.999),
    delivery_unit=st.integers(1, 500),
    fill_ratio=st.floats(0.01, 1.0),
)


@st.composite
def histories(draw: st.DrawFn) -> list[DayUse]:
    n = draw(st.integers(0, 40))
    uses = []
    for d in working_days(n):
        if draw(st.integers(0, 4)) == 0:
            uses.append(DayUse(d, 0, 0, out_of_stock=draw(st.booleans())))
        else:
            used = draw(st.integers(0, 800))
            spoiled = draw(st.integers(0, used))
            uses.append(DayUse(d, used - spoiled, spoiled))
    return uses


backlogs = st.dictionaries(st.sampled_from(["walk_in", "normal", "backlog"]), st.integers(0, 20_000))


@given(histories(), st.integers(0, 100_000), backlogs, params_st)
def test_request_is_whole_boxes_and_zero_exactly_when_stock_covers_the_need(
    history: list[DayUse], on_hand: int, backlog: dict[str, int], params: ForecastParams
) -> None:
    f = forecast(history, on_hand, backlog, params, as_of=AS_OF)
    assert f.request >= 0 and f.request % params.delivery_unit == 0
    need = f.backlog_blanks + f.reorder_point - on_hand
    assert (f.request == 0) == (need <= 0)
    assert need <= f.request < need + params.delivery_unit or f.request == 0
    assert 0 <= f.expected_delivery <= f.request
    assert f.method and f.method_id and f.method_kind in {"regular", "intermittent", "none"}


@given(histories(), backlogs, params_st)
def test_with_nothing_on_hand_the_request_covers_the_backlog_and_lead_time_use(
    history: list[DayUse], backlog: dict[str, int], params: ForecastParams
) -> None:
    f = forecast(history, 0, backlog, params, as_of=AS_OF)
    lead_use = f.daily_use * params.lead_time_days
    assert f.request >= f.backlog_blanks + lead_use * (1 - 1e-12)
    assert f.backlog_blanks >= sum(backlog.values())


@given(histories(), st.integers(0, 100_000), backlogs, params_st)
def test_reorder_point_is_at_least_lead_time_use(
    history: list[DayUse], on_hand: int, backlog: dict[str, int], params: ForecastParams
) -> None:
    f = forecast(history, on_hand, backlog, params, as_of=AS_OF)
    assert f.reorder_point >= f.daily_use * params.lead_time_days * (1 - 1e-12)


@given(histories(), st.integers(0, 50_000), st.integers(0, 50_000), backlogs, params_st)
def test_days_left_grows_with_stock(
    history: list[DayUse], on_hand: int, more: int, backlog: dict[str, int], params: ForecastParams
) -> None:
    f = forecast(history, on_hand, backlog, params, as_of=AS_OF)
    g = forecast(history, on_hand + more, backlog, params, as_of=AS_OF)
    if f.daily_use == 0:
        assert f.days_left is None and f.days_left_with_backlog is None and g.days_left is None
    else:
        assert f.days_left is not None and g.days_left is not None
        assert f.days_left_with_backlog is not None and g.days_left_with_backlog is not None
        assert 0 <= f.days_left <= g.days_left
        assert f.days_left_with_backlog <= g.days_left_with_backlog
        assert g.request <= f.request


@given(histories(), params_st)
def test_daily_use_lies_between_the_quietest_and_busiest_day(history: list[DayUse], params: ForecastParams) -> None:
    f = forecast(history, 0, {}, params, as_of=AS_OF)
    window = [h.used for h in history[-params.window_days :] if not h.out_of_stock]
    if any(window):
        assert min(window) <= f.daily_use <= max(window)
        assert f.daily_use == pytest.approx(sum(window) / len(window))
    else:
        assert f.daily_use == 0.0


def test_the_forecast_is_frozen() -> None:
    f = run(van())
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.request = 0  # type: ignore[misc]
