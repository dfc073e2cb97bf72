"""The forecast of blank use: daily use, days of stock left, the reorder point and the quantity to request.

Invariants (tested, the first four for any input by hypothesis):
- ``request`` is a multiple of ``delivery_unit``, never negative, and 0 exactly when the stock on hand already covers
  ``backlog_blanks + reorder_point`` (the reorder point is weighed against the stock left after the backlog).
- With nothing on hand, ``request`` covers at least ``backlog_blanks`` plus the lead-time use.
- ``reorder_point`` is at least the lead-time use: the safety stock is never negative.
- ``days_left`` grows with ``on_hand``; it and ``days_left_with_backlog`` are None exactly when ``daily_use`` is 0.
- A working day with no blanks on hand (``DayUse.out_of_stock``) is never counted as a day without demand.
- ``method`` (English) and ``method_id`` (Indonesian) state the same rule and the same figures.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from printd.reports.calendar import require_count, require_date
from printd.reports.model import DayUse, Forecast, ForecastParams

INTERMITTENT_ADI = 1.32
"""Use is intermittent when the average interval between print days (observed days / active days) exceeds this:
the cut-off of Syntetos, Boylan and Croston (2005) between smooth and intermittent demand."""

MAX_BACKLOG_SPOIL_RATE = 0.5
"""The backlog is never counted at more than this spoil rate (two blanks a card): a higher measured rate is a
printer fault to repair, and ``jobs / (1 - rate)`` grows without bound as the rate nears 1."""


@dataclass(frozen=True)
class _Use:
    """What the window of history says about use."""

    recorded: int  # working days of the window present in the history
    observed: int  # of them, the days with blanks on hand
    active: int  # of those, the days with printing
    used: int
    spoiled: int
    sigma: float  # standard deviation of one working day's use
    kind: str  # "regular" | "intermittent" | "none"

    @property
    def daily(self) -> float:
        return self.used / self.observed if self.used else 0.0


def forecast(
    history: list[DayUse], on_hand: int, backlog: dict[str, int], params: ForecastParams, *, as_of: dt.date
) -> Forecast:
    """How long the stock lasts and how many blanks to request, from the use of the last working days.

    ``history``: one ``DayUse`` a working day, oldest first, zeros on days without printing; only the last
    ``params.window_days`` are read, and fewer (a new station) are read as they are. A day marked ``out_of_stock``
    is left out: its zero use says nothing about demand. ``backlog``: jobs waiting, by priority label.

    The rules, so that each figure can be recomputed by hand:

    - ``daily_use``: blanks used (issued + spoiled) over the working days with blanks on hand. When print days
      are sparse (more than ``INTERMITTENT_ADI`` days per print day, e.g. a van out one day a week), the same
      figure is read as Croston's decomposition, the average print day times the share of days with printing,
      estimated over the window without smoothing (over a few weeks, smoothed estimates would mostly repeat their
      starting values); only the safety stock changes: daily use is then a print day of random size on a random
      share ``p`` of days, so ``sigma**2 = p * var(size) + p * (1 - p) * mean(size)**2``. Otherwise ``sigma`` is the
      sample standard deviation of daily use. With no use in the window, ``daily_use`` is 0 and only the backlog
      is planned for.
    - ``spoil_rate``: spoiled / used over the window (0 when nothing was used).
    - ``backlog_blanks = ceil(jobs / (1 - spoil_rate))``: a spoiled blank means another blank for the same card;
      the rate is capped at ``MAX_BACKLOG_SPOIL_RATE`` there, and ``method`` says so when the cap applies.
    - ``days_left = on_hand / daily_use``; ``days_left_with_backlog = (on_hand - backlog_blanks) / daily_use`` is
      kept negative when the backlog alone needs more than is on hand: it then says how many working days of use
      the shortfall amounts to, which a clamp to 0 would hide. Both are None when ``daily_use`` is 0.
    - ``reorder_point = ceil(daily_use * L + z * sigma * sqrt(L))``, ``L = lead_time_days``, ``z`` the normal
      quantile of ``service_level``: the stock needed, after the backlog is printed, to last until a delivery.
    - ``request``: ``backlog_blanks + reorder_point - on_hand`` rounded up to ``delivery_unit``, or 0 if not
      positive.
    - ``fill_ratio`` does not change the request: the request states the need, which the office can justify from
      its stock, use and backlog (a request inflated by ``1 / fill_ratio`` would contradict those figures and, if
      every office did it, only make the rationing harsher). What the ratio changes is the expectation, reported
      apart: ``expected_delivery = floor(request * fill_ratio)`` blanks, covering ``expected_delivery_days``
      working days of use; the rest stays needed and the next forecast, after the delivery, asks for it again.
    """
    _check_params(params)
    require_count("on_hand", on_hand)
    require_date("as_of", as_of)
    jobs = _backlog_jobs(backlog)
    _check_history(history, as_of)

    use = _measure(history[-params.window_days :])
    lead = params.lead_time_days
    spoil_rate = min(1.0, use.spoiled / use.used) if use.used else 0.0
    capped = spoil_rate > MAX_BACKLOG_SPOIL_RATE
    if capped:
        backlog_blanks = math.ceil(jobs / (1 - MAX_BACKLOG_SPOIL_RATE))
    elif use.used:
        # jobs / (1 - spoiled/used) in whole numbers, so that an exact quotient is not rounded up by float error
        backlog_blanks = -(-jobs * use.used // (use.used - use.spoiled))
    else:
        backlog_blanks = jobs
    z = statistics.NormalDist().inv_cdf(params.service_level)
    lead_use = use.used * lead / use.observed if use.used else 0.0
    reorder_point = math.ceil(lead_use + z * use.sigma * math.sqrt(lead))
    need = backlog_blanks + reorder_point - on_hand
    unit = params.delivery_unit
    request = -(-need // unit) * unit if need > 0 else 0
    # A float product such as 0.29 * 100 = 28.999999999999996 must not lose a blank to floor().
    expected = math.floor(request * params.fill_ratio + 1e-9)

    method, method_id = _method(use, params.window_days, spoil_rate, capped)
    return Forecast(
        on_hand=on_hand,
        daily_use=use.daily,
        spoil_rate=spoil_rate,
        backlog=dict(backlog),
        backlog_blanks=backlog_blanks,
        days_left=on_hand * use.observed / use.used if use.used else None,
        days_left_with_backlog=(on_hand - backlog_blanks) * use.observed / use.used if use.used else None,
        reorder_point=reorder_point,
        request=request,
        method=method,
        params=params,
        as_of=as_of,
        method_id=method_id,
        method_kind=use.kind,
        expected_delivery=expected,
        expected_delivery_days=expected * use.observed / use.used if use.used else None,
    )


def _measure(window: Sequence[DayUse]) -> _Use:
    uses = [day.used for day in window if not day.out_of_stock]
    sizes = [u for u in uses if u > 0]
    observed, active, used = len(uses), len(sizes), sum(uses)
    spoiled = sum(day.spoiled for day in window if not day.out_of_stock)
    if not active:
        return _Use(len(window), observed, 0, used, spoiled, 0.0, "none")
    if observed / active > INTERMITTENT_ADI:
        p = active / observed
        size = used / active
        size_var = statistics.variance(sizes) if active > 1 else 0.0
        sigma = math.sqrt(p * size_var + p * (1 - p) * size * size)
        return _Use(len(window), observed, active, used, spoiled, sigma, "intermittent")
    sigma = statistics.stdev(uses) if observed > 1 else 0.0
    return _Use(len(window), observed, active, used, spoiled, sigma, "regular")


def _check_params(params: ForecastParams) -> None:
    if not isinstance(params, ForecastParams):
        raise TypeError(f"params must be ForecastParams, got {type(params).__name__}")
    if require_count("window_days", params.window_days) < 1:
        raise ValueError("window_days must be at least 1")
    require_count("lead_time_days", params.lead_time_days)
    if require_count("delivery_unit", params.delivery_unit) < 1:
        raise ValueError("delivery_unit must be at least 1")
    if not 0.5 <= params.service_level < 1:
        raise ValueError(f"service_level must be from 0.5 up to (not including) 1, got {params.service_level}")
    if not 0 < params.fill_ratio <= 1:
        raise ValueError(f"fill_ratio must be above 0 and at most 1, got {params.fill_ratio}")


def _backlog_jobs(backlog: dict[str, int]) -> int:
    for label, jobs in backlog.items():
        if not isinstance(label, str):
            raise TypeError(f"backlog keys are priority labels (str), got {label!r}")
        require_count(f"backlog[{label!r}]", jobs)
    return sum(backlog.values())


def _check_history(history: list[DayUse], as_of: dt.date) -> None:
    last: dt.date | None = None
    for day in history:
        if not isinstance(day, DayUse):
            raise TypeError(f"history holds DayUse, got {type(day).__name__}")
        require_date("DayUse.date", day.date)
        if last is not None and day.date <= last:
            raise ValueError(f"history must be oldest first, one entry a day: {day.date} follows {last}")
        if day.date > as_of:
            raise ValueError(f"history runs past as_of: {day.date} > {as_of}")
        if day.spoiled < 0 or day.used < 0:
            raise ValueError(f"{day.date}: spoiled and used (issued + spoiled) cannot be negative")
        if day.out_of_stock and day.used:
            raise ValueError(f"{day.date}: a day without blanks on hand cannot have used {day.used}")
        last = day.date


def _figure(x: float, lang: str) -> str:
    text = f"{x:,.1f}".removesuffix(".0")
    return text.translate(str.maketrans(",.", ".,")) if lang == "id" else text


def _percent(rate: float, lang: str) -> str:
    return f"{_figure(rate * 100, lang)}%"


@dataclass(frozen=True)
class _Text:
    """A sentence being built in both languages: its main clause and the notes appended after a semicolon."""

    en: str
    id: str
    notes_en: tuple[str, ...] = ()
    notes_id: tuple[str, ...] = ()

    def sentences(self) -> tuple[str, str]:
        return "; ".join((self.en, *self.notes_en)) + ".", "; ".join((self.id, *self.notes_id)) + "."


def _days(use: _Use, window_days: int) -> _Text:
    """The working days daily use rests on, and the notes they call for (days left out, a short history)."""
    full = use.recorded >= window_days
    if full:
        en, id_ = f"the last {use.recorded} working days", f"{use.recorded} hari kerja terakhir"
    else:
        en = f"the {use.recorded} {_working_days(use.recorded)} recorded so far"
        id_ = f"{use.recorded} hari kerja yang sudah tercatat"
    notes_en: list[str] = []
    notes_id: list[str] = []
    left_out = use.recorded - use.observed
    if left_out:
        en = f"the {use.observed} {_working_days(use.observed)} with blanks on hand among {en}"
        id_ = f"{use.observed} hari kerja yang ada stok blangkonya dari {id_}"
        notes_en.append(
            f"{left_out} {'day' if left_out == 1 else 'days'} without blanks {'is' if left_out == 1 else 'are'} left"
            " out, as a day without blanks shows no use, not no demand"
        )
        notes_id.append(
            f"{left_out} hari tanpa blangko tidak dihitung karena tidak adanya pemakaian saat itu bukan berarti tidak"
            " ada kebutuhan"
        )
    if not full:
        notes_en.append(f"the history is shorter than the {window_days}-day window, so the figures are rough")
        notes_id.append(
            f"riwayatnya masih lebih pendek dari jangka {window_days} hari kerja sehingga angkanya masih kasar"
        )
    return _Text(en, id_, tuple(notes_en), tuple(notes_id))


def _working_days(n: int) -> str:
    return "working day" if n == 1 else "working days"


def _method(use: _Use, window_days: int, rate: float, capped: bool) -> tuple[str, str]:
    """``method`` and ``method_id``: the rule that measured daily use, why, and the figures it rests on."""
    days = _days(use, window_days)
    if use.kind == "none":
        return _no_use(use, window_days, days)
    daily_en, daily_id = _figure(use.daily, "en"), _figure(use.daily, "id")
    if use.kind == "intermittent":
        size = use.used / use.active
        en = (
            f"Use is intermittent, with printing on only {use.active} of {days.en}, so daily use is the average print"
            f" day ({_figure(size, 'en')} blanks) times the share of days with printing ({use.active} of"
            f" {use.observed}): {daily_en} blanks a working day, {_percent(rate, 'en')} spoiled, with a safety stock"
            " for both the size and the irregularity of print days"
        )
        id_ = (
            f"Pemakaian tidak terjadi setiap hari (pencetakan hanya pada {use.active} dari {days.id}), sehingga"
            f" pemakaian harian dihitung dari rata-rata pemakaian per hari cetak ({_figure(size, 'id')} keping)"
            f" dikalikan proporsi hari yang ada pencetakan ({use.active} dari {use.observed}), yaitu {daily_id} keping"
            f" per hari kerja dengan tingkat kerusakan {_percent(rate, 'id')}, dan stok pengaman memperhitungkan"
            " besaran maupun ketidakteraturan hari cetak"
        )
    else:
        en = (
            f"Daily use is the average over {days.en}, with printing on {use.active} of them: {daily_en} blanks a"
            f" working day, {_percent(rate, 'en')} spoiled"
        )
        id_ = (
            f"Pemakaian harian dihitung dari rata-rata {days.id} (terdapat pencetakan pada {use.active} hari di"
            f" antaranya), yaitu {daily_id} keping per hari kerja dengan tingkat kerusakan {_percent(rate, 'id')}"
        )
    notes_en, notes_id = days.notes_en, days.notes_id
    if capped:
        cap_en, cap_id = _percent(MAX_BACKLOG_SPOIL_RATE, "en"), _percent(MAX_BACKLOG_SPOIL_RATE, "id")
        notes_en += (
            f"the backlog is counted at {cap_en} spoiled, not the {_percent(rate, 'en')} measured, as a rate that"
            " high is a printer fault to repair",
        )
        notes_id += (
            f"antrean cetak dihitung dengan tingkat kerusakan {cap_id}, bukan {_percent(rate, 'id')} yang terukur,"
            " karena angka setinggi itu menandakan gangguan printer yang harus diperbaiki",
        )
    return _Text(en, id_, notes_en, notes_id).sentences()


def _no_use(use: _Use, window_days: int, days: _Text) -> tuple[str, str]:
    tail_en = "so daily use is taken as 0 and the request covers the backlog only"
    tail_id = "sehingga pemakaian harian dianggap 0 dan permintaan hanya untuk memenuhi antrean cetak"
    if not use.recorded:
        text = _Text(
            f"There is no history to forecast from, as no working day of the {window_days}-day window is recorded"
            f" yet, {tail_en}",
            f"Belum ada riwayat pemakaian yang dapat dijadikan dasar perkiraan karena belum ada hari kerja yang"
            f" tercatat dari jangka {window_days} hari kerja, {tail_id}",
        )
    elif not use.observed:
        full = use.recorded >= window_days
        text = _Text(
            f"There is no history to forecast from, as the station had no blanks on any of"
            f" {f'the last {use.recorded} working days' if full else f'the {use.recorded} recorded so far'},"
            f" and a day without blanks shows no use, not no demand, {tail_en}",
            f"Tidak ada riwayat pemakaian yang dapat dijadikan dasar perkiraan karena blangko habis pada seluruh"
            f" {use.recorded} hari kerja {'terakhir' if full else 'yang sudah tercatat'}, dan tidak adanya pemakaian"
            f" saat itu bukan berarti tidak ada kebutuhan, {tail_id}",
        )
    else:
        text = _Text(
            f"There is no history to forecast from, as no blanks were used in {days.en}, {tail_en}",
            f"Tidak ada riwayat pemakaian yang dapat dijadikan dasar perkiraan karena tidak ada blangko yang terpakai"
            f" selama {days.id}, {tail_id}",
            days.notes_en,
            days.notes_id,
        )
    return text.sentences()
