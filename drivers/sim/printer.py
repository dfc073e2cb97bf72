"""The printer side of the Evolis protocol: command bytes in, reply bytes out, acting on the physical model."""

# When a blank leaves the feeder (``cards_fed`` / ``Rco;c`` advances): at the first ``Db`` of a card, or at
# ``Sic`` when nothing was printed on it yet. Nothing else feeds. ``Ss``, ``Sr`` and ``Sv`` only set up the
# sequence; a refused feed (cover open, feeder empty...) answers ERR and feeds nothing.
#
# Panels: each ``Db`` prints the panel downloaded before it (as the guide says); the last panel of a side is
# printed by whatever moves the card on (``Sv``, ``Sr``, ``Sic``, ``Se``). A fault in a panel answers ERR on
# that command, and the card stays in the printer until ``Ser`` (or the operator) takes it to the reject box,
# unless error management was left to the printer (``Pem;0``/``Pem;1``), which then rejects it by itself.
# With the cover open, a jam, the ribbon ended or jammed, or the head out of temperature the printer takes no
# panel: ``Db`` answers that error, fed card or not.
#
# Scripted link faults (drivers/sim/faults.py) strike a card's command by stage: ``Pr`` before feeding, ``Sic``
# at the encoder, the card's first ``Db`` during the panels, ``Se``/``Ser`` at eject. The printer carries the
# command out; then the reply is garbled, withheld, held back `late_reply_seconds` (`take_late_replies`: the
# link delivers it when it is due, unasked, or at the latest ahead of the next reply), or the link drops
# (`take_link_drop`: the in-process link unplugs itself; a served link only withholds the reply). The two false
# eject errors strike ``Se`` only: "spurious eject error" answers ERR and does nothing (the card stays inside,
# fine), "eject error after eject" ejects the card and answers ERR.
#
# A scripted hang ("printer hangs") strikes the same commands: the printer answers nothing more and takes none of
# the bytes after that command (`hung`) until `power_cycle`. It never blocks in `receive`: the link decides what a
# hung printer's host sees (drivers/sim/transport.py blocks the writer on `wait_while_hung`; drivers/sim/serve.py
# stops reading the pty).
#
# Compressed panels (``Dbc``, K and O): accepted by a model the programming guide lists for it
# (`drivers.evolis.protocol.accepts_compressed_panels`, asked with the model name and firmware this printer
# reports); any other model answers "ERROR CDE", an unknown command, and does nothing. An accepted ``Dbc`` is
# decompressed and then handled exactly as the ``Db`` of the same panel.
#
# Serial ACK/NACK mode (``Pcom;<port>;<speed>;<parity>;<data bits>;<stop bits>;ACK/NACK``, or ``ack_nack``):
# "OK" becomes ACK and an error becomes NACK + code (`NACK_CODE`). The guide does not say what a read command
# answers in that mode; here it still answers its value, or the host could not read a counter.

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from drivers.evolis import protocol
from drivers.evolis.protocol import Command, CommandDecoder, ProtocolError
from drivers.sim.cards import CardRecord
from drivers.sim.faults import EJECT_REPLY_FAULTS, FaultKind, Stage
from drivers.sim.model import WARNINGS, Condition, MechanismError, PrinterModel, SequenceError

log = structlog.get_logger("drivers.sim.printer")

# The Rst flag for each condition (Evolis SDK status names).
STATUS_FLAG: dict[Condition, str] = {
    Condition.COVER_OPEN: protocol.DEF_COVER_OPEN,
    Condition.FEEDER_EMPTY: protocol.DEF_FEEDER_EMPTY,
    Condition.FEEDER_NEAR_EMPTY: protocol.INF_FEEDER_NEAR_EMPTY,
    Condition.JAM: protocol.ERR_MECHANICAL,
    Condition.PRINT_ERROR: protocol.ERR_RIBBON_ERROR,
    Condition.HEAD_TEMPERATURE: protocol.ERR_HEAD_TEMP,
    Condition.RIBBON_ENDED: protocol.DEF_RIBBON_ENDED,
    Condition.RIBBON_JAM: protocol.ERR_RIBBON_ERROR,
    Condition.RIBBON_LOW: protocol.INF_RIBBON_LOW,
    Condition.REJECT_BOX_FULL: protocol.DEF_REJECT_BOX_FULL,
    Condition.HOPPER_FULL: protocol.DEF_HOPPER_FULL,
}

# The error reply of a command that fails because of a condition.
ERROR_REPLY: dict[Condition, str] = {
    Condition.COVER_OPEN: "ERR COVER OPEN",
    Condition.FEEDER_EMPTY: "ERR FEEDER EMPTY",
    Condition.JAM: "ERR MECHANICAL",
    Condition.PRINT_ERROR: "ERR RIBBON ERROR",
    Condition.HEAD_TEMPERATURE: "ERR HEAD TEMP",
    Condition.RIBBON_ENDED: "ERR RIBBON ENDED",
    Condition.RIBBON_JAM: "ERR RIBBON ERROR",
    Condition.REJECT_BOX_FULL: "ERR REJECT BOX FULL",
    Condition.HOPPER_FULL: "ERR HOPPER FULL",
}
REPLY_UNKNOWN = "ERROR CDE"
REPLY_MALFORMED = "ERROR CDE FRAME"
REPLY_PARAMETER = "ERR PARAMETER"
REPLY_SEQUENCE = "ERR SEQUENCE"
REPLY_NO_OPTION = "ERR NO OPTION"
REPLY_EJECT = "ERR EJECT"

# The NACK code of the ACK/NACK serial mode: 1 command, 2 parameter, T time-out or mechanical, C cover open,
# F feeder, R ribbon (Evolis programming guide, "Definition of the ACK/NACK Protocol").
NACK_COMMAND = "1"
NACK_PARAMETER = "2"
NACK_CODE: dict[Condition, str] = {
    Condition.COVER_OPEN: "C",
    Condition.FEEDER_EMPTY: "F",
    Condition.RIBBON_ENDED: "R",
    Condition.RIBBON_JAM: "R",
    Condition.PRINT_ERROR: "R",
}
NACK_MECHANICAL = "T"
PCOM_SPEEDS = range(2400, 115200 + 1)

SIDES = {"Sr": "front", "Sv": "back"}
# The command a link fault strikes at each stage, and whether it is looked for before the command runs (the
# card it concerns is known then) or after (the command feeds or moves the card it concerns).
LINK_FAULT_COMMANDS: dict[str, tuple[Stage, bool]] = {
    "Pr": (Stage.FEED, True),
    "Sic": (Stage.ENCODER, False),
    "Db": (Stage.PANELS, False),
    "Se": (Stage.EJECT, True),
    "Ser": (Stage.EJECT, True),
}
HOST_ERROR_MANAGEMENT = 2
LATE_REPLY_SECONDS = 2.0
"""How much later than usual a "late reply" comes (longer than a host waits for an ordinary reply in tests)."""


class _RefusedError(Exception):
    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass
class _Session:
    """What the printer remembers between the commands of one card."""

    open: bool = False
    side: str = "front"
    pending: tuple[str, int, bytes] | None = None
    card_index: int | None = None
    printed: dict[str, dict[str, bytes]] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)


class SimPrinter:
    """Answers Evolis commands like a printer. One command at a time: ``receive`` holds the model's lock."""

    def __init__(
        self,
        model: PrinterModel,
        *,
        save_png_dir: Path | None = None,
        ack_nack: bool = False,
        late_reply_seconds: float = LATE_REPLY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.save_png_dir = save_png_dir
        self.ack_nack = ack_nack
        self.late_reply_seconds = late_reply_seconds
        self.last_card_panels: dict[str, dict[str, bytes]] = {}
        """The panel data (decompressed) the last card that left the printer was printed with, by side."""
        self._clock = clock
        self._late: list[tuple[float, bytes]] = []
        self.ribbon_setting = model.ribbon_type
        self.error_management = 0
        self.last_feed_failed = False
        self._decoder = CommandDecoder()
        self._session = _Session()
        self._link_dropped = False
        self._hung = False
        self._hang = threading.Condition()  # not the model's lock: waiters must not hold the printer

    @property
    def hung(self) -> bool:
        """True from a scripted hang until `power_cycle`: the printer takes no input and answers nothing."""
        return self._hung

    def wait_while_hung(self, released: Callable[[], bool]) -> None:
        """Block while the printer is hung, until it is power-cycled or ``released()`` is true (checked again at
        each `release_waiters`)."""
        with self._hang:
            self._hang.wait_for(lambda: not self._hung or released())

    def release_waiters(self) -> None:
        """Have every `wait_while_hung` look at its ``released`` again (a link was closed)."""
        with self._hang:
            self._hang.notify_all()

    def power_cycle(self) -> None:
        """Switch the printer off and on: the firmware starts afresh (a hang ends; a half-received command, the
        card's session and owed replies are forgotten). The physical state stays as it is."""
        with self.model.lock:
            self._decoder = CommandDecoder()
            self._session = _Session()
            self._late.clear()
            self._link_dropped = False
            self.last_feed_failed = False
            self.error_management = 0
            self.ribbon_setting = self.model.ribbon_type
        with self._hang:
            self._hung = False
            self._hang.notify_all()

    def take_link_drop(self) -> bool:
        """True once after a scripted "link lost": the link carrying the last reply must drop now."""
        with self.model.lock:
            dropped, self._link_dropped = self._link_dropped, False
            return dropped

    def take_late_replies(self) -> tuple[bytes, float | None]:
        """The late replies due now, and the seconds until the next one is due (None: none is waiting)."""
        with self.model.lock:
            if self._hung:
                return b"", None  # it owes them still, but answers nothing more
            now = self._clock()
            due = b"".join(reply for at, reply in self._late if at <= now)
            self._late = [(at, reply) for at, reply in self._late if at > now]
            return due, (min(at for at, _ in self._late) - now if self._late else None)

    def reset_link(self) -> None:
        """Forget a half-received command (the link was dropped); the card in the printer stays."""
        with self.model.lock:
            self._decoder = CommandDecoder()

    def receive(self, data: bytes) -> bytes:
        """Take bytes from the host; return the replies to the commands they completed. A hung printer takes
        nothing, and what follows the command it hung at is lost."""
        with self.model.lock:
            if self._hung:
                return b""
            due = self.take_late_replies()[0]
            out = bytearray()
            for event in self._decoder.feed(data):
                if isinstance(event, ProtocolError):
                    out += self._reply(REPLY_MALFORMED, NACK_COMMAND)
                else:
                    out += self.execute(event)
                if self._hung:
                    break
            if self._late and out:
                # One command at a time: a printer still owing a late reply answers nothing before it.
                self._late.append((max(at for at, _ in self._late), bytes(out)))
                return due
            return due + bytes(out)

    def execute(self, cmd: Command) -> bytes:
        """One decoded command to its reply bytes (empty when a scripted fault swallows the reply)."""
        with self.model.lock:
            self._sync_session()
            stage, before = LINK_FAULT_COMMANDS.get(cmd.name, (None, False))
            link_fault = self._link_fault(stage) if stage is not None and before else None
            if link_fault in EJECT_REPLY_FAULTS and cmd.name != "Se":
                link_fault = None  # the card ended by Ser: its reply is true
            if link_fault is FaultKind.PRINTER_HANGS:
                return self._hang_now()  # before the command is carried out
            nack: str | None = None
            try:
                if link_fault is FaultKind.SPURIOUS_EJECT_ERROR and self.model.card is not None:
                    text, nack = REPLY_EJECT, NACK_MECHANICAL  # nothing moved
                else:
                    text = self._dispatch(cmd)
                if link_fault is FaultKind.EJECT_ERROR_AFTER_EJECT:
                    text, nack = REPLY_EJECT, NACK_MECHANICAL  # the card went to the hopper all the same
                if text == REPLY_UNKNOWN:
                    nack = NACK_COMMAND
            except _RefusedError as refused:
                text = refused.reply
                nack = NACK_PARAMETER if text == REPLY_PARAMETER else NACK_COMMAND
            except MechanismError as exc:
                text = ERROR_REPLY[exc.condition]
                nack = NACK_CODE.get(exc.condition, NACK_MECHANICAL)
            except SequenceError:
                text = REPLY_SEQUENCE
                nack = NACK_COMMAND
            reply = self._reply(text, nack)
            if stage is not None and not before:
                link_fault = self._link_fault(stage)
            if link_fault is FaultKind.PRINTER_HANGS:
                return self._hang_now()
            if link_fault is FaultKind.LINK_LOST:
                self._link_dropped = True
                return b""
            if link_fault is FaultKind.NO_REPLY:
                return b""
            if link_fault is FaultKind.LATE_REPLY:
                self._late.append((self._clock() + self.late_reply_seconds, reply))
                return b""
            if link_fault is FaultKind.GARBLED_REPLY:
                kept = reply[-1:] if reply.endswith(b"\r") else b""
                return bytes(b ^ 0x80 for b in reply[: len(reply) - len(kept)]) + kept
            return reply

    def _hang_now(self) -> bytes:
        """A scripted hang strikes: the mechanism stops where it is, and no reply comes (now or later)."""
        self.model.hang()
        with self._hang:
            self._hung = True
        card = self.model.card
        log.warning("sim.printer_hung", blank=None if card is None else card.index)
        return b""

    def _link_fault(self, stage: Stage) -> FaultKind | None:
        if stage is Stage.FEED and self.model.card is not None:
            return None  # before feeding means no card is in the printer yet
        return self.model.link_fault(stage)

    def _reply(self, text: str, nack: str | None) -> bytes:
        """The bytes of a reply: ``text`` + CR, or in ACK/NACK mode ACK for "OK" and NACK + code for an error."""
        if self.ack_nack:
            if nack is not None:
                return bytes((protocol.NACK, ord(nack)))
            if text == "OK":
                return bytes((protocol.ACK,))
        return protocol.encode_reply(text)

    # --- commands ---

    def _dispatch(self, cmd: Command) -> str:
        name, params = cmd.name, cmd.params
        model = self.model
        if name == "Rfv":
            return model.firmware
        if name == "Rsn":
            return model.serial
        if name == "Rtp":
            return model.model_name
        if name == "Rco":
            return self._counter(params)
        if name == "Rst":
            return self._status()
        if name == "Rlr":
            return self._last_result(params)
        if name == "Rse":
            return self._sensor(params)
        if name == "Sk":
            return self._feeder(params)
        if name == "Rcr":
            return "OK" if model.ribbon_panels_remaining > 0 else "ERR RIBBON END"
        if name == "Rr":
            return model.ribbon_type
        if name == "Pr":
            self.ribbon_setting = _one(params)
            return "OK"
        if name == "Pem":
            mode = _one(params)
            if mode not in ("0", "1", "2"):
                raise _RefusedError(REPLY_PARAMETER)
            self.error_management = int(mode)
            return "OK"
        if name == "Pcom":
            return self._serial_port(params)
        if name == "Scs":
            model.clear_errors()
            self.last_feed_failed = False
            return "OK"
        if name == "Ss":
            self._session.open = True
            self._session.side = "front"
            return "OK"
        if name in SIDES:
            return self._side(SIDES[name])
        if name == "Db":
            return self._download(cmd)
        if name == "Dbc":
            return self._download_compressed(cmd)
        if name == "Sic":
            self._flush()
            self._feed_or_keep(contactless=True)
            return "OK"
        if name == "Sis":
            raise _RefusedError(REPLY_NO_OPTION)
        if name == "Se":
            return self._end(reject=False)
        if name == "Ser":
            return self._end(reject=True)
        return REPLY_UNKNOWN

    def _serial_port(self, params: tuple[str, ...]) -> str:
        """``Pcom``: the serial link's settings; only its protocol (ACK/NACK or not) matters to the simulator.
        The reply already follows the new protocol."""
        if len(params) < 5 or params[0] not in ("1", "2") or not params[1].isdigit():
            raise _RefusedError(REPLY_PARAMETER)
        if int(params[1]) not in PCOM_SPEEDS or params[2] not in ("N", "O", "E"):
            raise _RefusedError(REPLY_PARAMETER)
        self.ack_nack = len(params) > 5 and params[5].upper() == "ACK/NACK"
        return "OK"

    def _counter(self, params: tuple[str, ...]) -> str:
        which = _one(params)
        model = self.model
        values = {
            "c": model.inserted_cards,
            "p": model.panels_printed,
            "l": model.ribbon_cards_remaining,
            "a": 0,
            "m": 0,
            "n": 0,
        }
        if which not in values:
            raise _RefusedError(REPLY_PARAMETER)
        return str(values[which])

    def _status(self) -> str:
        conditions = self.model.conditions() | self.model.take_spurious_status()
        flags = {STATUS_FLAG[c] for c in conditions}
        if conditions - WARNINGS:
            major = "ERROR"
        elif conditions:
            major = "WARNING"
        else:
            major = "READY"
        return protocol.format_status(major, flags)

    def _last_result(self, params: tuple[str, ...]) -> str:
        which = _one(params)
        if which == "p":
            card = self.model.card
            if card is not None and card.failure == FaultKind.JAM.value:
                return "ERR CARD"  # stuck inside; a card that merely printed badly can still be moved
            return "NO CARD" if self.last_feed_failed else "OK"
        if which == "r":
            return "OK"
        raise _RefusedError(REPLY_PARAMETER)

    def _sensor(self, params: tuple[str, ...]) -> str:
        which = _one(params)
        if which == "o":
            return "OPEN" if Condition.COVER_OPEN in self.model.conditions() else "CLOSED"
        if which == "p":
            return "CARD" if self.model.card is not None else "NO CARD"
        raise _RefusedError(REPLY_PARAMETER)

    def _feeder(self, params: tuple[str, ...]) -> str:
        which = _one(params)
        conditions = self.model.conditions()
        if which == "f":
            return "3" if Condition.FEEDER_EMPTY in conditions else "0"
        if which == "w":
            return "1" if Condition.FEEDER_NEAR_EMPTY in conditions else "0"
        raise _RefusedError(REPLY_PARAMETER)

    def _side(self, side: str) -> str:
        if not self._session.open:
            raise SequenceError("no sequence started")
        self._flush()
        self._session.side = side
        return "OK"

    def _download(self, cmd: Command) -> str:
        session = self._session
        if not session.open:
            raise SequenceError("no sequence started")
        panel, levels = cmd.params[0], int(cmd.params[1])
        blocker = self.model.print_blocker()
        if blocker is not None:
            raise MechanismError(blocker, f"no panel is printed: {blocker.value}")
        self._flush()
        self._feed_or_keep(contactless=False)
        if self.model.spurious_panel_refusal():
            raise MechanismError(Condition.RIBBON_ENDED, "ribbon ended (spurious: ribbon remains)")
        session.pending = (panel, levels, cmd.data)
        return "OK"

    def _download_compressed(self, cmd: Command) -> str:
        from drivers.evolis.panels import decompress_mono

        if not protocol.accepts_compressed_panels(self.model.model_name, self.model.firmware):
            return REPLY_UNKNOWN
        try:
            data = decompress_mono(cmd.data)
        except ProtocolError:
            raise _RefusedError(REPLY_PARAMETER) from None
        return self._download(Command("Db", cmd.params[:2], data))

    def _end(self, *, reject: bool) -> str:
        model = self.model
        if model.card is None:
            self._session = _Session()
            raise SequenceError("no card in the printer")
        if reject:
            self._session.pending = None
            card = model.reject()
        else:
            self._flush()
            card = model.eject()
        self._save_png(card)
        self.last_card_panels = self._session.printed
        self._session = _Session()
        return "OK"

    # --- inside ---

    def _sync_session(self) -> None:
        """Forget the panels of a card that left the printer behind the protocol's back (operator)."""
        card = self.model.card
        if self._session.card_index is not None and (card is None or card.index != self._session.card_index):
            self._session = _Session()

    def _feed_or_keep(self, *, contactless: bool) -> None:
        """Feed a blank if there is no card in the printer (the one place a blank leaves the feeder)."""
        model = self.model
        present = model.card
        if present is not None:
            if contactless:
                model.move_to_contactless()
            else:
                model.check_usable(present)
            return
        try:
            card = model.move_to_contactless() if contactless else model.feed()
        except MechanismError as exc:
            self.last_feed_failed = exc.condition is Condition.FEEDER_EMPTY
            raise
        self.last_feed_failed = False
        self._session.card_index = card.index

    def _flush(self) -> None:
        """Print the panel waiting in the printer's memory, if any."""
        session = self._session
        if session.pending is None:
            return
        panel, levels, data = session.pending
        session.pending = None
        try:
            self.model.print_panel(session.side, panel)
        except MechanismError:
            if self.error_management != HOST_ERROR_MANAGEMENT and self.model.card is not None:
                self._save_png(self.model.reject())
                self._session = _Session()
            raise
        session.printed.setdefault(session.side, {})[panel] = data
        if panel in protocol.COLOUR_PANELS:
            session.levels[session.side] = levels

    def _save_png(self, card: CardRecord) -> None:
        """Save what was printed on each side of ``card``, named by blank index only."""
        if self.save_png_dir is None or not self._session.printed:
            return
        from drivers.evolis.panels import compose_card

        for side, panels in self._session.printed.items():
            path = self.save_png_dir / f"blank-{card.index:06d}-{side}.png"
            try:
                self.save_png_dir.mkdir(parents=True, exist_ok=True)
                compose_card(panels, self._session.levels.get(side, 32)).save(path, format="PNG")
            except OSError as exc:
                log.warning("sim.png_not_saved", blank=card.index, error=type(exc).__name__)


def _one(params: tuple[str, ...]) -> str:
    if len(params) != 1:
        raise _RefusedError(REPLY_PARAMETER)
    return params[0]
