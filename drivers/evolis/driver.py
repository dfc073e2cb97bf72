"""EvolisDriver: the driver contract (drivers.base.Driver) over the Evolis protocol and a byte transport."""

# How a card runs, and when a blank counts as fed: drivers/evolis/card_run.py. The panels: drivers/evolis/render.py.

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from drivers.base import (
    Card,
    CardResult,
    Counters,
    DriverError,
    Encoder,
    PrinterInfo,
    PrinterOfflineError,
    PrinterStatus,
    Reason,
)
from drivers.evolis import panels, protocol, status
from drivers.evolis.card_run import CardRun
from drivers.evolis.link import LineBusyError, Link, NoReplyError
from drivers.evolis.protocol import Command, Reply
from drivers.evolis.render import render_card, ribbon_panels
from drivers.transport import Transport, TransportError

log = structlog.get_logger("drivers.evolis.driver")

COMPRESS_MODES = ("auto", "always", "never")
"""``compress_panels``: by the model (`protocol.accepts_compressed_panels`), always, or never."""


class EvolisDriver:
    """An Evolis printer (Primacy, Zenius, KC200...) over a byte transport. Not thread-safe: one caller.

    ``reply_timeout`` bounds ordinary replies; ``motion_timeout`` bounds replies to commands that move a
    card or print a panel; ``quiet_timeout`` completes an unterminated reply. ``confirm_delay`` is the pause
    before a status that shows an error is read again (see `status`). ``open_quiet`` is how long `open` waits
    for a quiet line after a reply went missing on this link (else ``quiet_timeout``), at most
    ``settle_limit``. ``compress_panels``: see the top of this module.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        encoder: Encoder | None = None,
        ribbon: str = "ymcko",
        colour_levels: int = 32,
        reply_timeout: float = 5.0,
        motion_timeout: float = 60.0,
        quiet_timeout: float = 0.2,
        confirm_delay: float = 0.5,
        open_quiet: float = 1.0,
        settle_limit: float = 10.0,
        compress_panels: str = "auto",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if compress_panels not in COMPRESS_MODES:
            raise ValueError(f"compress_panels is {compress_panels!r}; expected one of {', '.join(COMPRESS_MODES)}")
        self._front, self._back = ribbon_panels(ribbon)
        protocol.panel_bits("y", colour_levels)
        self.ribbon = ribbon
        self.colour_levels = colour_levels
        self.encoder = encoder
        self.motion_timeout = motion_timeout
        self.confirm_delay = confirm_delay
        self._sleep = sleep
        self._link = Link(transport, reply_timeout=reply_timeout, quiet_timeout=quiet_timeout)
        self._ask_rst = True
        self.open_quiet = open_quiet
        self.settle_limit = settle_limit
        self.compress_panels = compress_panels
        self.compressing = False
        """Whether K and O panels go as ``Dbc``: decided by `open`."""

    # ------------------------------------------------------------------------------------- the contract

    def open(self) -> PrinterInfo:
        """Wait for a quiet line, discarding stale input (so that a reply to a command sent before a reconnect is
        not taken for the answer to a new one); read model, serial number and firmware; hand error management
        to the host (``Pem;2``); decide whether panels go compressed."""
        link = self._link
        try:
            link.settle(self.open_quiet if link.owes_reply else link.quiet_timeout, self.settle_limit)
        except LineBusyError as exc:
            raise PrinterOfflineError(f"printer not usable: {exc}") from exc
        except TransportError as exc:
            raise PrinterOfflineError(f"printer not reachable: {exc}") from exc
        try:
            model = self._value(protocol.read_model())
            serial = self._value(protocol.read_serial())
            firmware = self._value(protocol.read_firmware())
            reply = self._link.exchange(protocol.host_error_management())
        except (TransportError, NoReplyError) as exc:
            raise PrinterOfflineError(f"printer not reachable: {exc}") from exc
        if not reply.ok:
            # The printer then rejects failed cards by itself; the counters still settle every card.
            log.warning("evolis.error_management_refused")
        self._ask_rst = True
        known = protocol.accepts_compressed_panels(model, firmware)
        self.compressing = self.compress_panels == "always" or (self.compress_panels == "auto" and known)
        log.info("evolis.opened", compressed_panels=self.compressing, model_listed_for_compression=known)
        return PrinterInfo(model=model, serial_number=serial, firmware=firmware)

    def close(self) -> None:
        self._link.transport.close()

    def status(self) -> PrinterStatus:
        """Counters and reasons, from the general status (``Rst``) where the printer knows it and the
        individual sensors. PrinterOfflineError when the printer cannot be reached."""
        try:
            return self._status()
        except (TransportError, NoReplyError) as exc:
            raise PrinterOfflineError(f"printer not reachable: {exc}") from exc

    def clear_errors(self) -> None:
        try:
            reply = self._link.exchange(protocol.clear_errors())
        except (TransportError, NoReplyError) as exc:
            raise PrinterOfflineError(f"printer not reachable: {exc}") from exc
        if not reply.ok:
            raise DriverError("the printer refused to clear its errors")

    # Start-up settlement asks these two to prove the fate of a card a crash left inside the printer.

    def card_inside(self) -> bool | None:
        """The card-presence sensor (``Rse;p``): True or False where it answers CARD or NO CARD (the simulator
        does), None for any other answer (the guide documents a sensor voltage, which is not interpreted).
        PrinterOfflineError when the printer cannot be reached."""
        try:
            reply = self._link.exchange(Command("Rse", ("p",)))
        except (TransportError, NoReplyError) as exc:
            raise PrinterOfflineError(f"printer not reachable: {exc}") from exc
        return {"CARD": True, "NO CARD": False}.get(reply.text.strip().upper())

    def reject_card(self) -> bool:
        """``Ser``: send the card in the printer to the reject box; True when the printer answers OK.
        PrinterOfflineError when the printer cannot be reached or does not answer (the card may have moved)."""
        try:
            return self._link.exchange(protocol.reject_card(), self.motion_timeout).ok
        except (TransportError, NoReplyError) as exc:
            raise PrinterOfflineError(f"printer not reachable: {exc}") from exc

    def print_card(self, card: Card) -> CardResult:
        """Print (and encode) one card. Raises DriverError only before anything is sent, when a face cannot
        be read; every other outcome is a CardResult (see the top of this module)."""
        try:
            front, back = render_card(card, self.ribbon, self.colour_levels)
            if self.encoder is not None:
                self.encoder.check_payload(card.chip_payload)
        except (panels.ImageError, ValueError) as exc:
            raise DriverError(str(exc)) from None
        return CardRun(self, front, back, card.chip_payload).run()

    # --------------------------------------------------------------------------------------- internals

    def _value(self, cmd: Command) -> str:
        reply = self._link.exchange(cmd)
        if reply.is_error:
            raise DriverError(f"the printer refused {cmd.name}")
        return reply.text

    def _exchange(self, cmd: Command, timeout: float | None = None) -> Reply:
        return self._link.exchange(cmd, timeout)

    def _counters(self) -> Counters:
        fed = status.parse_count(self._exchange(protocol.read_counter("c")))
        if fed is None:
            raise DriverError("the printer did not report its card counter")
        panels_printed = status.parse_count(self._exchange(protocol.read_counter("p")))
        ribbon_left = status.parse_count(self._exchange(protocol.read_counter("l")))
        return Counters(cards_fed=fed, panels_printed=panels_printed, ribbon_remaining=ribbon_left)

    def _status(self) -> PrinterStatus:
        counters = self._counters()
        reasons: set[Reason] = set()
        busy = False
        if self._ask_rst:
            reply = self._exchange(protocol.read_status())
            report = protocol.parse_status(reply.text)
            if report is None:
                # Not a printer that knows Rst: the sensors below are all there is.
                self._ask_rst = not reply.is_error
            else:
                reasons |= status.flag_reasons(report)
                busy = status.is_busy(report)
        ask = self._exchange
        reasons |= status.cover_reasons(ask(protocol.read_cover()))
        feeder_empty = ask(protocol.read_feeder_empty())
        reasons |= status.feeder_reasons(feeder_empty, ask(protocol.read_feeder_warning()))
        reasons |= status.ribbon_mark_reasons(ask(protocol.read_ribbon_mark()))
        feeder_known = status.parse_count(feeder_empty) is not None
        reasons |= status.last_card_reasons(ask(protocol.read_last_card_answer()), feeder_known=feeder_known)
        reasons |= status.cleaning_reasons(ask(protocol.read_last_cleaning_answer()))
        return PrinterStatus(status.major_state(reasons, busy=busy), frozenset(reasons), counters)

    def _confirmed_status(self) -> PrinterStatus:
        """The status, read a second time after `confirm_delay` if it shows an error: printers in the field
        report errors that are not there (a Primacy reporting its ribbon ended while ribbon remains)."""
        first = self._status()
        if not first.errors:
            return first
        self._sleep(self.confirm_delay)
        second = self._status()
        if not second.errors:
            log.info("evolis.spurious_status", reasons=sorted(str(r) for r in first.errors))
        return second
