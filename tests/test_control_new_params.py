"""Bad input to the parameters the dashboard added (jobs.list priority, stock.history kind, printers.pause reason):
each refused with params.invalid naming what is allowed, and nothing changed."""

from __future__ import annotations

import asyncio

import pytest

from printd.control.auth import Caller, Role
from printd.control.methods import Dispatcher
from printd.errors import PrintdError
from printd.printers import BuiltPrinter
from printd.station import Station
from printd.store import SqliteStore
from tests.conftest import new_job
from tests.test_station import ScriptedDriver

OPERATOR = Caller(1000, 1000, 1, "rina", Role.OPERATOR)


@pytest.mark.parametrize(
    ("method", "params", "says"),
    [
        ("jobs.list", {"priority": "urgent"}, "walk_in, normal, backlog"),
        ("jobs.list", {"priority": 2}, "priority"),
        ("stock.history", {"kind": "issued"}, "received"),
        ("stock.history", {"limit": 0}, "limit"),
        ("printers.pause", {"printer": "p1", "reason": "x" * 201}, "reason"),
        ("printers.pause", {"printer": "p1", "reason": "ribbon\nchange"}, "reason"),
        ("printers.pause", {"printer": "p1", "why": "ribbon"}, "why"),
    ],
)
def test_bad_parameters_are_refused_and_change_nothing(
    store: SqliteStore, png: bytes, method: str, params: dict[str, object], says: str
) -> None:
    station = Station(store, [BuiltPrinter("p1", ScriptedDriver())])  # not started: nothing prints meanwhile
    dispatcher = Dispatcher(store, station, "test")
    store.submit(new_job("J-1", png), "t")
    with pytest.raises(PrintdError) as refused:
        asyncio.run(dispatcher.dispatch(method, params, OPERATOR))
    assert refused.value.code == "params.invalid" and says in refused.value.message
    assert not station.worker("p1").view.paused and store.printer_pauses() == {}
    assert [job.ref for job in store.list_jobs()] == ["J-1"] and store.stock_history() == []
