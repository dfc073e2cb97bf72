"""One card through an Evolis printer: its steps in order, the chip stage, and how each failure is settled."""

# When a blank counts as fed: when the printer's inserted-card counter (``Rco;c``) is higher than the value
# read just before the card's first command. Nothing else proves it: not a command sent, not an "OK".
#
# * Before the first command that can move a card (``Sic`` with an encoder, else ``Ss``), no blank can
#   have left the feeder: any failure up to there is NOT_FED.
# * From that command on, a failure is settled by reading ``Rco;c`` again: unchanged -> NOT_FED; advanced ->
#   the card is sent to the reject box (``Ser``) and is SPOILED. If the counter cannot be read (link lost,
#   no reply), or the printer's answer to ``Se`` cannot be trusted, the outcome is UNKNOWN.
# * An "OK" to ``Se`` with the counter not advanced contradicts the counter: UNKNOWN, never PRINTED.
# * An error reply to ``Se`` is checked before a good card is given up (printers answer false errors): the
#   status is read twice, `confirm_delay` apart. An error in the second read is a real condition: the card is
#   settled as a failure (rejected, SPOILED). Otherwise the card sensor (``Rse;p``) decides: the card still
#   inside -> ``Se`` once more (OK -> PRINTED, an error -> settled as a failure); no card inside -> the card
#   left the printer and nobody can say whether it is good: UNKNOWN, "look in the output hopper"; a sensor
#   that gives no answer -> settled as a failure.
#
# Order of a card: status and counters; ``Pr``; with an encoder ``Sic`` (the card is fed and parked at the
# contactless station), encode, ``Ser`` if that fails; ``Ss``, ``Sr``, the front panels, ``Sv`` and the back
# panels; ``Se``. The chip is encoded before printing: ``Sic`` inserts a card (programming guide), the
# common practice with Evolis printers, and a chip that fails spoils a blank without printing a person's
# face and data on it.
#
#
# Compressed panels: K and O go as ``Dbc`` (protocol.py, panels.compress_mono) when `compress_panels` is
# "always", or "auto" and the model ``open()`` read is one the programming guide lists for it
# (protocol.accepts_compressed_panels); Y, M and C always go as ``Db``. A printer that answers ``Dbc`` as an
# unknown command did nothing with it: the line is let go quiet, the panel is sent as ``Db``, and this driver
# sends no more ``Dbc`` until it is opened again.

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from drivers import base
from drivers.base import (
    CardResult,
    Counters,
    DriverError,
    EncodeError,
    Encoder,
    EncoderUnavailableError,
    Outcome,
    PrinterStatus,
    Reason,
    SpoilCategory,
)
from drivers.evolis import panels, protocol, status
from drivers.evolis.link import NoReplyError
from drivers.evolis.protocol import Command, Reply
from drivers.evolis.render import Panel
from drivers.transport import TransportError

if TYPE_CHECKING:
    from drivers.evolis.driver import EvolisDriver

log = structlog.get_logger("drivers.evolis.card_run")


class _StepFailedError(Exception):
    """A card step the printer refused (an error reply) or answered with something unexpected."""

    def __init__(self, command: str, reply: Reply) -> None:
        super().__init__(command)
        self.command = command
        self.reply = reply


_STEP_NAMES = {
    "Pr": "the ribbon setting",
    "Ss": "the start of the card",
    "Sr": "the front side",
    "Sv": "the back side",
    "Db": "a panel download",
    "Dbc": "a compressed panel download",
    "Sic": "the move to the chip station",
    "Se": "the eject",
    "Ser": "the move to the reject box",
}


class CardRun:
    """One card through the printer; the fields say how far it got."""

    def __init__(
        self, driver: EvolisDriver, front: list[Panel], back: list[Panel] | None, payload: bytes | None
    ) -> None:
        self.d = driver
        self.front = front
        self.back = back
        self.payload = payload
        self.before: Counters | None = None
        self.chip_uid: str | None = None
        self.may_be_fed = False
        self.retried = False

    def run(self) -> CardResult:
        d = self.d
        try:
            before = d._confirmed_status()
        except (TransportError, NoReplyError, DriverError) as exc:
            return self._not_fed(base.OFFLINE, f"printer status not readable: {exc}")
        self.before = before.counters
        if not before.can_print:
            reason = status.main_reason(before.reasons) or base.OFFLINE
            return self._not_fed(reason, "the printer cannot print now", before.reasons)
        try:
            self._step(protocol.set_ribbon(d.ribbon))
            if d.encoder is not None:
                try:
                    d.encoder.check()
                except EncodeError as exc:  # a chip cannot be written: feeding a blank now would only spoil it
                    return self._not_fed(base.ENCODER_UNAVAILABLE, str(exc))
                self.may_be_fed = True
                self._step(protocol.park_contactless(), motion=True)
                encoded = self._encode(d.encoder)
                if encoded is not None:
                    return encoded
            self.may_be_fed = True
            self._step(protocol.start_sequence())
            self._step(protocol.front_side(), motion=True)
            self._panels(self.front)
            if self.back is not None:
                self._step(protocol.back_side(), motion=True)
                self._panels(self.back)
            ejected = self._eject()
            if ejected is not None:
                return ejected
        except _StepFailedError as failure:
            return self._settle_failure(failure)
        except (TransportError, DriverError) as exc:
            return self._link_lost(exc)
        return self._printed()

    # --- steps ---

    def _step(self, cmd: Command, *, motion: bool = False) -> None:
        timeout = self.d.motion_timeout if motion else None
        reply = self.d._exchange(cmd, timeout)
        if reply.ok:
            return
        if reply.is_error and not self.retried and self._looks_spurious(cmd):
            self.retried = True
            reply = self.d._exchange(cmd, timeout)
            if reply.ok:
                return
        log.warning("evolis.card_step_failed", command=cmd.name, error=reply.is_error)
        raise _StepFailedError(cmd.name, reply)

    def _looks_spurious(self, cmd: Command) -> bool:
        """An error reply that the printer's status, read twice, does not bear out: worth one more try.

        Only the second read decides: a false error (a Primacy reporting its ribbon ended while ribbon remains)
        can show in the reply and in the status read right after it, and is gone from the next. A condition
        that is really there is in both reads, and the card is settled as the failure it is."""
        d = self.d
        first = d._status()
        d._sleep(d.confirm_delay)
        if d._status().errors:
            return False
        log.info("evolis.spurious_error_reply", command=cmd.name, first=sorted(str(r) for r in first.errors))
        return True

    def _panels(self, side: list[Panel]) -> None:
        d = self.d
        for panel in side:
            plain = protocol.download_panel(panel.panel, panel.levels, panel.data)
            if not (d.compressing and panel.panel in protocol.MONO_PANELS):
                self._step(plain, motion=True)
                continue
            packed = protocol.download_compressed_panel(panel.panel, panel.levels, panels.compress_mono(panel.data))
            reply = d._exchange(packed, d.motion_timeout)
            if reply.ok:
                continue
            if reply.text.startswith("ERROR CDE") or reply.nack_code == "1":
                # Not a command this printer knows, so it did nothing; the panel goes as Db.
                log.warning("evolis.compressed_panels_refused", panel=panel.panel)
                d.compressing = False
                d._link.settle(d._link.quiet_timeout, d.settle_limit)
                self._step(plain, motion=True)
                continue
            if not self.retried and self._looks_spurious(packed):
                self.retried = True
                self._step(packed, motion=True)
                continue
            log.warning("evolis.card_step_failed", command=packed.name, error=reply.is_error)
            raise _StepFailedError(packed.name, reply)

    def _eject(self) -> CardResult | None:
        """``Se``; None when the printer answered OK. An error reply is checked against the status and the card
        sensor (see the top of this module) before the card is given up."""
        d = self.d
        cmd = protocol.end_sequence()
        reply = d._exchange(cmd, d.motion_timeout)
        if reply.ok:
            return None
        if not reply.is_error:
            raise _StepFailedError(cmd.name, reply)
        log.warning("evolis.eject_error_reply")
        first = d._status()
        d._sleep(d.confirm_delay)
        if d._status().errors:
            raise _StepFailedError(cmd.name, reply)  # a real condition
        inside = d.card_inside()
        answer = reply.text[:60].encode("ascii", "replace").decode()
        if inside is False:
            log.warning("evolis.eject_error_card_left")
            return self._with_after(
                Outcome.UNKNOWN,
                f"the printer answered {answer!r} to the eject (Se), but no error is left and its sensor says "
                "the card left it: look in the output hopper and check the card",
            )
        if inside is None:
            raise _StepFailedError(cmd.name, reply)
        log.info("evolis.eject_retried", first=sorted(str(r) for r in first.errors))
        retry = d._exchange(cmd, d.motion_timeout)
        if not retry.ok:
            raise _StepFailedError(cmd.name, retry)
        return None

    def _encode(self, encoder: Encoder) -> CardResult | None:
        try:
            self.chip_uid = encoder.encode(self.payload)
            return None
        except EncoderUnavailableError as exc:
            self.chip_uid = exc.chip_uid
            return self._encoder_lost(str(exc))
        except EncodeError as exc:
            self.chip_uid = exc.chip_uid
            detail = f"the chip could not be encoded: {exc}"
        except Exception as exc:  # the card is parked whatever the encoder did: it must be settled
            detail = f"the encoder failed ({type(exc).__name__})"
        log.warning("evolis.encode_failed", chip_uid=self.chip_uid)
        return self._reject(SpoilCategory.ENCODE_FAILED, detail, None)

    # --- outcomes ---

    def _encoder_lost(self, detail: str) -> CardResult:
        """The encoder could not reach the chip after ``Sic``: settled by the counter like any failure, with the
        reason that pauses the printer (the next card would meet the same encoder)."""
        log.warning("evolis.encoder_unavailable", chip_uid=self.chip_uid)
        return self._settle_by_counter(detail, SpoilCategory.ENCODE_FAILED, base.ENCODER_UNAVAILABLE)

    def _settle_failure(self, failure: _StepFailedError) -> CardResult:
        step = _STEP_NAMES.get(failure.command, failure.command)
        answer = failure.reply.text[:60].encode("ascii", "replace").decode()
        detail = f"the printer answered {answer!r} to {step} ({failure.command})"
        if not self.may_be_fed:
            return self._with_after(Outcome.NOT_FED, detail)
        if failure.command == "Se" and not failure.reply.is_error:
            # An unreadable answer to the eject: the card may be in the hopper or still inside.
            return self._with_after(Outcome.UNKNOWN, f"{detail}; the card may have been ejected")
        return self._settle_by_counter(detail, SpoilCategory.PRINT_FAILED)

    def _settle_by_counter(self, detail: str, category: SpoilCategory, reason: Reason | None = None) -> CardResult:
        """A failure once a blank may have been fed: the counter, read again, says NOT_FED (unchanged) or SPOILED
        (advanced: the card goes to the reject box). ``reason``, when given, stands for the printer's own."""
        try:
            after = self.d._confirmed_status()
        except (TransportError, NoReplyError, DriverError) as exc:
            return self._unknown(f"{detail}; then the printer could not be read ({exc})")
        assert self.before is not None
        reason = reason or status.main_reason(after.reasons)
        if after.counters.cards_fed == self.before.cards_fed:
            return self._result(Outcome.NOT_FED, detail, reason, after)
        return self._reject(category, detail, reason)

    def _reject(self, category: SpoilCategory, detail: str, reason: Reason | None) -> CardResult:
        """Send the fed card to the reject box; it is spoiled whatever the box says."""
        try:
            reply = self.d._exchange(protocol.reject_card(), self.d.motion_timeout)
            if not reply.ok:
                detail += "; it could not be moved to the reject box"
        except (TransportError, NoReplyError):
            detail += "; the move to the reject box was not confirmed"
        after = self._try_status()
        if reason is None and after is not None:
            reason = status.main_reason(after.reasons)
        assert self.before is not None
        if after is not None and after.counters.cards_fed == self.before.cards_fed:
            detail += "; but the card counter did not advance"
            return self._result(Outcome.UNKNOWN, detail, reason, after)
        return self._result(Outcome.SPOILED, detail, reason, after, category)

    def _printed(self) -> CardResult:
        after = self._try_status()
        assert self.before is not None
        if after is not None and after.counters.cards_fed == self.before.cards_fed:
            return self._result(
                Outcome.UNKNOWN, "the printer ejected a card but its card counter did not advance", None, after
            )
        return self._result(Outcome.PRINTED, "", None, after)

    def _link_lost(self, exc: Exception) -> CardResult:
        """The link failed, a reply never came, or a counter could not be read, in the middle of a card."""
        if not self.may_be_fed:
            return self._not_fed(base.OFFLINE, f"printer lost before a card was fed ({exc})")
        return self._unknown(f"printer lost during the card ({exc})")

    def _unknown(self, detail: str) -> CardResult:
        return self._with_after(Outcome.UNKNOWN, detail)

    def _not_fed(self, reason: Reason, detail: str, reasons: frozenset[Reason] = frozenset()) -> CardResult:
        return CardResult(
            Outcome.NOT_FED,
            detail=detail,
            reason=reason,
            counters_before=self.before,
            counters_after=self.before,
            reasons_after=reasons,
        )

    def _with_after(self, outcome: Outcome, detail: str) -> CardResult:
        after = self._try_status()
        reason = status.main_reason(after.reasons) if after is not None else None
        return self._result(outcome, detail, reason, after)

    def _try_status(self) -> PrinterStatus | None:
        try:
            return self.d._status()
        except (TransportError, NoReplyError, DriverError):
            return None

    def _result(
        self,
        outcome: Outcome,
        detail: str,
        reason: Reason | None,
        after: PrinterStatus | None,
        category: SpoilCategory | None = None,
    ) -> CardResult:
        return CardResult(
            outcome,
            category=category,
            detail=detail,
            reason=reason,
            chip_uid=self.chip_uid,
            counters_before=self.before,
            counters_after=after.counters if after is not None else None,
            reasons_after=after.reasons if after is not None else frozenset(),
        )
