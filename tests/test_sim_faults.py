"""Fault-script parser: every clause, every malformed clause, and the seeded random spoils; and a printer that
hangs, on its in-process link."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.base import Card, CardResult, Outcome
from drivers.evolis import protocol
from drivers.evolis.protocol import Command
from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.faults import (
    NOT_AT,
    STAGES,
    Clause,
    FaultKind,
    FaultScript,
    FaultScriptError,
    Stage,
    Trigger,
    parse_clause,
    spoil_draw,
)
from drivers.sim.transport import InProcessTransport
from drivers.transport import TransportError
from tests.conftest import card_png


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 7: jam while printing", Clause(Trigger.CARD, 7, FaultKind.JAM)),
        ("card 7: jam", Clause(Trigger.CARD, 7, FaultKind.JAM)),
        ("card 12: encode fails", Clause(Trigger.CARD, 12, FaultKind.ENCODE_FAILS)),
        ("card 3: cover opens", Clause(Trigger.CARD, 3, FaultKind.COVER_OPENS)),
        ("card 4: print fails", Clause(Trigger.CARD, 4, FaultKind.PRINT_FAILS)),
        ("card 4: head error", Clause(Trigger.CARD, 4, FaultKind.PRINT_FAILS)),
        ("card 5: head temperature", Clause(Trigger.CARD, 5, FaultKind.HEAD_TEMPERATURE)),
        ("card 6: ribbon ends", Clause(Trigger.CARD, 6, FaultKind.RIBBON_ENDS)),
        ("card 8: garbled reply", Clause(Trigger.CARD, 8, FaultKind.GARBLED_REPLY)),
        ("card 9: no reply", Clause(Trigger.CARD, 9, FaultKind.NO_REPLY)),
        ("after 40: feeder empty", Clause(Trigger.AFTER, 40, FaultKind.FEEDER_EMPTY)),
        ("after 0: cover opens", Clause(Trigger.AFTER, 0, FaultKind.COVER_OPENS)),
        ("after 10: reject box full", Clause(Trigger.AFTER, 10, FaultKind.REJECT_BOX_FULL)),
        ("after 10: ribbon ends", Clause(Trigger.AFTER, 10, FaultKind.RIBBON_ENDS)),
        ("  CARD 7 :  Jam   While Printing ", Clause(Trigger.CARD, 7, FaultKind.JAM)),
        ("card 7: jam during the panels", Clause(Trigger.CARD, 7, FaultKind.JAM)),
        ("card 7: jam at eject", Clause(Trigger.CARD, 7, FaultKind.JAM, Stage.EJECT)),
        ("card 7: card jam before feeding", Clause(Trigger.CARD, 7, FaultKind.JAM, Stage.FEED)),
        ("card 2: cover opens at the encoder", Clause(Trigger.CARD, 2, FaultKind.COVER_OPENS, Stage.ENCODER)),
        ("card 2: reply timeout at feed", Clause(Trigger.CARD, 2, FaultKind.NO_REPLY, Stage.FEED)),
        ("card 2: link lost", Clause(Trigger.CARD, 2, FaultKind.LINK_LOST)),
        ("card 2: ribbon jam", Clause(Trigger.CARD, 2, FaultKind.RIBBON_JAM)),
        ("card 2: feeder empty", Clause(Trigger.CARD, 2, FaultKind.FEEDER_EMPTY)),
        ("card 1: spurious ribbon ended", Clause(Trigger.CARD, 1, FaultKind.SPURIOUS_RIBBON_ENDED)),
        ("after 5: feeder near empty", Clause(Trigger.AFTER, 5, FaultKind.FEEDER_NEAR_EMPTY)),
        ("card 2: printer hangs", Clause(Trigger.CARD, 2, FaultKind.PRINTER_HANGS)),
        ("card 2: hangs", Clause(Trigger.CARD, 2, FaultKind.PRINTER_HANGS)),
        ("card 2: Firmware Hangs during the panels", Clause(Trigger.CARD, 2, FaultKind.PRINTER_HANGS)),
        ("card 2: printer hangs before feeding", Clause(Trigger.CARD, 2, FaultKind.PRINTER_HANGS, Stage.FEED)),
        ("card 2: hangs at the feed", Clause(Trigger.CARD, 2, FaultKind.PRINTER_HANGS, Stage.FEED)),
        ("card 2: printer hangs at the encoder", Clause(Trigger.CARD, 2, FaultKind.PRINTER_HANGS, Stage.ENCODER)),
        ("card 2: firmware hangs at eject", Clause(Trigger.CARD, 2, FaultKind.PRINTER_HANGS, Stage.EJECT)),
    ],
)
def test_every_clause(text: str, expected: Clause) -> None:
    assert parse_clause(text) == expected


def test_canonical_text_round_trips() -> None:
    for kind in FaultKind:
        trigger = Trigger.AFTER if kind in (FaultKind.FEEDER_EMPTY, FaultKind.REJECT_BOX_FULL) else Trigger.CARD
        clause = Clause(trigger, 3, kind)
        assert parse_clause(str(clause)) == clause
        for stage in STAGES[kind]:
            staged = Clause(Trigger.CARD, 3, kind, stage)
            assert parse_clause(str(staged)) == staged and staged.at is stage


def test_a_stage_a_fault_cannot_strike_at_is_refused_with_the_reason() -> None:
    for kind in FaultKind:
        for stage in set(Stage) - set(STAGES[kind]):
            with pytest.raises(FaultScriptError, match="cannot strike") as caught:
                parse_clause(f"card 1: {kind.value} {stage.value}")
            assert NOT_AT[kind] in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jam on card 7", "fault clause 'jam on card 7': expected 'card N: <fault>' or 'after N: <fault>'"),
        ("card 7 jam", "fault clause 'card 7 jam': expected 'card N: <fault>' or 'after N: <fault>'"),
        ("before 3: cover opens", "fault clause 'before 3: cover opens': 'before' is not 'card' or 'after'"),
        ("card seven: jam", "fault clause 'card seven: jam': 'seven' is not a whole number"),
        ("card -2: jam", "fault clause 'card -2: jam': '-2' is not a whole number"),
        ("card 0: jam", "fault clause 'card 0: jam': cards are counted from 1"),
        ("card 3: explodes", "fault clause 'card 3: explodes': unknown fault 'explodes'; known faults: "),
        ("card 3:", "fault clause 'card 3:': unknown fault ''"),
        (
            "card 3: feeder empty at eject",
            "fault clause 'card 3: feeder empty at eject': 'feeder empty' cannot strike at eject (the feeder's level",
        ),
        (
            "card 3: encode fails during the panels",
            "fault clause 'card 3: encode fails during the panels': 'encode fails' cannot strike during the panels",
        ),
        ("after 3: cover opens at eject", "fault clause 'after 3: cover opens at eject': 'after N:' strikes before"),
        ("after 3: encode fails", "fault clause 'after 3: encode fails': 'encode fails' goes with 'card N:'"),
        ("after 3: jam", "fault clause 'after 3: jam': 'jam while printing' goes with 'card N:'"),
        ("after 3: printer hangs", "fault clause 'after 3: printer hangs': 'printer hangs' goes with 'card N:'"),
    ],
)
def test_malformed_clause_is_named(text: str, message: str) -> None:
    with pytest.raises(FaultScriptError) as caught:
        parse_clause(text)
    assert str(caught.value).startswith(message)


def test_script_error_names_the_bad_clause_among_good_ones() -> None:
    with pytest.raises(FaultScriptError, match="'card x: jam'"):
        FaultScript.parse("card 1: jam; card x: jam; after 4: feeder empty")


def test_clauses_separated_by_semicolons_newlines_or_a_list() -> None:
    expected = (
        Clause(Trigger.CARD, 7, FaultKind.JAM),
        Clause(Trigger.CARD, 12, FaultKind.ENCODE_FAILS),
        Clause(Trigger.AFTER, 40, FaultKind.FEEDER_EMPTY),
    )
    text = "card 7: jam while printing; card 12: encode fails; after 40: feeder empty;"
    assert FaultScript.parse(text).clauses == expected
    assert FaultScript.parse(text.replace(";", "\n")).clauses == expected
    listed = ["card 7: jam while printing", "card 12: encode fails; after 40: feeder empty"]
    assert FaultScript.parse(listed).clauses == expected
    assert FaultScript.parse(None).clauses == ()
    assert FaultScript.parse("").clauses == ()
    assert FaultScript.parse([]).clauses == ()


def test_card_faults_and_before_feed() -> None:
    script = FaultScript.parse("card 3: cover opens; card 3: jam; after 5: feeder empty; card 9: encode fails")
    assert script.card_faults(3) == {FaultKind.JAM}
    assert script.card_faults(9) == {FaultKind.ENCODE_FAILS}
    assert script.card_faults(4) == frozenset()
    assert [str(c) for c in script.before_feed(2, [])] == []
    assert [str(c) for c in script.before_feed(3, [])] == ["card 3: cover opens"]
    assert [str(c) for c in script.before_feed(3, ["card 3: cover opens"])] == []
    assert [str(c) for c in script.before_feed(6, ["card 3: cover opens"])] == ["after 5: feeder empty"]


def test_faults_by_stage() -> None:
    script = FaultScript.parse("card 2: jam at eject; card 2: cover opens at the encoder; card 2: no reply at feed")
    assert script.card_faults(2, Stage.EJECT) == {FaultKind.JAM}
    assert script.card_faults(2, Stage.ENCODER) == {FaultKind.COVER_OPENS}
    assert script.card_faults(2, Stage.PANELS) == frozenset()
    assert script.card_faults(2) == {FaultKind.JAM, FaultKind.COVER_OPENS}  # once in the printer
    assert script.before_feed(2, []) == []  # a reply fault at the feed is no printer condition
    assert [str(c) for c in script.pending(2, Stage.FEED, [FaultKind.NO_REPLY], [])] == [
        "card 2: no reply before feeding"
    ]
    assert script.pending(2, Stage.FEED, [FaultKind.NO_REPLY], ["card 2: no reply before feeding"]) == []


def test_a_hang_strikes_the_command_a_link_fault_does_at_its_stage() -> None:
    script = FaultScript.parse("card 1: printer hangs; card 2: hangs before feeding")
    assert script.card_faults(1, Stage.PANELS) == {FaultKind.PRINTER_HANGS}
    assert script.before_feed(2, []) == []  # not a printer condition: it strikes Pr on the link
    assert [str(c) for c in script.pending(2, Stage.FEED, [FaultKind.PRINTER_HANGS], [])] == [
        "card 2: printer hangs before feeding"
    ]


def test_spoil_rate_is_checked() -> None:
    with pytest.raises(FaultScriptError, match=r"spoil_rate 1\.5"):
        FaultScript.parse(spoil_rate=1.5)
    with pytest.raises(FaultScriptError, match=r"spoil_rate -0\.1"):
        FaultScript(spoil_rate=-0.1)


def test_random_spoils_are_a_pure_function_of_seed_and_card() -> None:
    first = FaultScript.parse(spoil_rate=0.1, seed=42)
    again = FaultScript.parse(spoil_rate=0.1, seed=42)
    other = FaultScript.parse(spoil_rate=0.1, seed=43)
    spoiled = [n for n in range(1, 2001) if first.random_spoil(n)]
    assert spoiled == [n for n in range(1, 2001) if again.random_spoil(n)]
    assert spoiled != [n for n in range(1, 2001) if other.random_spoil(n)]
    assert 150 <= len(spoiled) <= 250  # about 10 %
    assert all(FaultKind.PRINT_FAILS in first.card_faults(n) for n in spoiled)
    # Asking out of order, or again, changes nothing: no hidden generator state.
    assert [n for n in reversed(range(1, 2001)) if first.random_spoil(n)] == spoiled[::-1]
    assert spoil_draw(42, 7) == spoil_draw(42, 7)


def test_no_random_spoils_at_rate_zero_and_all_at_one() -> None:
    assert not any(FaultScript.parse(spoil_rate=0.0).random_spoil(n) for n in range(1, 500))
    assert all(FaultScript.parse(spoil_rate=1.0).random_spoil(n) for n in range(1, 500))


# ---- a printer that hangs, on its in-process link ------------------------------------------------------

FAST = {"reply_timeout": 0.3, "motion_timeout": 0.5, "quiet_timeout": 0.02, "confirm_delay": 0}
BLOCKED = 0.3
"""How long a hung write is watched still blocking (it would block forever)."""
RELEASED = 5.0
"""How long a released write may take to return (a loaded machine)."""


@pytest.fixture
def hanging(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SimHandle]:
    """A printer whose firmware hangs at card 1 (the stage from the test's parameter), with a state file and an
    encoder only for a hang at the encoder; it is power-cycled at the end, so no thread stays blocked on it."""
    stage = getattr(request, "param", "")
    handle = make_sim_printer(
        "hang",
        cards=50,
        seconds_per_card=0,
        ribbon="kb",
        faults=f"card 1: printer hangs {stage}",
        state_file=tmp_path / "sim.json",
        encoder=stage == "at the encoder",
    )
    yield handle
    handle.power_cycle()


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``call()`` in a thread; what it returned or raised lands in the list."""
    done: list[object] = []

    def run() -> None:
        try:
            done.append(call())
        except Exception as exc:
            done.append(exc)

    thread = threading.Thread(target=run, name="hung-writer", daemon=True)
    thread.start()
    return thread, done


def saved(handle: SimHandle) -> dict[str, object]:
    assert handle.state is not None
    state: dict[str, object] = json.loads(handle.state.path.read_text(encoding="utf-8"))
    return state


def first_panel() -> bytes:
    return protocol.encode_command(protocol.download_panel("k", 2, bytes(protocol.panel_data_size("k", 2))))


def test_a_write_to_a_hung_printer_blocks_until_the_link_is_closed(hanging: SimHandle) -> None:
    link = hanging.transport
    link.write(protocol.encode_command(protocol.start_sequence()))
    assert link.read(1.0) == b"OK\r"
    writer, done = in_thread(lambda: link.write(first_panel()))  # the card is fed, and the printer hangs
    writer.join(BLOCKED)
    assert writer.is_alive() and hanging.printer.hung
    state = saved(hanging)
    assert state["cards_fed"] == 1 and state["hopper"] == state["reject_box"] == []
    assert state["card"] is not None and state["card"]["failure"] == FaultKind.JAM.value  # type: ignore[index]

    link.close()  # the driver drops the link (or the process stops)
    writer.join(RELEASED)
    assert not writer.is_alive() and isinstance(done[0], TransportError)
    assert hanging.printer.hung  # still: only a power cycle ends a hang

    again = InProcessTransport(hanging.printer)  # a host that reconnects meets the same hung printer
    writer, done = in_thread(lambda: again.write(protocol.encode_command(protocol.read_status())))
    writer.join(BLOCKED)
    assert writer.is_alive()
    hanging.printer.power_cycle()
    writer.join(RELEASED)
    assert not writer.is_alive() and isinstance(done[0], TransportError) and "switched off" in str(done[0])


def exchange(link: InProcessTransport, cmd: Command) -> str:
    link.write(protocol.encode_command(cmd))
    return link.read(1.0).decode().strip()


def test_after_a_power_cycle_the_card_a_hang_left_inside_is_a_jam(hanging: SimHandle) -> None:
    driver = hanging.driver(**FAST)
    driver.open()
    printing, done = in_thread(lambda: driver.print_card(Card(front=card_png())))
    printing.join(BLOCKED)
    assert printing.is_alive()
    hanging.power_cycle()
    printing.join(RELEASED)
    assert not printing.is_alive()
    [result] = done
    assert isinstance(result, CardResult) and result.outcome is Outcome.UNKNOWN  # the link went mid-card

    link = hanging.connect()
    assert protocol.ERR_MECHANICAL in exchange(link, protocol.read_status())
    assert exchange(link, Command("Rse", ("p",))) == "CARD"
    assert exchange(link, protocol.read_last_card_answer()) == "ERR CARD"
    assert exchange(link, protocol.reject_card()) == "OK"  # the host's Ser takes it out, as clear-jam does
    assert exchange(link, protocol.read_status()) == "READY"
    assert [c.index for c in hanging.model.reject_box] == [1] and hanging.model.physical_truth().balanced


@pytest.mark.parametrize(
    ("hanging", "fed", "position"),
    [
        ("before feeding", 0, None),
        ("at the encoder", 1, "contactless"),
        ("", 1, "print_head"),
        ("at eject", 1, "print_head"),
    ],
    indirect=["hanging"],
    ids=["feed", "encoder", "panels", "eject"],
)
def test_a_new_process_on_the_state_file_finds_the_card_where_the_hang_left_it(
    hanging: SimHandle, fed: int, position: str | None
) -> None:
    driver = hanging.driver(**FAST)
    driver.open()
    printing, _ = in_thread(lambda: driver.print_card(Card(front=card_png())))
    printing.join(BLOCKED)
    assert printing.is_alive() and hanging.printer.hung
    assert hanging.state is not None
    again = make_sim_printer(  # power on: a new process on the state file
        "hang", ribbon="kb", seconds_per_card=0, state_file=hanging.state.path, encoder=hanging.encoder is not None
    )
    hanging.power_cycle()  # the old one lets its thread go
    printing.join(RELEASED)

    restarted = again.driver(**FAST)
    restarted.open()
    status = restarted.status()
    assert status.counters.cards_fed == fed and again.model.hopper == [] and again.model.reject_box == []
    if position is None:  # nothing was fed: nothing inside, nothing wrong
        assert restarted.card_inside() is False and status.state.value == "ready"
        return
    assert again.model.position.value == position
    assert "media-jam-error" in {str(r) for r in status.reasons}
    assert restarted.card_inside() is True and restarted.reject_card() and restarted.card_inside() is False
    assert [c.index for c in again.model.reject_box] == [1]
    assert restarted.status().state.value == "ready"
