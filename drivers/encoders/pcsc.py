"""The PC/SC chip encoder: the printer's contactless coupler seen as a PC/SC reader, reached through pcscd."""

# Per card, once the printer has put it in the field (Evolis ``Sic``):
#
# 1. wait for a card in the reader, at most ``card_timeout`` seconds (none: EncoderUnavailableError, no UID);
# 2. connect exclusively and read the UID with GET DATA ``FF CA 00 00 00`` (PC/SC part 3);
# 3. carry out the payload: an APDU script (drivers/encoders/apdu.py) step by step, each answer judged; or,
#    with an encoding program configured, release the card, run the program (reader and UID as arguments and
#    in the environment, the payload on stdin, judged by its exit status), then connect again and check that
#    the same card is still there;
# 4. disconnect, leaving the card where it is: the printer moves it on (panels, or the reject box).
#
# A card that answers wrongly, leaves the field or fails the program raises EncodeError with the UID when it
# was read: the blank is spoiled. pcscd or the reader gone raises EncoderUnavailableError (also with the UID
# when read). The payload is personal data: it never appears in a message or a log line.

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from drivers.base import EncodeError, EncoderUnavailableError
from drivers.encoders import apdu
from drivers.encoders.pcsc_link import CardGoneError, PcscLink, ServiceError

log = structlog.get_logger("drivers.encoders.pcsc")

GET_UID = bytes.fromhex("FFCA000000")
UID_LENGTHS = (4, 7, 10)  # single, double and triple size UIDs (ISO 14443-3)
PLACEHOLDERS = ("reader", "uid")


@dataclass(frozen=True)
class PcscSettings:
    """What ``pcsc://READER`` and the printer's ``encoder_command`` configure."""

    reader: str
    card_timeout: float = 5.0
    command: tuple[str, ...] = ()
    command_timeout: float = 60.0


@dataclass
class _Card:
    """The connected card: its handle and, once read, its UID."""

    handle: object
    protocol: int
    uid: str | None = None
    steps_done: int = field(default=0)


def check_command(command: Sequence[str]) -> None:
    """ValueError unless ``command`` is a program (absolute path) and arguments with only {reader} and {uid}."""
    if not command:
        raise ValueError('must name a program, e.g. ["/usr/lib/ektp/encode", "--reader", "{reader}"]')
    if not command[0].startswith("/"):
        raise ValueError(f"the program {command[0]!r} must be given by its absolute path")
    for arg in command:
        try:
            arg.format(reader="", uid="")
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"argument {arg!r}: the only placeholders are {{reader}} and {{uid}}") from None


class PcscEncoder:
    """`drivers.base.Encoder` over a PC/SC reader. Not thread-safe: one caller, like the driver that calls it."""

    def __init__(
        self,
        settings: PcscSettings,
        *,
        link: PcscLink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.command:
            check_command(settings.command)
        self.settings = settings
        self._link = link if link is not None else PcscLink()
        self._clock = clock

    # ------------------------------------------------------------------------------------- the contract

    def check_payload(self, payload: bytes | None) -> None:
        if payload is None or self.settings.command:
            return  # an encoding program receives the payload as it is and judges it itself
        try:
            apdu.parse_script(payload)
        except apdu.ScriptError as exc:
            raise ValueError(f"{exc} (this printer's encoder runs APDU scripts; it has no encoder_command)") from None

    def check(self) -> None:
        try:
            self._link.reader(self.settings.reader)
        except ServiceError as exc:
            raise EncoderUnavailableError(str(exc)) from None

    def encode(self, payload: bytes | None) -> str:
        steps = () if payload is None or self.settings.command else apdu.parse_script(payload)
        card: _Card | None = None
        try:
            card = self._wait_for_card()
            uid = str(card.uid)
            if steps:
                self._run_script(card, steps)
            elif payload is not None:
                card = self._run_program(card, payload)
            return uid
        except CardGoneError:
            where = f" during step {card.steps_done + 1} of {len(steps)} of the chip script" if card and steps else ""
            raise EncodeError(f"the card left the reader's field{where}", chip_uid=_uid(card)) from None
        except ServiceError as exc:
            raise EncoderUnavailableError(str(exc), chip_uid=_uid(card)) from None
        finally:
            if card is not None:
                self._link.disconnect(card.handle)

    def close(self) -> None:
        self._link.close()

    # --------------------------------------------------------------------------------------- the stages

    def _wait_for_card(self) -> _Card:
        """The card in the field, connected and its UID read. A card that stops answering before its UID is read
        is looked at again until ``card_timeout``: pcscd may still show the card before (it polls the reader)."""
        reader = self._link.reader(self.settings.reader)
        deadline = self._clock() + self.settings.card_timeout
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise EncoderUnavailableError(
                    f"no card came into the field of reader {reader!r} within {self.settings.card_timeout:g} s:"
                    " check the encoder's cable and the printer's contactless station"
                )
            if self._link.wait_present(reader, remaining):
                connected = self._link.connect(reader)
                if connected is not None:
                    card = _Card(*connected)
                    try:
                        card.uid = self._read_uid(card)
                        return card
                    except CardGoneError:
                        self._link.disconnect(card.handle)
                time.sleep(min(0.05, max(deadline - self._clock(), 0)))

    def _read_uid(self, card: _Card) -> str:
        answer = self._link.transmit(card.handle, card.protocol, GET_UID)
        sw = int.from_bytes(answer[-2:], "big") if len(answer) >= 2 else None
        if sw != 0x9000 or len(answer) - 2 not in UID_LENGTHS:
            self._link.disconnect(card.handle)
            status = "no status word" if sw is None else f"{sw:04X}"
            raise EncodeError(f"the chip's UID could not be read (GET DATA answered {status})")
        return answer[:-2].hex().upper()

    def _run_script(self, card: _Card, steps: Sequence[apdu.Step]) -> None:
        for number, step in enumerate(steps, start=1):
            answer = self._link.transmit(card.handle, card.protocol, step.apdu)
            problem = step.judge(answer)
            if problem is not None:
                log.warning("encoder.step_refused", step=number, steps=len(steps), chip_uid=card.uid)
                raise EncodeError(f"chip script step {number} of {len(steps)}: {problem}", chip_uid=card.uid)
            card.steps_done = number

    def _run_program(self, card: _Card, payload: bytes) -> _Card:
        """Hand the card to the encoding program, then take it back and check it is the same card."""
        assert card.uid is not None
        uid = card.uid
        reader = self._link.reader(self.settings.reader)
        self._link.disconnect(card.handle)
        card.handle = None
        args = [arg.format(reader=reader, uid=uid) for arg in self.settings.command]
        env = os.environ | {"PRINTD_READER": reader, "PRINTD_CHIP_UID": uid}
        program = args[0]
        try:
            done = subprocess.run(
                args,
                input=payload,
                env=env,
                stdout=subprocess.DEVNULL,  # its output may hold personal data: never logged
                stderr=subprocess.DEVNULL,
                timeout=self.settings.command_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EncodeError(
                f"the encoding program {program} did not finish within {self.settings.command_timeout:g} s",
                chip_uid=uid,
            ) from None
        except OSError as exc:
            raise EncodeError(
                f"the encoding program {program} could not be started: {exc.strerror}", chip_uid=uid
            ) from None
        if done.returncode != 0:
            log.warning("encoder.program_failed", program=program, status=done.returncode, chip_uid=uid)
            raise EncodeError(f"the encoding program {program} exited with status {done.returncode}", chip_uid=uid)
        again = self._wait_for_card()
        if again.uid != uid:
            self._link.disconnect(again.handle)
            raise EncodeError(f"after the encoding program the reader holds another card ({again.uid})", chip_uid=uid)
        return again


def _uid(card: _Card | None) -> str | None:
    return None if card is None else card.uid
