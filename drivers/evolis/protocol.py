"""The Evolis command protocol, sans-I/O: commands to bytes and back, replies to text and back."""

# Framing invariants (source: Evolis Programming Guide A5013 rev. E, section 3 and the Db command; the
# public dpavlin/Printer-EVOLIS scripts for reply framing and panel size):
#
# * A command is ESC (0x1B), a name of ASCII letters and digits starting with a letter, zero or more
#   parameters each introduced by ";", then CR (0x0D). Parameters are printable ASCII without ";".
# * `Db;<panel>;<levels>;<data>` is the one command with a binary payload: exactly
#   `panel_data_size(panel, levels)` bytes follow the ";" after <levels>, then CR. The payload may hold any
#   byte (CR, ESC and ";" included), so it is counted, never scanned.
# * `Dbc;<panel>;<levels>;<count>;<data>` is the compressed form, here for K and O only (2 levels): exactly
#   <count> bytes of data follow, then CR; the data is a K/O panel compressed line by line (see
#   `drivers.evolis.panels.compress_mono`). This is the form the guide gives in its chapter on compression
#   and the one the vendor's own Windows driver sent to a Dualys (captures in dpavlin/Printer-EVOLIS,
#   test.windows/: `Dbc;k;2;83223;...`). The guide's command table lists a fourth parameter, a start line,
#   before the count; no captured traffic carries it, and a decoder cannot tell it from data, so it is not
#   accepted.
# * Between commands the decoder skips NUL bytes (hosts pad with them); any other byte outside a command is
#   malformed. The guide lets a command follow a CR without its ESC; this codec always requires the ESC so
#   that it can resynchronise after garbage.
# * A reply is ASCII text ("OK", a value, or an error starting "ERR" / "ERROR CDE"). Printers do not
#   reliably terminate it: the public host driver reads until a NUL byte or until the link goes quiet. So a
#   reply ends at CR or NUL, or, when the transport goes quiet, at `ReplyDecoder.flush()`. Leading LF and
#   spaces are dropped and empty frames (padding) are ignored. The simulator (drivers.sim) ends each reply with CR.
# * In the serial ACK/NACK mode a reply is the single byte ACK (0x06), or NACK (0x15) followed by one
#   code character; both are complete without a terminator.
# * One command at a time: the host sends a command and reads its one reply before sending the next.

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

ESC = 0x1B
CR = 0x0D
NUL = 0x00
LF = 0x0A
ACK = 0x06
NACK = 0x15

PANEL_WIDTH = 648
"""Pixels in one panel line (the card's short edge at 300 dpi)."""
PANEL_HEIGHT = 1016
"""Lines in one panel (the card's long edge at 300 dpi)."""

MONO_PANELS = frozenset({"k", "o"})
COLOUR_PANELS = frozenset({"y", "m", "c"})
COLOUR_LEVELS: dict[int, int] = {32: 5, 64: 6, 128: 7}
"""Grey levels of a Y/M/C panel -> bits a pixel."""

MAX_TEXT_COMMAND = 512
"""Longest text command (ESC and CR excluded) the printer-side decoder accepts."""
MAX_COMPRESSED = PANEL_HEIGHT * (PANEL_WIDTH // 8 + 1)
"""Longest ``Dbc`` payload: every line a length byte and all its bytes (83,312 bytes)."""
MAX_REPLY = 4096
"""Longest reply the host-side decoder accepts."""

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_PARAM = re.compile(r"[\x20-\x3a\x3c-\x7e]*\Z")  # printable ASCII without ";"


class ProtocolError(ValueError):
    """Bytes or values that break the framing. Its message never carries payload bytes."""


# ---------------------------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Command:
    """One command: ``name`` ("Rco", "Db"...), its parameters, and the binary payload of ``Db`` / ``Dbc``."""

    name: str
    params: tuple[str, ...] = ()
    data: bytes = b""

    def __repr__(self) -> str:
        # The payload is a card image: show its size only.
        extra = f", data=<{len(self.data)} bytes>" if self.data else ""
        return f"Command({self.name!r}, {self.params!r}{extra})"

    def __str__(self) -> str:
        text = ";".join((self.name, *self.params))
        return f"{text};<{len(self.data)} bytes>" if self.data else text


def panel_bits(panel: str, levels: int) -> int:
    """Bits a pixel for ``panel`` at ``levels`` grey levels; ProtocolError for any other combination."""
    if panel in MONO_PANELS:
        if levels == 2:
            return 1
        raise ProtocolError(f"panel {panel!r} takes 2 levels, not {levels}")
    if panel in COLOUR_PANELS:
        if levels in COLOUR_LEVELS:
            return COLOUR_LEVELS[levels]
        raise ProtocolError(f"panel {panel!r} takes 32, 64 or 128 levels, not {levels}")
    raise ProtocolError("unknown panel (expected y, m, c, k or o)")


def panel_data_size(panel: str, levels: int) -> int:
    """Bytes of a ``Db`` payload: 648 x 1016 pixels at 1 (K, O) or 5/6/7 (Y, M, C) bits, packed end to end."""
    return PANEL_WIDTH * PANEL_HEIGHT * panel_bits(panel, levels) // 8


def _check_command(cmd: Command) -> None:
    if not _NAME.match(cmd.name):
        raise ProtocolError("invalid command name: ASCII letters and digits expected")
    for param in cmd.params:
        if not _PARAM.match(param):
            raise ProtocolError(f"invalid parameter in {cmd.name}: printable ASCII without ';' expected")
    if cmd.name == "Db":
        if len(cmd.params) != 2 or not cmd.params[1].isdigit():
            raise ProtocolError("Db takes a panel and a number of levels")
        size = panel_data_size(cmd.params[0], int(cmd.params[1]))
        if len(cmd.data) != size:
            head = f"Db;{cmd.params[0]};{cmd.params[1]}"
            raise ProtocolError(f"{head} carries {size} bytes, not {len(cmd.data)}")
    elif cmd.name == "Dbc":
        if len(cmd.params) != 3 or not cmd.params[1].isdigit() or not cmd.params[2].isdigit():
            raise ProtocolError("Dbc takes a panel, a number of levels and a byte count")
        _check_compressed(cmd.params[0], int(cmd.params[1]), int(cmd.params[2]))
        if len(cmd.data) != int(cmd.params[2]):
            raise ProtocolError(f"Dbc announces {cmd.params[2]} bytes but carries {len(cmd.data)}")
    elif cmd.data:
        raise ProtocolError(f"{cmd.name} carries no binary data")


def _check_compressed(panel: str, levels: int, count: int) -> None:
    if panel not in MONO_PANELS:
        raise ProtocolError("Dbc is sent for the k and o panels only")
    panel_bits(panel, levels)
    if not 0 < count <= MAX_COMPRESSED:
        raise ProtocolError(f"a Dbc payload is 1 to {MAX_COMPRESSED} bytes, not {count}")


def encode_command(cmd: Command) -> bytes:
    """ESC + name + (";" + param)* [+ ";" + data for Db and Dbc] + CR."""
    _check_command(cmd)
    head = ";".join((cmd.name, *cmd.params)).encode("ascii")
    if cmd.name in ("Db", "Dbc"):
        return b"\x1b" + head + b";" + cmd.data + b"\r"
    return b"\x1b" + head + b"\r"


def read_firmware() -> Command:
    return Command("Rfv")


def read_serial() -> Command:
    return Command("Rsn")


def read_model() -> Command:
    return Command("Rtp")


class Counter(enum.StrEnum):
    """Parameters of ``Rco``."""

    CARDS_INSERTED = "c"
    PANELS_PRINTED = "p"
    RIBBON_CARDS_LEFT = "l"
    AVERAGE_CLEANING = "a"
    MAX_CLEANING = "m"
    CLEANINGS = "n"


def read_counter(counter: str) -> Command:
    """``Rco;<counter>``: c inserted cards, p printed panels, l cards left on the ribbon, a/m/n cleaning."""
    return Command("Rco", (Counter(counter).value,))


def set_ribbon(ribbon: str) -> Command:
    """``Pr;<ribbon>``, e.g. ``ymcko`` or ``kb``."""
    if not ribbon.isalnum():
        raise ProtocolError("a ribbon type is letters and digits")
    return Command("Pr", (ribbon,))


def read_ribbon() -> Command:
    return Command("Rr")


def start_sequence() -> Command:
    return Command("Ss")


def front_side() -> Command:
    return Command("Sr")


def back_side() -> Command:
    return Command("Sv")


def download_panel(panel: str, levels: int, data: bytes) -> Command:
    """``Db;<panel>;<levels>;<data>``: checks that ``data`` has exactly the panel's size."""
    cmd = Command("Db", (panel, str(levels)), bytes(data))
    _check_command(cmd)
    return cmd


def download_compressed_panel(panel: str, levels: int, data: bytes) -> Command:
    """``Dbc;<panel>;<levels>;<count>;<data>``: ``data`` is a K/O panel already compressed
    (`drivers.evolis.panels.compress_mono`); its length is the count."""
    cmd = Command("Dbc", (panel, str(levels), str(len(data))), bytes(data))
    _check_command(cmd)
    return cmd


COMPRESSED_PANEL_MODELS = ("tattoo", "pebble", "dualys", "quantum", "kiosk")
"""Models the programming guide (A5013 rev. E, Dbc) lists as taking compressed panels, as parts of a model name.
The guide names no firmware version for it; Primacy, Zenius and KC200 are newer than the guide, which says
nothing of them."""


def accepts_compressed_panels(model: str, firmware: str) -> bool:
    """Whether a printer that reports ``model`` (``Rtp``) and ``firmware`` (``Rfv``) is known to take ``Dbc``.
    ``firmware`` is asked for, but no public source ties Dbc to a firmware version, so it decides nothing yet."""
    del firmware
    name = model.strip().lower()
    return any(part in name for part in COMPRESSED_PANEL_MODELS)


def end_sequence() -> Command:
    """``Se``: end of the card; it goes to the output hopper."""
    return Command("Se")


def reject_card() -> Command:
    """``Ser``: the card goes to the reject box under the output hopper."""
    return Command("Ser")


def park_contactless() -> Command:
    """``Sic``: feed a card and park it at the contactless station."""
    return Command("Sic")


def park_contact() -> Command:
    """``Sis``: feed a card and park it at the contact smart-card station."""
    return Command("Sis")


def clear_errors() -> Command:
    return Command("Scs")


def host_error_management() -> Command:
    """``Pem;2``: the host, not the printer, decides what to do on an error."""
    return Command("Pem", ("2",))


def read_last_card_answer() -> Command:
    """``Rlr;p``: "NO CARD" (no card could be fed) or "ERR CARD" (a card is stuck inside)."""
    return Command("Rlr", ("p",))


def read_last_cleaning_answer() -> Command:
    """``Rlr;r``: "ERR NEED CLEANING" when the cleaning counter has run out."""
    return Command("Rlr", ("r",))


def read_cover() -> Command:
    """``Rse;o``: the cover sensor."""
    return Command("Rse", ("o",))


def read_feeder_empty() -> Command:
    """``Sk;f``: 0 not empty, 1 feeder 1 empty, 2 feeder 2 empty, 3 empty."""
    return Command("Sk", ("f",))


def read_feeder_warning() -> Command:
    """``Sk;w``: 0 no near-empty warning, 1-3 a feeder is near empty."""
    return Command("Sk", ("w",))


def read_ribbon_mark() -> Command:
    """``Rcr``: "OK" unless the ribbon's black mark (its end) is under the head."""
    return Command("Rcr")


def read_status() -> Command:
    """``Rst``: the general status (see `format_status`). A printd extension answered by the simulator."""
    return Command("Rst")


# ------------------------------------------------------------------------------------ printer side decode


class _State(enum.Enum):
    IDLE = enum.auto()
    DISCARD = enum.auto()
    TEXT = enum.auto()
    DATA = enum.auto()
    DATA_END = enum.auto()


class CommandDecoder:
    """Printer side: bytes in, `Command` events out, in any chunking.

    Malformed input does not raise: `feed` returns a `ProtocolError` instance in the event list, in order,
    so the printer can answer it with an error reply. The decoder then skips to the next ESC and goes on.
    Cases: bytes other than NUL outside a command, a command cut by a new ESC before its CR, an invalid
    name or parameter, a ``Db`` with an unknown panel/levels pair, a ``Db`` payload not followed by CR, a
    text command longer than `MAX_TEXT_COMMAND`.
    """

    def __init__(self) -> None:
        self._state = _State.IDLE
        self._text = bytearray()
        self._data = bytearray()
        self._remaining = 0
        self._db_params: tuple[str, ...] = ("", "")

    @property
    def in_command(self) -> bool:
        """True while part of a command has been received."""
        return self._state in (_State.TEXT, _State.DATA, _State.DATA_END)

    def feed(self, data: bytes) -> list[Command | ProtocolError]:
        events: list[Command | ProtocolError] = []
        i, n = 0, len(data)
        while i < n:
            state = self._state
            if state is _State.IDLE:
                byte = data[i]
                i += 1
                if byte == ESC:
                    self._start()
                elif byte != NUL:
                    events.append(ProtocolError("bytes outside a command (expected ESC)"))
                    self._state = _State.DISCARD
            elif state is _State.DISCARD:
                j = data.find(b"\x1b", i)
                if j < 0:
                    i = n
                else:
                    i = j + 1
                    self._start()
            elif state is _State.TEXT:
                byte = data[i]
                i += 1
                self._text_byte(byte, events)
            elif state is _State.DATA:
                take = min(self._remaining, n - i)
                self._data += memoryview(data)[i : i + take]
                self._remaining -= take
                i += take
                if self._remaining == 0:
                    self._state = _State.DATA_END
            elif data[i] == CR:  # DATA_END
                i += 1
                name = "Dbc" if len(self._db_params) == 3 else "Db"
                events.append(Command(name, self._db_params, bytes(self._data)))
                self._data = bytearray()
                self._state = _State.IDLE
            else:  # DATA_END, and the byte is not consumed: an ESC there starts the next command
                events.append(ProtocolError("panel data not followed by CR"))
                self._data = bytearray()
                self._state = _State.DISCARD
        return events

    def _start(self) -> None:
        self._text.clear()
        self._state = _State.TEXT

    def _text_byte(self, byte: int, events: list[Command | ProtocolError]) -> None:
        if byte == CR:
            self._state = _State.IDLE
            events.append(self._text_command(bytes(self._text)))
        elif byte == ESC:
            events.append(ProtocolError("command not terminated by CR"))
            self._start()
        elif len(self._text) >= MAX_TEXT_COMMAND:
            events.append(ProtocolError("command too long"))
            self._state = _State.DISCARD
        else:
            self._text.append(byte)
            if byte == 0x3B and self._text.startswith(b"Db;") and self._text.count(b";") == 3:
                self._start_db_data(events)
            elif byte == 0x3B and self._text.startswith(b"Dbc;") and self._text.count(b";") == 4:
                self._start_dbc_data(events)

    def _start_db_data(self, events: list[Command | ProtocolError]) -> None:
        _, panel, levels, _ = bytes(self._text).split(b";")
        try:
            if not levels.isdigit() or len(levels) > 3:
                raise ProtocolError("Db levels is not a number")
            size = panel_data_size(panel.decode("ascii"), int(levels))
        except (ProtocolError, UnicodeDecodeError) as exc:
            message = str(exc) if isinstance(exc, ProtocolError) else "Db panel is not ASCII"
            events.append(ProtocolError(message))
            self._state = _State.DISCARD
            return
        self._db_params = (panel.decode("ascii"), levels.decode("ascii"))
        self._data = bytearray()
        self._remaining = size
        self._state = _State.DATA

    def _start_dbc_data(self, events: list[Command | ProtocolError]) -> None:
        _, panel, levels, count, _ = bytes(self._text).split(b";")
        try:
            if not levels.isdigit() or len(levels) > 3 or not count.isdigit() or len(count) > 6:
                raise ProtocolError("Dbc levels and byte count are numbers")
            _check_compressed(panel.decode("ascii"), int(levels), int(count))
        except (ProtocolError, UnicodeDecodeError) as exc:
            message = str(exc) if isinstance(exc, ProtocolError) else "Dbc panel is not ASCII"
            events.append(ProtocolError(message))
            self._state = _State.DISCARD
            return
        self._db_params = (panel.decode("ascii"), levels.decode("ascii"), count.decode("ascii"))
        self._data = bytearray()
        self._remaining = int(count)
        self._state = _State.DATA

    @staticmethod
    def _text_command(body: bytes) -> Command | ProtocolError:
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            return ProtocolError("command is not ASCII")
        name, *params = text.split(";")
        cmd = Command(name, tuple(params))
        if name == "Db":
            return ProtocolError("Db takes a panel, a number of levels and data")
        if name == "Dbc":
            return ProtocolError("Dbc takes a panel, a number of levels, a byte count and data")
        try:
            _check_command(cmd)
        except ProtocolError as exc:
            return exc
        return cmd


# ----------------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """One reply from the printer, as text (ACK and NACK kept as their control characters)."""

    text: str

    @property
    def is_ack(self) -> bool:
        return self.text == chr(ACK)

    @property
    def nack_code(self) -> str | None:
        """The NACK code of the ACK/NACK serial mode (1 command, 2 parameter, T mechanical, C cover...)."""
        if self.text.startswith(chr(NACK)):
            return self.text[1:2]
        return None

    @property
    def ok(self) -> bool:
        return self.text == "OK" or self.is_ack

    @property
    def is_error(self) -> bool:
        """An error reply: "ERR", "ERR ..." / "ERR;..." or "ERROR CDE...", or a NACK.

        A general status reply such as "ERROR DEF_COVER_OPEN" is data, not an error reply.
        """
        text = self.text
        return (
            text in ("ERR", "ERROR")
            or text.startswith(("ERR ", "ERR;", "ERR:", "ERROR CDE"))
            or self.nack_code is not None
        )


def encode_reply(text: str) -> bytes:
    """Printer side: the reply's ASCII text + CR."""
    raw = text.encode("ascii")
    if b"\r" in raw or b"\x00" in raw:
        raise ProtocolError("a reply cannot contain CR or NUL")
    return raw + b"\r"


class ReplyDecoder:
    """Host side: bytes in, `Reply` events out. Call `flush` when the link goes quiet (see the invariants)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._nack = False

    @property
    def pending(self) -> bool:
        """True while part of an unterminated reply has been received."""
        return bool(self._buf) or self._nack

    def feed(self, data: bytes) -> list[Reply]:
        replies: list[Reply] = []
        for byte in data:
            if self._nack:
                self._nack = False
                replies.append(Reply(chr(NACK) + chr(byte)))
            elif byte in (CR, NUL):
                if self._buf:
                    replies.append(self._take())
            elif not self._buf and byte in (LF, 0x20):
                continue
            elif not self._buf and byte == ACK:
                replies.append(Reply(chr(ACK)))
            elif not self._buf and byte == NACK:
                self._nack = True
            else:
                if len(self._buf) >= MAX_REPLY:
                    self._buf.clear()
                    raise ProtocolError("reply too long")
                self._buf.append(byte)
        return replies

    def flush(self) -> Reply | None:
        """Complete the pending reply, if any: the printer sent no terminator and the link went quiet."""
        if self._nack:
            self._nack = False
            return Reply(chr(NACK))
        if not self._buf:
            return None
        return self._take()

    def _take(self) -> Reply:
        text = self._buf.decode("ascii", errors="replace").rstrip(" \n")
        self._buf.clear()
        return Reply(text)


# -------------------------------------------------------------------------------- the general status query

# `Rst` reply: "<MAJOR>" or "<MAJOR> <NAME>[,<NAME>...]", MAJOR one of OFF READY WARNING ERROR, each NAME
# an Evolis SDK status name (DEF_/ERR_/INF_/PRINTER_ and capitals). ERROR always names at least one flag.
# Examples: "READY", "WARNING INF_FEEDER_NEAR_EMPTY", "ERROR DEF_COVER_OPEN,ERR_MECHANICAL". A printer that
# does not know `Rst` answers an error ("ERROR CDE"), and the host falls back on the individual queries:
#   Rse;o   "OPEN" / "CLOSED" (a real printer answers a sensor value, which the host does not interpret)
#   Sk;f    "0" not empty, "1"/"2" one feeder of two empty, "3" empty;   Sk;w  "0" or a warning "1".."3"
#   Rcr     "OK" off the ribbon's black mark; any other answer but an unknown-command error: ribbon ended
#   Rlr;p   "OK", "NO CARD" (the last feed found none), "ERR CARD" (a card is stuck inside)
#   Rlr;r   "OK" or "ERR NEED CLEANING"
#   Rco;c|p|l  a decimal number

STATUS_MAJORS = ("OFF", "READY", "WARNING", "ERROR")

DEF_FEEDER_EMPTY = "DEF_FEEDER_EMPTY"
INF_FEEDER_NEAR_EMPTY = "INF_FEEDER_NEAR_EMPTY"
DEF_NO_RIBBON = "DEF_NO_RIBBON"
DEF_RIBBON_ENDED = "DEF_RIBBON_ENDED"
INF_RIBBON_LOW = "INF_RIBBON_LOW"
DEF_COVER_OPEN = "DEF_COVER_OPEN"
ERR_MECHANICAL = "ERR_MECHANICAL"
ERR_RIBBON_ERROR = "ERR_RIBBON_ERROR"
DEF_REJECT_BOX_FULL = "DEF_REJECT_BOX_FULL"
DEF_HOPPER_FULL = "DEF_HOPPER_FULL"
INF_CLEANING_REQUIRED = "INF_CLEANING_REQUIRED"
ERR_HEAD_TEMP = "ERR_HEAD_TEMP"
INF_ENCODING_RUNNING = "INF_ENCODING_RUNNING"
INF_PRINTING_RUNNING = "INF_PRINTING_RUNNING"
PRINTER_OFFLINE = "PRINTER_OFFLINE"

STATUS_FLAGS = frozenset(
    {
        DEF_FEEDER_EMPTY,
        INF_FEEDER_NEAR_EMPTY,
        DEF_NO_RIBBON,
        DEF_RIBBON_ENDED,
        INF_RIBBON_LOW,
        DEF_COVER_OPEN,
        ERR_MECHANICAL,
        ERR_RIBBON_ERROR,
        DEF_REJECT_BOX_FULL,
        DEF_HOPPER_FULL,
        INF_CLEANING_REQUIRED,
        ERR_HEAD_TEMP,
        INF_ENCODING_RUNNING,
        INF_PRINTING_RUNNING,
        PRINTER_OFFLINE,
    }
)

_FLAG = re.compile(r"(?:DEF|ERR|INF|PRINTER)_[A-Z0-9_]+\Z")


@dataclass(frozen=True)
class StatusReport:
    """A decoded `Rst` reply. Unknown flag names of the same form are kept."""

    major: str
    flags: frozenset[str]


def format_status(major: str, flags: frozenset[str] | set[str] = frozenset()) -> str:
    """Printer side: the text of an `Rst` reply (flags sorted, so the text is deterministic)."""
    if major not in STATUS_MAJORS:
        raise ProtocolError(f"unknown status {major!r}")
    for flag in flags:
        if not _FLAG.match(flag):
            raise ProtocolError(f"invalid status flag {flag!r}")
    if major == "ERROR" and not flags:
        raise ProtocolError("an ERROR status names its flags")
    return f"{major} {','.join(sorted(flags))}" if flags else major


def parse_status(text: str) -> StatusReport | None:
    """Host side: an `Rst` reply, or None when the text is not one (e.g. "ERROR CDE" from a printer that
    does not know the command)."""
    major, _, rest = text.strip().partition(" ")
    if major not in STATUS_MAJORS:
        return None
    flags = frozenset(f for f in rest.split(",") if f) if rest else frozenset()
    if not all(_FLAG.match(f) for f in flags) or (major == "ERROR" and not flags):
        return None
    return StatusReport(major, flags)
