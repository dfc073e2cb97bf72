"""What printd sends through a raw CUPS queue to a card-printer backend: one card, or a printer command."""

# A card document, submitted with document-format application/vnd.cups-raw (CUPS passes it to the backend
# unchanged, whatever the queue's driver):
#
#   PRINTD-CARD/1 LF
#   {"pages": [<bytes of the front>, <bytes of the back>], "chip": <bytes of the chip payload> | null} LF
#   <front><back><chip payload>
#
# The second line is one JSON object (at most 4 KiB). Each page is one card face (PNG, or any image Pillow
# reads): a one-page document is a one-sided card, a two-page document the front and the back of one card.
# The chip payload, when there is one, follows the pages. Nothing may follow it. One document is always one
# card, and copies must be 1: every blank is accountable, so a job never asks for more than one.
#
# A command document, submitted with document-format application/vnd.cups-command, is a CUPS command file:
# "#CUPS-COMMAND" LF, then one command a line ("#" starts a comment). Commands: ReportStatus (ReportLevels is
# taken as the same) reads the printer's status and counters and reports them; ClearErrors asks the printer
# to clear its error state (the operator fixed the cause), then reports the same.

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from drivers.base import Card

CARD_MAGIC = b"PRINTD-CARD/1\n"
COMMAND_MAGIC = b"#CUPS-COMMAND"
CARD_FORMAT = "application/vnd.cups-raw"
COMMAND_FORMAT = "application/vnd.cups-command"
MAX_HEADER = 4096
MAX_PART = 32 * 1024 * 1024


class DocumentError(ValueError):
    """A document the backend cannot use; the message says what is wrong, never what the document holds."""


class Command(enum.StrEnum):
    REPORT_STATUS = "ReportStatus"
    CLEAR_ERRORS = "ClearErrors"


_COMMAND_NAMES = {
    "reportstatus": Command.REPORT_STATUS,
    "reportlevels": Command.REPORT_STATUS,
    "clearerrors": Command.CLEAR_ERRORS,
}


@dataclass(frozen=True)
class CommandDocument:
    commands: tuple[Command, ...]


def encode_card(card: Card) -> bytes:
    """The card document of ``card``."""
    pages = [card.front] if card.back is None else [card.front, card.back]
    chip = card.chip_payload
    header = {"pages": [len(page) for page in pages], "chip": None if chip is None else len(chip)}
    return CARD_MAGIC + json.dumps(header).encode() + b"\n" + b"".join(pages) + (chip or b"")


def encode_command(command: Command) -> bytes:
    return COMMAND_MAGIC + b"\n" + command.value.encode() + b"\n"


def decode(data: bytes) -> Card | CommandDocument:
    """A card or a command document; DocumentError when it is neither."""
    if data.startswith(COMMAND_MAGIC):
        return _decode_command(data)
    if not data.startswith(CARD_MAGIC):
        raise DocumentError("not a printd card document (it does not start with PRINTD-CARD/1)")
    end = data.find(b"\n", len(CARD_MAGIC), len(CARD_MAGIC) + MAX_HEADER)
    if end < 0:
        raise DocumentError(f"the card document has no header line within {MAX_HEADER} bytes")
    try:
        header = json.loads(data[len(CARD_MAGIC) : end])
    except ValueError:
        raise DocumentError("the card document's header is not JSON") from None
    pages, chip = _lengths(header)
    parts: list[bytes] = []
    offset = end + 1
    for length in [*pages, *([] if chip is None else [chip])]:
        parts.append(data[offset : offset + length])
        offset += length
    if offset != len(data):
        raise DocumentError(f"the card document holds {len(data)} bytes, its header announces {offset}")
    back = parts[1] if len(pages) == 2 else None
    return Card(front=parts[0], back=back, chip_payload=None if chip is None else parts[-1])


def _lengths(header: object) -> tuple[list[int], int | None]:
    if not isinstance(header, dict) or set(header) - {"pages", "chip"}:
        raise DocumentError('the card document\'s header must be an object with "pages" and "chip"')
    pages, chip = header.get("pages"), header.get("chip")
    if not isinstance(pages, list) or len(pages) not in (1, 2):
        raise DocumentError("a card document has one page (front) or two (front and back)")
    for length in [*pages, *([] if chip is None else [chip])]:
        if type(length) is not int or not 0 <= length <= MAX_PART:
            raise DocumentError(f"a part length must be a whole number of bytes up to {MAX_PART}")
    if 0 in pages:
        raise DocumentError("a card face cannot be empty")
    return pages, chip


def _decode_command(data: bytes) -> CommandDocument:
    try:
        lines = data.decode("ascii").splitlines()[1:]
    except UnicodeDecodeError:
        raise DocumentError("a command file is ASCII text") from None
    commands = []
    for line in lines:
        word = line.split("#", 1)[0].strip()
        if not word:
            continue
        command = _COMMAND_NAMES.get(word.lower())
        if command is None:
            raise DocumentError(f"unknown printer command {word[:40]!r}; known: ReportStatus, ClearErrors")
        commands.append(command)
    if not commands:
        raise DocumentError("the command file holds no command")
    return CommandDocument(tuple(commands))
