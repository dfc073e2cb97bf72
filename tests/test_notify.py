"""What printd tells systemd over a real $NOTIFY_SOCKET: READY=1 after the printers are probed, STATUS= as things
change, WATCHDOG=1 only while the loop and every printer are alive, STOPPING=1."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import pytest
import structlog

from drivers.sim import SimHandle, make_sim_printer, sim_serial
from drivers.sim.encoder import SimEncoder
from drivers.sim.model import PrinterModel
from drivers.sim.printer import SimPrinter
from drivers.sim.transport import InProcessTransport
from printd.config import parse_config
from printd.control.auth import actor_name
from printd.control.client import ControlClient
from printd.daemon import Daemon
from printd.notify import Notifier, watchdog_seconds
from printd.printers import BuiltPrinter
from printd.watchdog import CallBounds, Heartbeat, WatchedDriver, bounds_for, watch
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import ROOT, DaemonProcess, SimSpec, wait_for
from tests.notify_socket import NotifySocket, largest_gap, notify_environment

WATCHDOG_USEC = 1_000_000  # pings every 0.5 s


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    with notify_environment(tmp_path / "notify", monkeypatch, WATCHDOG_USEC) as sock:
        yield sock


# ---- the sender ----------------------------------------------------------------------------------------


def test_one_datagram_per_message_fields_in_order_newlines_kept_out(notify: NotifySocket) -> None:
    notifier = Notifier()
    assert notifier.enabled
    notifier.send(ready=1, status="line one\nline two")
    notifier.send(stopping=1)
    notify.wait_for("STOPPING")
    first, second = notify.messages
    assert list(first.fields.items()) == [("READY", "1"), ("STATUS", "line one line two")]
    assert second.fields == {"STOPPING": "1"} and first.pid == second.pid == os.getpid()
    notifier.close()


def test_abstract_socket_address() -> None:
    name = f"printd-test-{os.getpid()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    receiver.settimeout(5)
    notifier = Notifier("@" + name)
    notifier.send(watchdog=1)
    assert receiver.recv(100) == b"WATCHDOG=1"
    notifier.close()
    receiver.close()


def test_no_notify_socket_sends_nothing_and_has_no_watchdog() -> None:
    notifier = Notifier(environ={"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled and notifier.watchdog_seconds is None
    notifier.send(ready=1)  # a no-op, not an error


def test_watchdog_interval_is_for_the_named_process_only() -> None:
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_seconds({}) is None


# ---- the daemon as a process ---------------------------------------------------------------------------


def _status(client: ControlClient) -> dict[str, object]:
    result = client.call("status", {})
    assert isinstance(result, dict)
    return result


def test_ready_after_the_printers_are_probed_then_status_watchdog_and_stopping(
    tmp_path: Path, notify: NotifySocket
) -> None:
    # "mute" is a real Evolis driver on a serial line nobody answers: its first probe takes the reply timeout
    mute_line, mute_port = os.openpty()
    mute = SimSpec("mute", transport=f"serial://{os.ttyname(mute_port)}")
    d = DaemonProcess(tmp_path, [SimSpec("p1", seconds_per_card=0.02), SimSpec("p2", seconds_per_card=0.02), mute])
    launched = time.monotonic()
    d.start()
    try:
        assert d.process is not None
        ready = notify.wait_for("READY", "1")
        assert ready.pid == d.process.pid  # from the main process itself, as NotifyAccess=main requires
        assert ready.at - launched >= 2.0  # it waited for the mute printer's probe to time out
        client = d.client()
        printers = {p["name"]: p for p in _status(client)["printers"]}  # type: ignore[attr-defined]
        # READY=1 came after each printer's first status: none is still unknown
        assert all(printers[n]["state"] == "ready" and printers[n]["counters"]["cards_fed"] == 0 for n in ("p1", "p2"))
        assert printers["mute"]["state"] == "offline" and "not reachable" in printers["mute"]["detail"]
        starting = notify.with_field("STATUS")[0]
        assert starting.at <= ready.at and starting.fields["STATUS"].startswith("starting")
        notify.wait_for("STATUS", "0 queued, 0 printing; p1 ready, p2 ready, mute offline; 0 blanks on hand")

        client.call("stock.receive", {"count": 50, "ref": "DO-1"})
        for name in ("p1", "p2"):
            client.call("printers.pause", {"printer": name})
        face = tmp_path / "face.png"
        face.write_bytes(card_png("NOTIFY"))
        jobs = [{"ref": f"n-{n}", "front": str(face)} for n in range(20)]
        assert not client.call("jobs.submit_batch", {"jobs": jobs})["rejected"]  # type: ignore[index]
        by = f"paused by {actor_name(os.getuid())}"
        paused = f"p1 paused ({by}), p2 paused ({by}), mute offline"
        notify.wait_for("STATUS", f"20 queued, 0 printing; {paused}; 50 blanks on hand")
        for name in ("p1", "p2"):
            client.call("printers.resume", {"printer": name})
        notify.wait_for("STATUS", "0 queued, 0 printing; p1 ready, p2 ready, mute offline; 30 blanks on hand", 60)
        client.close()
        stop_at = time.monotonic()
        assert d.stop() == 0
    finally:
        d.kill()
        os.close(mute_line)
        os.close(mute_port)
    stopping = notify.wait_for("STOPPING", "1")
    assert stopping.at >= stop_at and stopping.pid == ready.pid

    messages = notify.messages
    after_ready = messages[messages.index(ready) + 1 :]
    statuses = [m for m in after_ready if "STATUS" in m.fields and "STOPPING" not in m.fields]
    assert len(statuses) >= 3
    assert all(a.fields["STATUS"] != b.fields["STATUS"] for a, b in itertools.pairwise(statuses))  # on change only
    gaps = [b.at - a.at for a, b in itertools.pairwise(statuses)]
    assert min(gaps) >= 0.9, gaps  # rate-limited: at most one a second
    pings = notify.pings(since=ready.at, until=stopping.at)
    assert largest_gap(pings, ready.at, stopping.at) < 1.0  # every half of WATCHDOG_USEC
    assert len(pings) >= int((stopping.at - ready.at) / 0.5) - 1

    store = d.open_store()
    assert_ledger_consistent(store)
    assert store.balance().issued == 20
    store.close()
    issued = sum(d.physical_truth(name)[0].in_hopper for name in ("p1", "p2"))
    assert issued == 20


def test_a_long_card_is_alive_work_and_keeps_the_pings_coming(tmp_path: Path, notify: NotifySocket) -> None:
    d = DaemonProcess(tmp_path, [SimSpec("slow", seconds_per_card=3.0)])
    d.start()
    try:
        notify.wait_for("READY", "1")
        client = d.client()
        client.call("stock.receive", {"count": 5, "ref": "DO-1"})
        face = tmp_path / "face.png"
        face.write_bytes(card_png("SLOW"))
        client.call("jobs.submit", {"job": {"ref": "slow-1", "front": str(face)}})
        wait_for(lambda: client.call("jobs.get", {"job": "slow-1"})["state"] == "printing", 10, "the card to start")  # type: ignore[index]
        started = time.monotonic()
        wait_for(lambda: client.call("jobs.get", {"job": "slow-1"})["state"] == "done", 20, "the card to finish")  # type: ignore[index]
        ended = time.monotonic()
        client.close()
        assert d.stop() == 0
    finally:
        d.kill()
    assert ended - started >= 2.5  # the printer really spent its mechanical time in one driver call
    assert largest_gap(notify.pings(), started, ended) < 1.0
    truth, _ = d.physical_truth("slow")
    assert truth.in_hopper == 1


# ---- wedges, in-process so the test can block the loop and the driver themselves ----------------------


@contextmanager
def daemon_in_thread(
    tmp_path: Path, printers: list[BuiltPrinter]
) -> Iterator[tuple[Daemon, asyncio.AbstractEventLoop, ControlClient]]:
    """The real Daemon on its own event loop in a thread, as ``printd run`` runs it (no signal handlers)."""
    config = parse_config(
        f'[station]\nname = "wedge"\ndatabase = "{tmp_path / "printd.db"}"\nsocket = "{tmp_path / "printd.sock"}"\n'
    )
    ready = threading.Event()
    started: dict[str, Daemon] = {}
    loops: list[asyncio.AbstractEventLoop] = []
    failure: list[BaseException] = []

    async def main(daemon: Daemon) -> None:
        loops.append(asyncio.get_running_loop())
        await daemon.run(on_ready=lambda _: ready.set())

    def run() -> None:
        try:
            daemon = Daemon(config, printers)
            started["daemon"] = daemon
            asyncio.run(main(daemon))
        except BaseException as exc:
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="daemon-under-test")
    thread.start()
    assert ready.wait(30) and not failure, failure
    daemon, loop = started["daemon"], loops[0]
    client = ControlClient(str(tmp_path / "printd.sock"), timeout=30)
    try:
        yield daemon, loop, client
    finally:
        client.close()
        loop.call_soon_threadsafe(daemon.request_stop)
        thread.join(60)
        assert not thread.is_alive()


def test_a_blocked_event_loop_sends_no_pings(tmp_path: Path, notify: NotifySocket) -> None:
    handle = make_sim_printer("idle", cards=10, seconds_per_card=0.0)
    with daemon_in_thread(tmp_path, [BuiltPrinter("idle", handle.driver(), handle)]) as (_, loop, _):
        ready = notify.wait_for("READY", "1")
        time.sleep(1.2)
        blocked_at = time.monotonic()
        loop.call_soon_threadsafe(time.sleep, 2.5)  # a bug that blocks the loop: no await for 2.5 s
        time.sleep(4.0)
        end = time.monotonic()
    pings = notify.pings(since=ready.at)
    assert largest_gap(pings, ready.at, blocked_at) < 1.0
    assert largest_gap(pings, blocked_at, end) >= 2.3  # nothing while the loop was blocked
    assert any(t > blocked_at + 2.5 for t in pings)  # and the pings came back with the loop


def _wedgeable_sim(name: str) -> tuple[BuiltPrinter, SimHandle, threading.Event, threading.Event]:
    """A simulated printer whose mechanism can be made to hang mid-card (the model's sleep blocks)."""
    release, hung = threading.Event(), threading.Event()
    release.set()

    def mechanism(seconds: float) -> None:
        if not release.is_set():
            hung.set()
            release.wait()
        time.sleep(seconds)

    model = PrinterModel(sim_serial(name), cards=20, seconds_per_card=0.1, ribbon_type="kb", sleep=mechanism)
    printer = SimPrinter(model)
    handle = SimHandle(name, model, printer, InProcessTransport(printer), SimEncoder(model))
    return BuiltPrinter(name, handle.driver(), handle), handle, release, hung


def test_a_driver_call_stuck_past_its_bound_stops_the_pings(tmp_path: Path, notify: NotifySocket) -> None:
    built, handle, release, hung = _wedgeable_sim("w1")
    bounds = CallBounds(card=1.5, call=1.5, idle=30.0)  # a card here takes 0.1 s; past 1.5 s it is wedged
    face = tmp_path / "face.png"
    face.write_bytes(card_png("WEDGE"))
    with structlog.testing.capture_logs() as logs, daemon_in_thread(tmp_path, [watch(built, bounds)]) as (d, _, client):
        ready = notify.wait_for("READY", "1")
        client.call("stock.receive", {"count": 10, "ref": "DO-1"})
        client.call("jobs.submit", {"job": {"ref": "w-1", "front": str(face)}})

        def done(ref: str) -> bool:
            return client.call("jobs.get", {"job": ref})["state"] == "done"  # type: ignore[index,no-any-return]

        wait_for(lambda: done("w-1"), 30, "the first card")
        release.clear()  # the next card hangs in the printer's mechanism
        client.call("jobs.submit", {"job": {"ref": "w-2", "front": str(face)}})
        assert hung.wait(10)
        hung_at = time.monotonic()
        time.sleep(4.0)
        released_at = time.monotonic()
        release.set()
        wait_for(lambda: done("w-2"), 30, "the card once the mechanism moves again")
        time.sleep(1.0)
        end = time.monotonic()
        store = d.store
        balance = store.balance()
        assert_ledger_consistent(store)
    pings = notify.pings(since=ready.at)
    assert largest_gap(pings, ready.at, hung_at) < 1.0
    # pings went on while the card was within its bound, then stopped until the call returned
    assert any(hung_at < t < hung_at + 1.5 for t in pings)
    assert not [t for t in pings if hung_at + 1.5 + 0.6 < t < released_at]
    assert any(released_at < t < end for t in pings)
    withheld = [e for e in logs if e["event"] == "watchdog.withheld"]
    assert len(withheld) == 1 and "print_card running" in withheld[0]["stalled"]["w1"]
    assert any(e["event"] == "watchdog.resumed" for e in logs)
    truth = handle.model.physical_truth()
    assert balance.issued == 2 == truth.in_hopper and truth.balanced


def test_sigterm_while_a_printer_is_still_being_probed_stops_without_ready(
    tmp_path: Path, notify: NotifySocket
) -> None:
    line, port = os.openpty()
    d = DaemonProcess(tmp_path, [SimSpec("mute", transport=f"serial://{os.ttyname(port)}")])
    config = d.write_config()
    config.write_text(config.read_text().replace("reply_timeout = 2.0", "reply_timeout = 60.0"))
    with d.log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "printd.daemon", "run", "--config", str(config)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
    try:
        notify.wait_for("STATUS", "starting: probing the printers")
        process.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING", "1", timeout=10)  # not after the 60 s the probe may take
        os.close(line)  # the line goes dead: the driver call waiting on it returns
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        os.close(port)
    assert not notify.with_field("READY")


@runtime_checkable
class _Rejects(Protocol):
    def reject_card(self) -> bool: ...


def test_a_watched_driver_times_every_call_and_keeps_the_drivers_own_capabilities() -> None:
    handle = make_sim_printer("cap", cards=1, seconds_per_card=0.0)
    evolis = handle.driver()
    watched = watch(BuiltPrinter("cap", evolis, handle), CallBounds(card=5.0, call=5.0)).driver
    assert isinstance(watched, WatchedDriver)
    # found without calling __getattr__, as isinstance() against a Protocol looks from Python 3.12 on
    assert isinstance(evolis, _Rejects) and isinstance(watched, _Rejects)
    assert callable(inspect.getattr_static(watched, "reject_card"))
    public = {n for n in dir(type(evolis)) if not n.startswith("_") and callable(getattr(evolis, n))}
    assert public <= {n for n in dir(type(watched)) if not n.startswith("_")}
    watched.open()
    seen: list[str | None] = []
    original = watched.heartbeat.begin
    watched.heartbeat.begin = lambda call: (seen.append(call), original(call))  # type: ignore[method-assign,func-returns-value]
    watched.status()
    watched.card_inside()  # type: ignore[attr-defined]
    assert seen == ["status", "card_inside"] and watched.heartbeat.idle


def test_each_kind_of_call_is_judged_against_its_own_bound() -> None:
    now = [100.0]
    beat = Heartbeat(CallBounds(card=60.0, call=5.0, idle=40.0), clock=lambda: now[0])
    assert beat.stalled(139.0) is None and beat.stalled(141.0) == "no driver call for 41 s (bound 40 s)"
    beat.begin("print_card")  # a card is alive work for as long as such a card can take
    assert beat.stalled(159.0) is None and beat.stalled(161.0) == "print_card running for 61 s (bound 60 s)"
    now[0] = 200.0
    beat.end()
    beat.begin("status")
    assert beat.stalled(204.0) is None and beat.stalled(206.0) == "status running for 6 s (bound 5 s)"


def test_bounds_follow_each_printers_own_timing() -> None:
    sim, evolis, cups = parse_config(
        '[[printer]]\nname = "s"\ntype = "sim"\nseconds_per_card = 20.0\n'
        '[[printer]]\nname = "e"\ntype = "evolis"\ntransport = "serial:///dev/ttyUSB0"\nribbon = "ymcko"\n'
        "reply_timeout = 5.0\nmotion_timeout = 60.0\n"
        '[[printer]]\nname = "c"\ntype = "cups"\nqueue = "Evolis"\njob_timeout = 300.0\n'
    ).printer
    assert bounds_for(sim).card == 50.0  # twice its mechanical time, plus slack
    evolis_bounds = bounds_for(evolis)  # ten panels (YMCKO both sides) and eight other exchanges at 60 s
    assert evolis_bounds.call == 130.0 and evolis_bounds.card == 18 * 60.0 + 2 * 130.0
    assert bounds_for(cups).card > 300.0
