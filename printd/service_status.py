"""The one-line STATUS= that systemd shows for printd: queue depth, each printer's state, blanks on hand."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from printd.logging import get_logger
from printd.notify import Notifier
from printd.station import PrinterView, Station

log = get_logger("printd.service_status")

STATUS_EVERY_SECONDS = 1.0
"""The line is recomputed this often and sent only when it changed: at most one STATUS= a second."""


def status_line(queue: Mapping[str, int], printers: Iterable[PrinterView], on_hand: int) -> str:
    """E.g. ``12 queued, 1 printing; counter-1 busy, counter-2 paused (cover-open-error); 5796 blanks on hand``."""
    depth = [f"{queue.get('queued', 0)} queued", f"{queue.get('printing', 0)} printing"]
    depth += [f"{queue[state]} {state.replace('_', ' ')}" for state in ("held", "in_doubt") if queue.get(state)]
    states = [_printer_state(view) for view in printers]
    return f"{', '.join(depth)}; {', '.join(states) or 'no printers'}; {on_hand} blanks on hand"


def _printer_state(view: PrinterView) -> str:
    state = str(view.as_dict()["state"])
    if state == "paused" and view.pause_reason:
        return f"{view.name} paused ({view.pause_reason})"
    return f"{view.name} {state}"


def current_status(station: Station) -> str:
    store = station.store
    return status_line(store.queue_counts(), station.views(), store.balance().on_hand)


async def status_loop(notifier: Notifier, station: Station, every: float = STATUS_EVERY_SECONDS) -> None:
    """Send STATUS= whenever the line changes, at most once every ``every`` seconds."""
    last = ""
    while True:
        try:
            line = current_status(station)
        except Exception as exc:  # a storage hiccup must not end the status updates
            log.warning("status.unavailable", error=type(exc).__name__)
        else:
            if line != last:
                notifier.send(status=line)
                last = line
        await asyncio.sleep(every)
