"""Reconciling printers' card counters with the ledger: asking each printer's worker, and the status warning."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Sequence

from drivers.base import MajorState
from printd.errors import PrintdError
from printd.ledger import Reconciliation
from printd.station import PrinterView, Station
from printd.store import Store
from printd.store.records import iso

ANSWER_SECONDS = 180.0
"""How long a reconciliation waits for its printer: the worker answers between cards, and a card on a real
printer takes well under a minute."""


def reconcile(
    station: Station, printers: Sequence[str], actor: str, timeout: float = ANSWER_SECONDS
) -> list[Reconciliation | PrintdError]:
    """Reconcile each of ``printers`` (all asked at once), in order: its reconciliation, or why there is none."""
    asked = [(name, station.worker(name).request_reconcile(actor)) for name in printers]
    results: list[Reconciliation | PrintdError] = []
    for name, future in asked:
        try:
            results.append(future.result(timeout))
        except concurrent.futures.TimeoutError:
            future.cancel()
            results.append(
                PrintdError(
                    "printer.busy",
                    f"printer {name!r} did not get to the reconciliation within {timeout:.0f} s (a card still in"
                    " progress, or the printer stuck); try again",
                    {"printer": name},
                )
            )
        except PrintdError as exc:
            results.append(exc)
    return results


def as_dict(found: Reconciliation) -> dict[str, object]:
    return {
        "printer": found.printer,
        "event_id": found.event_id,
        "at": iso(found.at),
        "actor": found.actor,
        "counter": found.counter,
        "previous_counter": found.previous_counter,
        "counted": found.counter - found.previous_counter,
        "booked": found.consumed,
        "difference": found.difference,
        "explained": found.explained,
        "unexplained": found.unexplained,
    }


def alerts(store: Store, views: Iterable[PrinterView]) -> list[dict[str, object]]:
    """A warning for each printer with blanks still unexplained: what its last reconciliation left open, less
    what adjustments against it explained since, plus any drift of its live counter from the ledger since (not
    counted while the printer cannot be read)."""
    found: list[dict[str, object]] = []
    for view in views:
        readable = view.counters is not None and view.state != MajorState.OFFLINE.value
        counter = view.counters.cards_fed if readable and view.counters is not None else None
        gap = store.unreconciled(view.name, counter)
        if not gap:
            continue
        if gap > 0:
            what = f"{gap} blank(s) left its feeder that the ledger does not book"
        else:
            what = f"the ledger books {-gap} blank(s) more than its card counter shows"
        found.append(
            {
                "event": "stock.unreconciled",
                "printer": view.name,
                "blanks": gap,
                "message": f"printer {view.name}: {what} (printctl reconcile {view.name}); find out why, then have"
                f" a supervisor book it: printctl stock adjust {-gap:+d} --printer {view.name} --reason WHY",
            }
        )
    return found
