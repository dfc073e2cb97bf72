"""EvolisDriver over a scripted fake printer: identity, status, and every outcome of a card."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from PIL import Image, ImageDraw

from drivers import base
from drivers.base import Card, DriverError, EncodeError, MajorState, Outcome, PrinterOfflineError, SpoilCategory
from drivers.evolis import protocol as p
from drivers.evolis.driver import EvolisDriver
from drivers.evolis.link import Link, NoReplyError
from drivers.evolis.protocol import Command, CommandDecoder, ProtocolError
from drivers.evolis.render import ribbon_panels
from drivers.transport import TransportError

# What a scripted step does instead of the printer's usual answer:
#   str        the printer acts as usual, then answers this text
#   None       the printer acts as usual and answers nothing
#   Exception  the link fails when the command is written; the printer never sees it
#   callable   called instead of the usual action; returns the reply text, or None for no reply
Action = str | None | Exception | Callable[["FakePrinter"], str | None]

GARBLED = "\ufffdGARBLED"


class FakePrinter:
    """A small scripted Evolis printer behind a fake Transport. It records every command it receives."""

    def __init__(self, *, cards: int = 10, rst: bool = True, terminator: bytes = b"\r") -> None:
        self.decoder = CommandDecoder()
        self.out = bytearray()
        self.received: list[Command] = []
        self.script: dict[str, list[Action]] = {}
        self.cards_in_feeder = cards
        self.cards_fed = 100
        self.card_inside = False
        self.flags: set[str] = set()
        self.cover_open = False
        self.ribbon_mark = "OK"
        self.rst = rst
        self.terminator = terminator
        self.closed = False

    # --- Transport ---

    def write(self, data: bytes) -> None:
        if self.closed:
            raise TransportError("closed")
        for event in self.decoder.feed(data):
            assert not isinstance(event, ProtocolError), event
            self.received.append(event)
            action = self._scripted(event)
            if isinstance(action, Exception):
                raise action
            if callable(action):
                reply = action(self)
            else:
                reply = self.answer(event)
                if action != "default":
                    reply = action
            if reply == GARBLED:
                self.out += b"\xcf\xcb\r"
            elif reply is not None:
                self.out += reply.encode("ascii") + self.terminator

    def read(self, timeout: float) -> bytes:
        if self.closed:
            raise TransportError("closed")
        data = bytes(self.out)
        self.out.clear()
        return data

    def close(self) -> None:
        self.closed = True

    # --- the printer ---

    def on(self, key: str, *actions: Action) -> None:
        """Script the next answers to ``key`` ("Se", "Db;k", "Rco;c"...)."""
        self.script.setdefault(key, []).extend(actions)

    def _scripted(self, cmd: Command) -> Action:
        for key in (";".join((cmd.name, *cmd.params[:1])), cmd.name):
            queue = self.script.get(key)
            if queue:
                return queue.pop(0)
        return "default"

    def feed(self) -> str:
        if self.card_inside:
            return "OK"
        if self.cards_in_feeder == 0:
            return "ERR FEEDER EMPTY"
        self.cards_in_feeder -= 1
        self.cards_fed += 1
        self.card_inside = True
        return "OK"

    def answer(self, cmd: Command) -> str:
        key = ";".join((cmd.name, *cmd.params))
        fixed = {"Rtp": "Primacy 2", "Rsn": "A1234", "Rfv": "1.2.3", "Rco;p": "5000", "Rco;l": "180"}
        if key in fixed:
            return fixed[key]
        if cmd.name in ("Pem", "Pr", "Ss", "Sr", "Sv", "Scs"):
            return "OK"
        if key == "Rco;c":
            return str(self.cards_fed)
        if key == "Rst":
            return self.status_text() if self.rst else "ERROR CDE"
        if key == "Rse;o":
            return "OPEN" if self.cover_open else "CLOSED"
        if key == "Sk;f":
            return "3" if self.cards_in_feeder == 0 else "0"
        if key == "Sk;w":
            return "1" if 0 < self.cards_in_feeder <= 2 else "0"
        if key == "Rcr":
            return self.ribbon_mark
        if key in ("Rlr;p", "Rlr;r"):
            return "OK"
        if cmd.name in ("Db", "Sic"):
            return self.feed()
        if cmd.name in ("Se", "Ser"):
            if not self.card_inside:
                return "ERR SEQUENCE"
            self.card_inside = False
            return "OK"
        return "ERROR CDE"

    def status_text(self) -> str:
        flags = set(self.flags)
        if self.cover_open:
            flags.add(p.DEF_COVER_OPEN)
        if self.cards_in_feeder == 0:
            flags.add(p.DEF_FEEDER_EMPTY)
        errors = {f for f in flags if not f.startswith("INF_")}
        major = "ERROR" if errors else "WARNING" if flags else "READY"
        return p.format_status(major, flags)

    # --- what the tests look at ---

    def card_commands(self) -> list[str]:
        """The commands that act on a card, in order, without the status queries."""
        queries = {"Rco", "Rst", "Rse", "Sk", "Rcr", "Rlr", "Rtp", "Rsn", "Rfv"}
        return [
            ";".join((c.name, *c.params)) if c.name != "Db" else f"Db;{c.params[0]};{c.params[1]}"
            for c in self.received
            if c.name not in queries
        ]


def jam(printer: FakePrinter) -> str:
    """The card is fed, then jams."""
    printer.feed()
    printer.flags.add(p.ERR_MECHANICAL)
    return "ERR MECHANICAL"


def empty_at_feed(printer: FakePrinter) -> str:
    """The feeder sensor said cards, but there are none."""
    printer.cards_in_feeder = 0
    return "ERR FEEDER EMPTY"


def hopper_full(printer: FakePrinter) -> str:
    printer.flags.add(p.DEF_HOPPER_FULL)
    return "ERR HOPPER FULL"


def png(size: tuple[int, int] = (1016, 648)) -> bytes:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((40, 40, 300, 380), fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


FRONT = png()
BACK = png((648, 1016))
PAYLOAD = b"NIK=3171234567890001;NAME=SECRET PERSON"


class FakeEncoder:
    def __init__(self, printer: FakePrinter, fail: Exception | None = None, unreachable: bool = False) -> None:
        self.printer = printer
        self.fail = fail
        self.unreachable = unreachable
        self.payloads: list[bytes | None] = []

    def encode(self, payload: bytes | None) -> str:
        assert self.printer.card_inside, "encode called with no card parked"
        self.payloads.append(payload)
        if self.fail is not None:
            raise self.fail
        return "04A1B2C3D4E5F6"

    def check(self) -> None:
        if self.unreachable:
            raise EncodeError("the chip encoder is not reachable: connection refused")

    def check_payload(self, payload: bytes | None) -> None:
        """Any payload."""


def make(printer: FakePrinter, **options: Any) -> EvolisDriver:
    settings: dict[str, Any] = {
        "ribbon": "kb",
        "reply_timeout": 0.05,
        "motion_timeout": 0.05,
        "quiet_timeout": 0.01,
        "confirm_delay": 0.0,
    }
    settings.update(options)
    return EvolisDriver(printer, **settings)


# ------------------------------------------------------------------------------------ open, status


def test_open_reads_identity_and_sets_host_error_management() -> None:
    printer = FakePrinter()
    info = make(printer).open()
    assert info == base.PrinterInfo(model="Primacy 2", serial_number="A1234", firmware="1.2.3")
    assert [str(c) for c in printer.received] == ["Rtp", "Rsn", "Rfv", "Pem;2"]


def test_open_with_replies_that_have_no_terminator() -> None:
    printer = FakePrinter(terminator=b"")
    assert make(printer).open().firmware == "1.2.3"


def test_open_with_nul_terminated_replies() -> None:
    printer = FakePrinter(terminator=b"\x00")
    assert make(printer).open().serial_number == "A1234"


def test_open_offline() -> None:
    printer = FakePrinter()
    printer.on("Rtp", TransportError("unplugged"))
    with pytest.raises(PrinterOfflineError):
        make(printer).open()
    silent = FakePrinter()
    silent.on("Rtp", None)
    with pytest.raises(PrinterOfflineError):
        make(silent).open()


def test_status_ready_with_counters() -> None:
    status = make(FakePrinter()).status()
    assert status.state is MajorState.READY
    assert status.reasons == frozenset()
    assert status.counters == base.Counters(cards_fed=100, panels_printed=5000, ribbon_remaining=180)
    assert status.can_print


@pytest.mark.parametrize(
    ("setup", "reason", "state"),
    [
        (lambda pr: setattr(pr, "cover_open", True), base.COVER_OPEN, MajorState.ERROR),
        (lambda pr: setattr(pr, "cards_in_feeder", 0), base.MEDIA_EMPTY, MajorState.ERROR),
        (lambda pr: setattr(pr, "cards_in_feeder", 2), base.MEDIA_LOW, MajorState.WARNING),
        (lambda pr: setattr(pr, "ribbon_mark", "ERR RIBBON END"), base.RIBBON_EMPTY, MajorState.ERROR),
        (lambda pr: pr.flags.add(p.ERR_MECHANICAL), base.MEDIA_JAM, MajorState.ERROR),
        (lambda pr: pr.flags.add(p.DEF_REJECT_BOX_FULL), base.REJECT_BOX_FULL, MajorState.ERROR),
        (lambda pr: pr.flags.add(p.ERR_HEAD_TEMP), base.HEAD_TEMPERATURE, MajorState.ERROR),
        (lambda pr: pr.flags.add(p.INF_CLEANING_REQUIRED), base.CLEANING_REQUIRED, MajorState.READY),
        (lambda pr: pr.flags.add(p.INF_RIBBON_LOW), base.RIBBON_LOW, MajorState.WARNING),
        (lambda pr: pr.flags.add("ERR_SOMETHING_NEW"), base.Reason("other", base.Severity.ERROR), MajorState.ERROR),
        (lambda pr: pr.on("Rlr;p", "ERR CARD"), base.MEDIA_JAM, MajorState.ERROR),
        (lambda pr: pr.on("Rlr;r", "ERR NEED CLEANING"), base.CLEANING_REQUIRED, MajorState.READY),
    ],
)
def test_status_reasons(setup: Callable[[FakePrinter], None], reason: base.Reason, state: MajorState) -> None:
    printer = FakePrinter()
    setup(printer)
    status = make(printer).status()
    assert reason in status.reasons
    assert status.state is state


def test_status_busy_while_printing() -> None:
    printer = FakePrinter()
    printer.flags.add(p.INF_PRINTING_RUNNING)
    assert make(printer).status().state is MajorState.BUSY


def test_last_no_card_counts_only_without_feeder_sensor() -> None:
    printer = FakePrinter()
    printer.on("Rlr;p", "NO CARD")
    assert make(printer).status().state is MajorState.READY
    printer.on("Rlr;p", "NO CARD")
    printer.on("Sk;f", "ERROR CDE")
    assert base.MEDIA_EMPTY in make(printer).status().reasons


def test_printer_without_rst_is_asked_once() -> None:
    printer = FakePrinter(rst=False)
    printer.cover_open = True
    driver = make(printer)
    assert driver.status().reasons == {base.COVER_OPEN}
    driver.status()
    assert sum(c.name == "Rst" for c in printer.received) == 1


def test_status_counter_unreadable_and_offline() -> None:
    printer = FakePrinter()
    printer.on("Rco;c", "ERROR CDE")
    with pytest.raises(DriverError):
        make(printer).status()
    printer.closed = True
    with pytest.raises(PrinterOfflineError):
        make(printer).status()


def test_clear_errors() -> None:
    printer = FakePrinter()
    driver = make(printer)
    driver.clear_errors()
    assert printer.received == [Command("Scs")]
    printer.on("Scs", "ERR")
    with pytest.raises(DriverError):
        driver.clear_errors()
    printer.closed = True
    with pytest.raises(PrinterOfflineError):
        driver.clear_errors()


def test_close_closes_transport() -> None:
    printer = FakePrinter()
    make(printer).close()
    assert printer.closed


def test_ribbon_panels() -> None:
    assert ribbon_panels("kb") == (("k",), ("k",))
    assert ribbon_panels("ko") == (("k", "o"), ("k", "o"))
    assert ribbon_panels("ymcko")[0] == ("y", "m", "c", "k", "o")
    assert ribbon_panels("ymckok")[1] == ("k",)
    with pytest.raises(ValueError):
        ribbon_panels("zz")
    with pytest.raises(ValueError):
        make(FakePrinter(), colour_levels=16)


# ------------------------------------------------------------------------------------------ PRINTED


def test_printed_mono_front() -> None:
    printer = FakePrinter()
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.PRINTED
    assert printer.card_commands() == ["Pr;kb", "Ss", "Sr", "Db;k;2", "Se"]
    assert result.counters_before is not None and result.counters_before.cards_fed == 100
    assert result.counters_after is not None and result.counters_after.cards_fed == 101
    assert result.blank_consumed is True
    assert result.chip_uid is None


def test_printed_colour_both_sides_with_encoder() -> None:
    printer = FakePrinter()
    encoder = FakeEncoder(printer)
    result = make(printer, ribbon="ymcko", encoder=encoder).print_card(
        Card(front=FRONT, back=BACK, chip_payload=PAYLOAD)
    )
    assert result.outcome is Outcome.PRINTED
    colour = ["Db;y;32", "Db;m;32", "Db;c;32", "Db;k;2", "Db;o;2"]
    assert printer.card_commands() == ["Pr;ymcko", "Sic", "Ss", "Sr", *colour, "Sv", *colour, "Se"]
    assert result.chip_uid == "04A1B2C3D4E5F6"
    assert encoder.payloads == [PAYLOAD]


def test_printed_panel_data_is_the_image() -> None:
    from drivers.evolis import panels

    printer = FakePrinter()
    make(printer).print_card(Card(front=FRONT))
    (db,) = [c for c in printer.received if c.name == "Db"]
    assert db.data == panels.k_panel(panels.card_image(FRONT))


def test_colour_levels_option() -> None:
    printer = FakePrinter()
    make(printer, ribbon="ymckok", colour_levels=128).print_card(Card(front=FRONT, back=BACK))
    assert "Db;y;128" in printer.card_commands()
    assert printer.card_commands()[-3:] == ["Sv", "Db;k;2", "Se"]


def test_spurious_error_status_before_the_card_is_read_again() -> None:
    printer = FakePrinter()
    printer.on("Rcr", "ERR RIBBON END")  # once only: the Primacy quirk
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.PRINTED
    assert sum(c.name == "Rcr" for c in printer.received) >= 2


def test_spurious_error_reply_with_clean_status_is_retried_once() -> None:
    printer = FakePrinter()
    printer.on("Db;k", "ERR RIBBON ENDED")
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.PRINTED
    assert printer.card_commands() == ["Pr;kb", "Ss", "Sr", "Db;k;2", "Db;k;2", "Se"]


# ------------------------------------------------------------------------------------------ NOT_FED


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda pr: setattr(pr, "cover_open", True), base.COVER_OPEN),
        (lambda pr: setattr(pr, "cards_in_feeder", 0), base.MEDIA_EMPTY),
        (lambda pr: pr.flags.add(p.DEF_REJECT_BOX_FULL), base.REJECT_BOX_FULL),
    ],
)
def test_not_fed_when_printer_cannot_print(setup: Callable[[FakePrinter], None], reason: base.Reason) -> None:
    printer = FakePrinter()
    setup(printer)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.NOT_FED
    assert result.reason == reason
    assert printer.card_commands() == []
    assert result.counters_before == result.counters_after
    assert reason in result.reasons_after
    assert result.blank_consumed is False


def test_not_fed_when_the_feed_finds_no_card() -> None:
    printer = FakePrinter()
    printer.on("Db;k", empty_at_feed)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.NOT_FED
    assert result.reason == base.MEDIA_EMPTY
    assert "Ser" not in printer.card_commands()
    assert result.counters_after is not None and result.counters_after.cards_fed == 100


def test_not_fed_when_status_unreadable() -> None:
    printer = FakePrinter()
    printer.closed = True
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.NOT_FED
    assert result.reason == base.OFFLINE
    assert result.counters_before is None


def test_not_fed_when_link_fails_before_any_feed() -> None:
    printer = FakePrinter()
    printer.on("Pr", TransportError("unplugged"))
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.NOT_FED
    assert result.reason == base.OFFLINE


def test_not_fed_when_ribbon_setting_refused() -> None:
    printer = FakePrinter()
    printer.on("Pr", "ERR PARAMETER", "ERR PARAMETER")
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.NOT_FED
    assert "Ss" not in printer.card_commands()


def test_unreadable_face_raises_before_anything_is_sent() -> None:
    printer = FakePrinter()
    with pytest.raises(DriverError):
        make(printer).print_card(Card(front=b"not a png"))
    assert printer.received == []


# ------------------------------------------------------------------------------------------ SPOILED


def test_spoiled_on_jam_after_feed() -> None:
    printer = FakePrinter()
    printer.on("Db;k", jam)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.SPOILED
    assert result.category is SpoilCategory.PRINT_FAILED
    assert result.reason == base.MEDIA_JAM
    assert printer.card_commands()[-1] == "Ser"
    assert not printer.card_inside
    assert result.counters_after is not None and result.counters_after.cards_fed == 101


def test_spoiled_on_error_while_printing_the_back() -> None:
    printer = FakePrinter()
    printer.on("Db;k", "default", jam)
    result = make(printer).print_card(Card(front=FRONT, back=BACK))
    assert result.outcome is Outcome.SPOILED
    assert printer.card_commands() == ["Pr;kb", "Ss", "Sr", "Db;k;2", "Sv", "Db;k;2", "Ser"]


def test_spoiled_on_garbled_reply_before_eject() -> None:
    printer = FakePrinter()
    printer.on("Db;k", GARBLED)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.SPOILED
    assert result.category is SpoilCategory.PRINT_FAILED
    assert "answered '??' to a panel download (Db)" in result.detail


def test_spoiled_when_eject_refused() -> None:
    printer = FakePrinter()
    printer.on("Se", hopper_full)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.SPOILED
    assert result.reason == base.OUTPUT_FULL
    assert printer.card_commands()[-2:] == ["Se", "Ser"]


def test_spoiled_when_reject_also_fails() -> None:
    printer = FakePrinter()
    printer.on("Db;k", jam)
    printer.on("Ser", "ERR MECHANICAL")
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.SPOILED
    assert "reject box" in result.detail


def test_spoiled_encode_failed() -> None:
    printer = FakePrinter()
    encoder = FakeEncoder(printer, EncodeError("chip refused", chip_uid="04FFEE"))
    result = make(printer, encoder=encoder).print_card(Card(front=FRONT, chip_payload=PAYLOAD))
    assert result.outcome is Outcome.SPOILED
    assert result.category is SpoilCategory.ENCODE_FAILED
    assert result.chip_uid == "04FFEE"
    assert printer.card_commands() == ["Pr;kb", "Sic", "Ser"]
    assert not printer.card_inside


def test_not_fed_when_the_encoder_cannot_be_reached() -> None:
    printer = FakePrinter()
    encoder = FakeEncoder(printer, unreachable=True)
    result = make(printer, encoder=encoder).print_card(Card(front=FRONT, chip_payload=PAYLOAD))
    assert result.outcome is Outcome.NOT_FED and result.blank_consumed is False
    assert result.reason == base.ENCODER_UNAVAILABLE and "not reachable" in result.detail
    assert printer.card_commands() == ["Pr;kb"]  # no Sic: the blank stayed in the feeder
    assert encoder.payloads == [] and not printer.card_inside


def test_spoiled_when_encoder_breaks() -> None:
    printer = FakePrinter()
    encoder = FakeEncoder(printer, OSError("reader unplugged"))
    result = make(printer, encoder=encoder).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.SPOILED
    assert result.category is SpoilCategory.ENCODE_FAILED
    assert result.chip_uid is None
    assert "OSError" in result.detail


# ------------------------------------------------------------------------------------------ UNKNOWN


def test_unknown_when_link_lost_after_feed_may_have_happened() -> None:
    printer = FakePrinter()
    printer.on("Sr", TransportError("unplugged"))
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.UNKNOWN
    assert result.blank_consumed is None
    assert result.counters_before is not None


def test_unknown_when_link_lost_mid_panel() -> None:
    printer = FakePrinter()

    def feed_then_die(pr: FakePrinter) -> str | None:
        pr.feed()
        pr.closed = True
        return None

    printer.on("Db;k", feed_then_die)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.UNKNOWN
    assert result.counters_after is None


def test_unknown_when_eject_gets_no_reply() -> None:
    printer = FakePrinter()
    printer.on("Se", None)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.UNKNOWN
    assert "Ser" not in printer.card_commands()
    # The link was still up: the counters after are read.
    assert result.counters_after is not None and result.counters_after.cards_fed == 101


def test_unknown_when_eject_reply_is_garbled() -> None:
    printer = FakePrinter()
    printer.on("Se", GARBLED)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.UNKNOWN
    assert "Ser" not in printer.card_commands()


def test_unknown_when_a_panel_gets_no_reply() -> None:
    printer = FakePrinter()
    printer.on("Db;k", None)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.UNKNOWN


def test_unknown_when_eject_ok_but_counter_did_not_advance() -> None:
    printer = FakePrinter()
    printer.on("Db;k", lambda pr: "OK")  # no card is fed
    printer.on("Se", lambda pr: "OK")
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.UNKNOWN
    assert "counter" in result.detail


def test_unknown_when_status_unreadable_after_an_error() -> None:
    printer = FakePrinter()

    def jam_and_die(pr: FakePrinter) -> str:
        reply = jam(pr)
        pr.on("Rco;c", TransportError("unplugged"))
        return reply

    printer.on("Db;k", jam_and_die)
    result = make(printer).print_card(Card(front=FRONT))
    assert result.outcome is Outcome.UNKNOWN


# ----------------------------------------------------------------------------------- no personal data


def test_no_personal_data_in_results_or_logs() -> None:
    printer = FakePrinter()
    printer.on("Db;k", jam)
    with structlog.testing.capture_logs() as logs:
        result = make(printer, encoder=FakeEncoder(printer)).print_card(Card(front=FRONT, chip_payload=PAYLOAD))
    text = repr(result) + repr(logs)
    assert "SECRET" not in text and "3171234567890001" not in text
    assert logs, "the failure is logged"


# -------------------------------------------------------------------------------------------- the link


def test_link_drains_a_late_reply_after_a_timeout() -> None:
    printer = FakePrinter()
    link = Link(printer, reply_timeout=0.02, quiet_timeout=0.01)
    printer.on("Rfv", None)
    with pytest.raises(NoReplyError):
        link.exchange(p.read_firmware())
    printer.out += b"1.2.3\r"  # the late reply
    assert link.exchange(p.read_serial()).text == "A1234"


def test_link_extra_replies_take_the_last() -> None:
    printer = FakePrinter()
    link = Link(printer, reply_timeout=0.05, quiet_timeout=0.01)
    printer.out += b"STALE\r"
    assert link.exchange(p.read_serial()).text == "A1234"
    assert link.exchange(p.read_model()).text == "Primacy 2"


def test_link_unreadable_reply() -> None:
    printer = FakePrinter()
    link = Link(printer, reply_timeout=0.05, quiet_timeout=0.01)
    printer.on("Rfv", lambda pr: "x" * (p.MAX_REPLY + 10))
    with pytest.raises(NoReplyError):
        link.exchange(p.read_firmware())
    assert link.exchange(p.read_serial()).text == "A1234"
