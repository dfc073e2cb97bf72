"""The printer's contactless field: a card parked at the station becomes a virtual chip card in a vpcd reader."""

# A real printer's contactless coupler is a PC/SC reader on the host; the printer only moves the card into its
# field. Here the reader is vsmartcard's vpcd driver inside pcscd, which listens on a TCP port for a virtual
# card; `ContactlessField.place` connects the card's chip (drivers/sim/vicc.py) to that port, and one thread
# a card answers what the reader sends until `remove` (the card left the station) ends the connection, which
# pcscd sees as the card leaving the field at its next poll of the slot (vpcd sends GET_ATR about every 0.4 s).
#
# Rule: a reader never sees the next card before it has seen the last one leave. `remove` only half-closes the
# link (the card sends nothing more); vpcd's next poll then reads the end and closes its side, and pcscd marks
# the slot empty. `place` waits for that (at most LEAVE_TIMEOUT) before it connects the next card, so a host that
# parks cards back to back never takes the previous card, still shown present, for the new one. It also keeps
# at most one connection of ours in vpcd's accept queue (its backlog is 0: a second one waits for SYN retries).
# A card that ended its link by itself (it left the field mid-write) or whose end vpcd did not read in time is
# different: vpcd drops it at the failed exchange, and if our next card is already waiting at its next poll it
# takes that one in the same poll, so pcscd never reports the first card gone. `place` then first lets one poll
# of the slot pass with nothing waiting (POLL_SECONDS).
# The card leaving is kept by the reader's address, not by the field, so that it holds for two simulated
# printers given the same reader one after the other (as tests do). Across processes the same holds at exit: a
# process ending (a daemon stopped, a served simulator) takes its cards out and waits until each reader noticed,
# so that the next process to put a card in that reader is not met by this one's, still shown present.
#
# Threads: `place` and `remove` are called by the printer model while it holds its lock; neither waits for the
# link thread, and the link thread never takes the model's lock: it owns only its socket and its card's chip
# memory (the card record's, written in place).
#
# Faults (drivers/sim/faults.py, at the encoder), as `ChipBehaviour`: the chip refuses writes (6581), leaves the
# field in the middle of its first UPDATE BINARY (half of it written, no answer, the link closed), answers
# each APDU SLOW_CHIP_SECONDS late, or is never put in the reader at all.

from __future__ import annotations

import atexit
import contextlib
import socket
import threading
import time
import weakref
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from drivers.sim.cards import CardRecord
from drivers.sim.faults import SLOW_CHIP_SECONDS, FaultKind
from drivers.sim.vicc import INS_UPDATE_BINARY, ChipCard, VpcdDecoder, answer

log = structlog.get_logger("drivers.sim.field")

CONNECT_TIMEOUT = 2.0
"""Seconds `place` waits for the reader's port to take the card's connection."""
LEAVE_TIMEOUT = 1.5
"""Seconds `place` waits for the reader to notice the previous card left (vpcd polls about every 0.4 s)."""
POLL_SECONDS = 0.6
"""More than one of pcscd's polls of a slot (0.4 s): time enough for it to see an empty slot once."""
READ_SIZE = 65536

_leaving: dict[tuple[str, int], _CardLink] = {}
"""The card last removed from each reader (by address), until the reader noticed it left."""
_leaving_lock = threading.Lock()
_in_readers: weakref.WeakSet[_CardLink] = weakref.WeakSet()
"""The cards of this process in a reader now (for the exit)."""


@dataclass(frozen=True)
class ChipBehaviour:
    """How a card's chip misbehaves in the field (each False/0 for a good chip)."""

    refuse_writes: bool = False
    leave_mid_write: bool = False
    delay: float = 0.0
    absent: bool = False

    @classmethod
    def from_faults(cls, kinds: frozenset[FaultKind]) -> ChipBehaviour:
        """The behaviour the card's scripted faults at the encoder give it ("encode fails" refuses writes)."""
        return cls(
            refuse_writes=bool(kinds & {FaultKind.CHIP_REFUSES, FaultKind.ENCODE_FAILS}),
            leave_mid_write=FaultKind.CARD_LEAVES_FIELD in kinds,
            delay=SLOW_CHIP_SECONDS if FaultKind.SLOW_CHIP in kinds else 0.0,
            absent=FaultKind.NO_CARD_IN_FIELD in kinds,
        )


class FieldAddressError(ValueError):
    """A contactless field address that is not ``vpcd://HOST:PORT``."""


def parse_field_url(url: str) -> tuple[str, int]:
    """``vpcd://HOST:PORT`` -> (host, port); raise FieldAddressError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "vpcd":
        raise FieldAddressError(f"contactless field {url!r}: expected vpcd://HOST:PORT (the vpcd reader's port)")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or port == 0 or parts.path not in ("", "/") or parts.query:
        raise FieldAddressError(
            f"contactless field {url!r}: expected vpcd://HOST:PORT with a port from 1 to 65535, e.g. vpcd://localhost:35963"
        )
    return parts.hostname, port


class ContactlessField:
    """The field of one printer's contactless station, served by the vpcd reader listening at (host, port)."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._link: _CardLink | None = None

    @classmethod
    def from_url(cls, url: str) -> ContactlessField:
        host, port = parse_field_url(url)
        return cls(host, port)

    @property
    def address(self) -> str:
        return f"vpcd://{self.host}:{self.port}"

    @property
    def occupied(self) -> bool:
        """True while a card's chip is connected to the reader (placed, and neither removed nor gone by itself)."""
        link = self._link
        return link is not None and link.is_alive()

    def place(self, card: CardRecord, behaviour: ChipBehaviour = ChipBehaviour()) -> bool:
        """Put ``card`` in the field: returns once the reader's port took the connection (True), or False when
        the card is in no field (a scripted absent chip, or nothing listening: pcscd down). A card already in
        the field is removed first."""
        self.remove()
        with _leaving_lock:
            leaving = _leaving.pop((self.host, self.port), None)
        if leaving is not None:
            leaving.join(LEAVE_TIMEOUT)
            if leaving.is_alive():
                log.warning("sim.field.leave_unnoticed", field=self.address, seconds=LEAVE_TIMEOUT)
                leaving.abort()
                leaving.join(LEAVE_TIMEOUT)
            if not leaving.seen_leaving:
                time.sleep(max(0.0, leaving.ended_at + POLL_SECONDS - time.monotonic()))
        if behaviour.absent:
            log.info("sim.field.card_absent", blank=card.index, field=self.address)
            return False
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            log.warning("sim.field.unreachable", blank=card.index, field=self.address, error=type(exc).__name__)
            return False
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        chip = ChipCard(bytes.fromhex(card.chip_uid), card.chip, refuse_writes=behaviour.refuse_writes)
        link = _CardLink(sock, chip, behaviour, name=f"chip-{card.index}")
        self._link = link
        with _leaving_lock:
            _in_readers.add(link)
        link.start()
        return True

    def remove(self) -> None:
        """Take the card out of the field (eject, reject, or the card moving on to the print head)."""
        link, self._link = self._link, None
        if link is not None:
            link.leave()
            with _leaving_lock:
                _leaving[(self.host, self.port)] = link


@atexit.register
def _let_cards_leave() -> None:
    """At exit (the card threads still run then): every card of this process leaves its reader, and the exit
    waits, at most LEAVE_TIMEOUT and one poll, until each reader noticed."""
    with _leaving_lock:
        links = [*_leaving.values(), *_in_readers]
        _leaving.clear()
    for link in links:
        link.leave()
    deadline = time.monotonic() + LEAVE_TIMEOUT
    for link in links:
        link.join(max(0.0, deadline - time.monotonic()))
    unnoticed = [link.ended_at for link in links if not link.seen_leaving]
    if unnoticed:
        time.sleep(max(0.0, max(unnoticed) + POLL_SECONDS - time.monotonic()))


class _CardLink(threading.Thread):
    """Answers vpcd for one card until it is closed, the reader hangs up, or the card's fault makes it leave."""

    def __init__(self, sock: socket.socket, chip: ChipCard, behaviour: ChipBehaviour, *, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._sock = sock
        self._chip = chip
        self._behaviour = behaviour
        self._closing = threading.Event()
        self._aborted = False
        self.seen_leaving = False
        """Whether vpcd ended the link after the card left (it then reported the slot empty)."""
        self.ended_at = time.monotonic()

    def leave(self) -> None:
        """The card leaves the field: it answers nothing more, and the link ends once vpcd has noticed."""
        self._closing.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """End the link now (the thread's recv returns; the thread closes the socket)."""
        self._closing.set()
        self._aborted = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        decoder = VpcdDecoder()
        try:
            while True:
                data = self._sock.recv(READ_SIZE)
                if not data:
                    self.seen_leaving = self._closing.is_set() and not self._aborted
                    return
                # vpcd writes a message's length and its payload separately: without an immediate ACK its
                # Nagle holds the payload for our delayed ACK, some 40 ms an APDU. Linux resets QUICKACK.
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                for payload in decoder.feed(data):
                    if self._closing.is_set():
                        continue  # left the field: what vpcd still sends goes unanswered
                    if not self._serve(payload):
                        return
        except OSError:
            return
        finally:
            self.ended_at = time.monotonic()
            self._sock.close()

    def _serve(self, payload: bytes) -> bool:
        """Answer one message; False when the card has left the field."""
        if len(payload) > 1:  # a C-APDU
            if self._behaviour.delay and self._closing.wait(self._behaviour.delay):
                return False
            if self._behaviour.leave_mid_write and len(payload) > 4 and payload[1] == INS_UPDATE_BINARY:
                self._chip.write_torn(payload)
                return False
        reply = answer(self._chip, payload)
        if reply is not None:
            self._sock.sendall(reply)
        return True
