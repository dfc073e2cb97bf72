"""Prometheus metrics of the station, built from the daemon's replies (status, station.metrics, stock.forecast).

Labels are low-cardinality only: printer, station, state, priority, outcome, spoil category, reason keyword — never
a job reference, a name or a chip UID. The figures are the daemon's: printd-web keeps none of its own, so a scrape
asks the daemon, and a daemon that does not answer gives ``printd_up 0`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

PRINTER_STATES = ("ready", "busy", "warning", "error", "offline", "paused")


@dataclass(frozen=True)
class Replies:
    """What one scrape read from the daemon; None where the daemon did not answer."""

    status: Mapping[str, Any] | None
    metrics: Mapping[str, Any] | None = None
    forecast: Mapping[str, Any] | None = None


class StationCollector(Collector):
    """A collector over one scrape's replies (a new one per scrape: nothing is kept between them)."""

    def __init__(self, replies: Replies) -> None:
        self._replies = replies

    def collect(self) -> Iterator[Metric]:
        status = self._replies.status
        up = GaugeMetricFamily("printd_up", "1 when printd answered this scrape, 0 when it did not")
        up.add_metric([], 1.0 if status is not None else 0.0)
        yield up
        if status is None:
            return
        yield from _printers(status.get("printers") or [])
        if status.get("queue") is not None:
            yield _queue(status["queue"])
        if status.get("stock") is not None:
            yield from _stock(status["stock"])
        storage = GaugeMetricFamily("printd_storage_available", "1 when the daemon can use its database")
        storage.add_metric([], 1.0 if (status.get("storage") or {}).get("available", True) else 0.0)
        yield storage
        if self._replies.metrics is not None:
            yield from _cards(self._replies.metrics)
        if self._replies.forecast is not None:
            yield from _forecast(self._replies.forecast)


def _printers(printers: Iterable[Mapping[str, Any]]) -> Iterator[Metric]:
    state = GaugeMetricFamily("printd_printer_state", "1 for the state each printer is in", labels=["printer", "state"])
    reasons = GaugeMetricFamily(
        "printd_printer_reason", "1 for each condition a printer reports (IPP keyword)", labels=["printer", "reason"]
    )
    today = GaugeMetricFamily(
        "printd_printer_cards_today",
        "Cards from each printer since the office's midnight",
        labels=["printer", "result"],
    )
    fed = CounterMetricFamily("printd_printer_cards_fed", "The printer's own card counter", labels=["printer"])
    for printer in printers:
        name = str(printer["name"])
        for candidate in PRINTER_STATES:
            state.add_metric([name, candidate], 1.0 if printer.get("state") == candidate else 0.0)
        for reason in printer.get("reasons") or []:
            reasons.add_metric([name, str(reason)], 1.0)
        for result, count in (printer.get("cards_today") or {}).items():
            today.add_metric([name, str(result)], float(count))
        counters = printer.get("counters") or {}
        if counters.get("cards_fed") is not None:
            fed.add_metric([name], float(counters["cards_fed"]))
    yield from (state, reasons, today, fed)


def _queue(queue: Mapping[str, int]) -> Metric:
    jobs = GaugeMetricFamily("printd_queue_jobs", "Jobs in the queue by state", labels=["state"])
    for state, count in sorted(queue.items()):
        jobs.add_metric([state], float(count))
    return jobs


def _stock(stock: Mapping[str, Any]) -> Iterator[Metric]:
    on_hand = GaugeMetricFamily("printd_blanks_on_hand", "Blank cards on hand, by station custody", labels=["station"])
    in_doubt = GaugeMetricFamily(
        "printd_blanks_in_doubt", "Blanks whose card is in doubt, by station", labels=["station"]
    )
    for station, custody in sorted((stock.get("stations") or {}).items()):
        on_hand.add_metric([station], float(custody.get("on_hand", 0)))
        in_doubt.add_metric([station], float(custody.get("in_doubt", 0)))
    low = GaugeMetricFamily("printd_blanks_low", "1 when this station's blanks are under the low-stock threshold")
    low.add_metric([], 1.0 if stock.get("low") else 0.0)
    yield from (on_hand, in_doubt, low)


def _cards(metrics: Mapping[str, Any]) -> Iterator[Metric]:
    cards = CounterMetricFamily(
        "printd_cards",
        "Cards whose outcome was booked since printd started, by printer, outcome and spoil category",
        labels=["printer", "outcome", "category"],
    )
    cycle = HistogramMetricFamily(
        "printd_card_cycle_seconds", "Time a card spends in the printer, feed to outcome", labels=["printer"]
    )
    for name, printer in sorted((metrics.get("printers") or {}).items()):
        for entry in printer.get("outcomes") or []:
            cards.add_metric([name, str(entry["outcome"]), str(entry["category"] or "")], float(entry["count"]))
        histogram = printer["cycle_seconds"]
        buckets = [
            (str(bound) if bound == "+Inf" else repr(float(bound)), float(count))
            for bound, count in histogram["buckets"]
        ]
        cycle.add_metric([name], buckets, sum_value=float(histogram["sum"]))
    started = GaugeMetricFamily("printd_start_time_seconds", "When printd started, seconds since the epoch")
    started.add_metric([], float(metrics.get("started_at", 0.0)))
    yield from (cards, cycle, started)


def _forecast(forecast: Mapping[str, Any]) -> Iterator[Metric]:
    backlog = GaugeMetricFamily(
        "printd_backlog_jobs", "Jobs waiting to be printed (queued or held), by priority", labels=["priority"]
    )
    for priority, count in sorted((forecast.get("backlog") or {}).items()):
        backlog.add_metric([priority], float(count))
    yield backlog
    if forecast.get("days_left") is not None:
        days = GaugeMetricFamily("printd_blanks_days_left", "Working days the blanks on hand last at the measured use")
        days.add_metric([], float(forecast["days_left"]))
        yield days
    reorder = GaugeMetricFamily("printd_blanks_reorder_point", "Blanks on hand below which more should be requested")
    reorder.add_metric([], float(forecast.get("reorder_point", 0)))
    yield reorder


def exposition(replies: Replies) -> bytes:
    """The text format Prometheus scrapes."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StationCollector(replies))
    return generate_latest(registry)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
