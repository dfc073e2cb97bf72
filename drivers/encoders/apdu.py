"""The chip payload as an APDU script: its documented JSON form, its validation, and how each answer is judged."""

# A job's chip payload, for an encoder that carries it out itself (``pcsc://``), is a JSON list of steps:
#
#     [{"apdu": "00A4040C07A0000000871001"},
#      {"apdu": "00D60000" "04" "DEADBEEF", "expect": "9000"},
#      {"apdu": "00B0000004", "expect": "9000", "response": "DEADBEEF"}]
#
# * ``apdu``: the command APDU in hexadecimal (spaces allowed), a well-formed ISO 7816-4 short or extended APDU.
# * ``expect``: the status word it must end with, four hexadecimal digits where ``X`` matches any digit
#   ("9000", "61XX", "63CX"); several may be given separated by ``|`` ("9000|6282"). Default "9000".
# * ``response``: when given, the data the chip must answer, exactly (the read-back that verifies a write).
#
# The steps run in order, on the card at the contactless station, after its UID was read; the first step whose
# answer does not match stops the script and the card is spoiled. Payload bytes are personal data: no message
# here repeats any of them; errors name the step by its number and the field by its name.

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import msgspec

MAX_STEPS = 4096
MAX_APDU_BYTES = 4 + 3 + 65535 + 3  # header, extended Lc, data, extended Le
_HEX = re.compile(r"^[0-9A-Fa-f]*$")
_SW = re.compile(r"^[0-9A-Fa-fXx]{4}$")


class ScriptError(ValueError):
    """A chip payload that is no valid APDU script; the message names the step and field, never their values."""


class _StepSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    apdu: Annotated[str, msgspec.Meta(min_length=8, max_length=2 * MAX_APDU_BYTES + 4096)]
    expect: Annotated[str, msgspec.Meta(min_length=4, max_length=64)] = "9000"
    response: Annotated[str, msgspec.Meta(max_length=2 * 65536 + 4096)] | None = None


@dataclass(frozen=True)
class StatusPattern:
    """Status words an answer may end with: each a 4-digit hex pattern, ``X`` for any digit."""

    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> StatusPattern:
        """``"9000"``, ``"61XX"`` or several joined by ``|``; ValueError saying what is expected."""
        patterns = tuple(part.strip().upper() for part in text.split("|"))
        if not all(_SW.match(p) for p in patterns):
            raise ValueError('must be four hex digits, X for any digit, several joined by "|" (e.g. "9000|61XX")')
        return cls(patterns)

    def matches(self, sw: int) -> bool:
        word = f"{sw:04X}"
        return any(all(p in ("X", w) for p, w in zip(pattern, word, strict=True)) for pattern in self.patterns)

    def __str__(self) -> str:
        return "|".join(self.patterns)


@dataclass(frozen=True)
class Step:
    """One command of the script and what its answer must be."""

    apdu: bytes
    expect: StatusPattern
    response: bytes | None = None

    def judge(self, answer: bytes) -> str | None:
        """None when ``answer`` (data + SW1 SW2) is what the step expects, else why not (no data repeated)."""
        if len(answer) < 2:
            return "the chip gave no status word"
        sw = int.from_bytes(answer[-2:], "big")
        if not self.expect.matches(sw):
            return f"the chip answered {sw:04X}, expected {self.expect}"
        if self.response is not None and answer[:-2] != self.response:
            got, wanted = len(answer) - 2, len(self.response)
            return f"the chip's data ({got} bytes) differs from the expected response ({wanted} bytes)"
        return None


def is_script(payload: bytes) -> bool:
    """Whether ``payload`` is meant as an APDU script (a JSON list), as opposed to data for an encoding program."""
    return payload.lstrip()[:1] == b"["


def parse_script(payload: bytes | str) -> tuple[Step, ...]:
    """The steps of an APDU script; ScriptError naming the step (from 1) and what to fix."""
    try:
        specs = msgspec.json.decode(payload, type=list[_StepSpec])
    except msgspec.ValidationError as exc:
        raise ScriptError(f"chip script: {_where(str(exc))}") from None
    except msgspec.DecodeError:
        raise ScriptError(
            'chip script: not valid JSON; expected a list like [{"apdu": "00A4...", "expect": "9000"}]'
        ) from None
    if not specs:
        raise ScriptError("chip script: the list is empty; give at least one step")
    if len(specs) > MAX_STEPS:
        raise ScriptError(f"chip script: {len(specs)} steps; at most {MAX_STEPS}")
    return tuple(_step(n, spec) for n, spec in enumerate(specs, start=1))


def _where(message: str) -> str:
    """msgspec's message with its path ``$[2].apdu`` told as "step 3, apdu" (it never quotes values)."""
    match = re.search(r"at `\$\[(\d+)\](?:\.(\w+))?`", message)
    if match is None:
        return 'must be a JSON list of steps like [{"apdu": "00A4...", "expect": "9000"}]'
    what = message[: match.start()].strip().rstrip("-").strip()
    field = f", {match.group(2)}" if match.group(2) else ""
    return f"step {int(match.group(1)) + 1}{field}: {what[0].lower() + what[1:] if what else 'invalid'}"


def _step(number: int, spec: _StepSpec) -> Step:
    apdu = _hex(spec.apdu, number, "apdu")
    problem = apdu_problem(apdu)
    if problem is not None:
        raise ScriptError(f"chip script: step {number}, apdu: {problem}")
    try:
        expect = StatusPattern.parse(spec.expect)
    except ValueError as exc:
        raise ScriptError(f"chip script: step {number}, expect: {exc}") from None
    response = None if spec.response is None else _hex(spec.response, number, "response")
    return Step(apdu, expect, response)


def _hex(text: str, number: int, field: str) -> bytes:
    digits = "".join(text.split())
    if not _HEX.match(digits) or len(digits) % 2:
        raise ScriptError(f"chip script: step {number}, {field}: must be hexadecimal digits in pairs")
    return bytes.fromhex(digits)


def apdu_problem(apdu: bytes) -> str | None:
    """Why ``apdu`` is no well-formed ISO 7816-4 command (cases 1-4, short or extended), or None."""
    body = apdu[4:]
    if len(apdu) < 4:
        return "shorter than the 4-byte header"
    if len(body) <= 1:
        return None  # case 1, or case 2 short (Le)
    if body[0] != 0:
        lc = body[0]  # short Lc: case 3 or 4
        if len(body) in (1 + lc, 2 + lc):
            return None
        return f"Lc says {lc} data bytes but {len(body) - 1} follow"
    if len(body) == 3:
        return None  # case 2 extended (00 Le Le)
    if len(body) < 3:
        return "an extended length needs 3 bytes"
    lc = int.from_bytes(body[1:3], "big")
    if len(body) in (3 + lc, 5 + lc):
        return None
    return f"extended Lc says {lc} data bytes but {len(body) - 3} follow"
