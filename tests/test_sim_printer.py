"""The printer side of the protocol: real encoded Evolis commands in, replies and physical truth out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from drivers.evolis import protocol as p
from drivers.evolis.protocol import Command, ReplyDecoder
from drivers.sim.faults import FaultScript
from drivers.sim.model import PrinterModel
from drivers.sim.printer import SimPrinter

K_SIZE = p.panel_data_size("k", 2)
Y_SIZE = p.panel_data_size("y", 32)


def make(cards: int = 5, faults: str = "", *, save_png_dir: Path | None = None) -> SimPrinter:
    model = PrinterModel("SIM0000001", cards=cards, faults=FaultScript.parse(faults), seconds_per_card=0)
    return SimPrinter(model, save_png_dir=save_png_dir)


def ask(printer: SimPrinter, cmd: Command) -> str:
    raw = printer.receive(p.encode_command(cmd))
    replies = ReplyDecoder().feed(raw)
    assert len(replies) == 1, raw
    return replies[0].text


def panel(name: str, fill: int = 0) -> Command:
    size = K_SIZE if name in "ko" else Y_SIZE
    levels = 2 if name in "ko" else 32
    return p.download_panel(name, levels, bytes([fill]) * size)


def front_panels() -> list[Command]:
    return [panel("y"), panel("m"), panel("c"), panel("k"), panel("o", 0xFF)]


def card_commands() -> list[Command]:
    return [p.start_sequence(), p.front_side(), *front_panels(), p.end_sequence()]


def run(printer: SimPrinter, cmds: list[Command]) -> list[str]:
    return [ask(printer, cmd) for cmd in cmds]


def fed(printer: SimPrinter) -> int:
    return int(ask(printer, p.read_counter("c")))


def test_identity_and_counters() -> None:
    printer = make()
    assert ask(printer, p.read_model()) == "Primacy"
    assert ask(printer, p.read_serial()) == "SIM0000001"
    assert ask(printer, p.read_firmware()) == "SIM-1.0"
    assert ask(printer, p.read_ribbon()) == "ymcko"
    assert run(printer, card_commands()) == ["OK"] * 8
    assert ask(printer, p.read_counter("c")) == "1"
    assert ask(printer, p.read_counter("p")) == "5"
    assert ask(printer, p.read_counter("l")) == "499"
    assert ask(printer, Command("Rco", ("z",))) == "ERR PARAMETER"


def test_a_card_is_fed_at_its_first_panel_and_ejected_to_the_hopper() -> None:
    printer = make()
    assert (
        run(printer, [p.host_error_management(), p.set_ribbon("ymcko"), p.start_sequence(), p.front_side()])
        == ["OK"] * 4
    )
    assert fed(printer) == 0
    assert ask(printer, panel("y")) == "OK"
    assert fed(printer) == 1
    assert ask(printer, Command("Rse", ("p",))) == "CARD"
    assert run(printer, [panel("m"), panel("c"), panel("k"), panel("o"), p.end_sequence()]) == ["OK"] * 5
    assert fed(printer) == 1
    truth = printer.model.physical_truth()
    assert (truth.in_hopper, truth.in_printer, truth.in_feeder) == (1, 0, 4) and truth.balanced
    assert printer.model.hopper[0].panels == ["front/y", "front/m", "front/c", "front/k", "front/o"]


def test_two_sided_card() -> None:
    printer = make()
    cmds = [p.start_sequence(), p.front_side(), *front_panels(), p.back_side(), panel("k"), p.end_sequence()]
    assert run(printer, cmds) == ["OK"] * len(cmds)
    card = printer.model.hopper[0]
    assert card.sides_printed == ["front", "back"]
    assert card.panels[-1] == "back/k"


def test_sic_feeds_when_nothing_was_printed_and_printing_follows_on_the_same_card() -> None:
    printer = make()
    assert ask(printer, p.park_contactless()) == "OK"
    assert fed(printer) == 1
    uid = printer.model.encode(b"chip")
    assert run(printer, card_commands()) == ["OK"] * 8
    assert fed(printer) == 1
    assert printer.model.hopper[0].chip_uid == uid
    assert printer.model.hopper[0].encoded


def test_out_of_sequence_commands() -> None:
    printer = make()
    assert ask(printer, panel("k")) == "ERR SEQUENCE"  # no Ss
    assert ask(printer, p.front_side()) == "ERR SEQUENCE"
    assert ask(printer, p.end_sequence()) == "ERR SEQUENCE"  # no card
    assert ask(printer, p.reject_card()) == "ERR SEQUENCE"
    assert run(printer, [p.start_sequence(), p.front_side()]) == ["OK", "OK"]
    assert ask(printer, p.end_sequence()) == "ERR SEQUENCE"  # nothing fed: nothing to eject
    assert fed(printer) == 0
    assert printer.model.physical_truth().balanced


def test_unknown_malformed_and_bad_parameters() -> None:
    printer = make()
    assert ask(printer, Command("Zz")) == "ERROR CDE"
    assert ReplyDecoder().feed(printer.receive(b"junk"))[0].text == "ERROR CDE FRAME"
    assert ask(printer, Command("Pem", ("7",))) == "ERR PARAMETER"
    assert ask(printer, Command("Sk", ("q",))) == "ERR PARAMETER"
    assert ask(printer, p.park_contact()) == "ERR NO OPTION"
    assert fed(printer) == 0


def test_commands_split_across_writes() -> None:
    printer = make()
    data = b"".join(p.encode_command(c) for c in card_commands())
    out = bytearray()
    for start in range(0, len(data), 4099):
        out += printer.receive(data[start : start + 4099])
    assert [r.text for r in ReplyDecoder().feed(bytes(out))] == ["OK"] * 8
    assert len(printer.model.hopper) == 1


def test_status_queries() -> None:
    printer = make(cards=20)
    assert ask(printer, p.read_status()) == "READY"
    assert ask(printer, p.read_cover()) == "CLOSED"
    assert ask(printer, p.read_feeder_empty()) == "0"
    assert ask(printer, p.read_feeder_warning()) == "0"
    assert ask(printer, p.read_ribbon_mark()) == "OK"
    assert ask(printer, p.read_last_card_answer()) == "OK"
    assert ask(printer, p.read_last_cleaning_answer()) == "OK"
    printer.model.open_cover()
    assert ask(printer, p.read_status()) == "ERROR DEF_COVER_OPEN"
    assert ask(printer, p.read_cover()) == "OPEN"
    printer.model.close_cover()
    for _ in range(10):
        run(printer, card_commands())
    assert ask(printer, p.read_status()) == "WARNING INF_FEEDER_NEAR_EMPTY"
    assert ask(printer, p.read_feeder_warning()) == "1"
    report = p.parse_status(ask(printer, p.read_status()))
    assert report is not None and report.major == "WARNING"


def test_jam_then_reject() -> None:
    printer = make(faults="card 1: jam while printing")
    assert run(printer, [p.host_error_management(), p.start_sequence(), p.front_side(), panel("y")]) == ["OK"] * 4
    assert ask(printer, panel("m")) == "ERR MECHANICAL"  # the y panel prints now, and jams
    assert ask(printer, p.read_status()) == "ERROR ERR_MECHANICAL,INF_FEEDER_NEAR_EMPTY"
    assert ask(printer, p.read_last_card_answer()) == "ERR CARD"
    assert ask(printer, panel("c")) == "ERR MECHANICAL"
    assert ask(printer, p.end_sequence()) == "ERR MECHANICAL"
    assert ask(printer, p.reject_card()) == "OK"
    assert ask(printer, p.read_status()) == "WARNING INF_FEEDER_NEAR_EMPTY"
    truth = printer.model.physical_truth()
    assert (truth.cards_fed, truth.in_reject_box, truth.in_hopper, truth.in_printer) == (1, 1, 0, 0)
    assert run(printer, card_commands()) == ["OK"] * 8
    assert printer.model.hopper[0].index == 2


def test_printer_managed_errors_reject_the_card_itself() -> None:
    printer = make(faults="card 1: print fails")
    assert ask(printer, Command("Pem", ("0",))) == "OK"
    assert run(printer, [p.start_sequence(), p.front_side(), panel("y")]) == ["OK"] * 3
    assert ask(printer, panel("m")) == "ERR RIBBON ERROR"
    assert printer.model.card is None and len(printer.model.reject_box) == 1
    assert ask(printer, p.reject_card()) == "ERR SEQUENCE"


def test_cover_opens_before_card_feeds_nothing_until_scs() -> None:
    printer = make(faults="card 1: cover opens")
    assert run(printer, [p.start_sequence(), p.front_side()]) == ["OK", "OK"]
    assert ask(printer, panel("y")) == "ERR COVER OPEN"
    assert fed(printer) == 0
    assert ask(printer, p.read_cover()) == "OPEN"
    assert ask(printer, p.park_contactless()) == "ERR COVER OPEN"
    assert ask(printer, p.clear_errors()) == "OK"
    assert ask(printer, p.read_cover()) == "CLOSED"
    assert run(printer, card_commands()) == ["OK"] * 8
    assert fed(printer) == 1


def test_feeder_empty_after_n() -> None:
    printer = make(cards=10, faults="after 1: feeder empty")
    run(printer, card_commands())
    assert ask(printer, p.read_feeder_empty()) == "3"
    assert "DEF_FEEDER_EMPTY" in ask(printer, p.read_status())
    assert run(printer, [p.start_sequence(), p.front_side(), panel("y")]) == ["OK", "OK", "ERR FEEDER EMPTY"]
    assert ask(printer, p.read_last_card_answer()) == "NO CARD"
    assert fed(printer) == 1
    assert ask(printer, p.clear_errors()) == "OK"
    assert ask(printer, p.read_feeder_empty()) == "0"
    assert ask(printer, p.read_last_card_answer()) == "OK"
    assert run(printer, card_commands()) == ["OK"] * 8
    assert fed(printer) == 2


def test_ribbon_mark_at_the_end_of_the_ribbon() -> None:
    printer = make()
    printer.model.ribbon_panels_remaining = 0
    assert ask(printer, p.read_ribbon_mark()) == "ERR RIBBON END"
    assert "DEF_RIBBON_ENDED" in ask(printer, p.read_status())
    assert run(printer, [p.start_sequence(), panel("k")]) == ["OK", "ERR RIBBON ENDED"]
    assert fed(printer) == 0


def test_no_reply_and_garbled_reply_to_the_eject() -> None:
    printer = make(faults="card 1: no reply; card 2: garbled reply")
    cmds = card_commands()
    for cmd in cmds[:-1]:
        assert ask(printer, cmd) == "OK"
    assert printer.receive(p.encode_command(cmds[-1])) == b""
    assert len(printer.model.hopper) == 1  # the card came out all the same
    for cmd in cmds[:-1]:
        assert ask(printer, cmd) == "OK"
    garbled = printer.receive(p.encode_command(cmds[-1]))
    assert garbled.endswith(b"\r") and garbled != b"OK\r"
    reply = ReplyDecoder().feed(garbled)[0]
    assert not reply.ok and not reply.is_error
    assert len(printer.model.hopper) == 2


def test_card_taken_out_by_the_operator_resets_the_sequence() -> None:
    printer = make(faults="card 1: jam")
    run(printer, [p.host_error_management(), p.start_sequence(), panel("k")])
    assert ask(printer, panel("o")) == "ERR MECHANICAL"
    printer.model.clear_jam()
    assert ask(printer, p.end_sequence()) == "ERR SEQUENCE"
    assert run(printer, card_commands()) == ["OK"] * 8
    assert printer.model.physical_truth().balanced


def test_printed_cards_saved_as_png_named_by_blank_index(tmp_path: Path) -> None:
    printer = make(save_png_dir=tmp_path)
    black = p.download_panel("k", 2, b"\xff" * K_SIZE)
    cmds = [p.start_sequence(), p.front_side(), black, p.back_side(), panel("k"), p.end_sequence()]
    assert run(printer, cmds) == ["OK"] * len(cmds)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["blank-000001-back.png", "blank-000001-front.png"]
    with Image.open(tmp_path / "blank-000001-front.png") as front:
        assert front.size == (1016, 648)
        assert int(np.asarray(front).max()) == 0  # all black
    with Image.open(tmp_path / "blank-000001-back.png") as back:
        assert int(np.asarray(back).min()) == 255  # nothing printed


def test_no_png_for_a_card_that_jammed_before_any_panel_printed(tmp_path: Path) -> None:
    printer = make(faults="card 1: jam", save_png_dir=tmp_path)
    cyan = p.download_panel("c", 32, b"\xff" * Y_SIZE)
    assert run(printer, [p.host_error_management(), p.start_sequence(), cyan]) == ["OK"] * 3
    assert ask(printer, panel("m")) == "ERR MECHANICAL"  # a scripted fault strikes the card's first panel
    assert ask(printer, p.reject_card()) == "OK"
    assert list(tmp_path.iterdir()) == []
    assert run(printer, [p.start_sequence(), cyan, p.end_sequence()]) == ["OK"] * 3
    assert [f.name for f in tmp_path.iterdir()] == ["blank-000002-front.png"]
    with Image.open(tmp_path / "blank-000002-front.png") as front:
        pixels = np.asarray(front)
        assert int(pixels[:, :, 0].max()) == 0 and int(pixels[:, :, 1].min()) == 255  # cyan only


HOST = [
    p.start_sequence(),
    p.front_side(),
    p.back_side(),
    panel("k"),
    panel("o", 0xFF),
    p.end_sequence(),
    p.reject_card(),
    p.park_contactless(),
    p.clear_errors(),
    p.host_error_management(),
    Command("Pem", ("0",)),
]
OPERATOR = ["load", "open", "close", "clear_jam", "empty_reject_box", "empty_hopper"]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.one_of(st.sampled_from(HOST), st.sampled_from(OPERATOR)), max_size=40),
    seed=st.integers(0, 1000),
)
def test_every_blank_fed_is_somewhere_whatever_happens(steps: list[Command | str], seed: int) -> None:
    script = "card 2: jam; card 3: cover opens; after 4: feeder empty; card 5: ribbon ends; card 6: no reply"
    model = PrinterModel("SIM0000001", cards=3, faults=FaultScript.parse(script, spoil_rate=0.3, seed=seed))
    model.seconds_per_card = 0
    printer = SimPrinter(model)
    highest = 0
    for step in steps:
        if isinstance(step, Command):
            printer.receive(p.encode_command(step))
        elif step == "load":
            model.load_blanks(1)
        elif step == "open":
            model.open_cover()
        elif step == "close":
            model.close_cover()
        else:
            getattr(model, step)()
        truth = model.physical_truth()
        assert truth.balanced
        assert fed(printer) == model.cards_fed >= highest
        highest = model.cards_fed
        placed = [c.index for c in model.hopper + model.reject_box] + ([model.card.index] if model.card else [])
        assert len(set(placed)) == len(placed)
