"""The few PC/SC calls the encoder makes, through pyscard's scard module, with their errors sorted by meaning."""

from __future__ import annotations

from typing import Any

# Errors meaning the card is not (or no longer) usable in the field: wait, or give up on this card.
_CARD_GONE = (
    "SCARD_W_REMOVED_CARD",
    "SCARD_W_RESET_CARD",
    "SCARD_W_UNPOWERED_CARD",
    "SCARD_W_UNRESPONSIVE_CARD",
    "SCARD_E_NO_SMARTCARD",
    "SCARD_E_NOT_TRANSACTED",
    "SCARD_E_PROTO_MISMATCH",
)
# Errors meaning pcscd or the reader is gone: nothing can be encoded until someone fixes it.
_SERVICE_GONE = (
    "SCARD_E_NO_SERVICE",
    "SCARD_E_SERVICE_STOPPED",
    "SCARD_E_NO_READERS_AVAILABLE",
    "SCARD_E_UNKNOWN_READER",
    "SCARD_E_READER_UNAVAILABLE",
    "SCARD_E_INVALID_HANDLE",
    "SCARD_E_COMM_DATA_LOST",
)


class ServiceError(Exception):
    """pcscd is not running, or the reader is missing, ambiguous or gone. The message says what to do."""


class CardGoneError(Exception):
    """The card left the field (or stopped answering) in the middle of an exchange."""


def _scard() -> Any:
    try:
        from smartcard import scard
    except ImportError as exc:  # pragma: no cover - pyscard is a dependency; its C part may be missing
        raise ServiceError(f"pyscard cannot be loaded ({exc}): install pyscard and libpcsclite1") from None
    return scard


class PcscLink:
    """One PC/SC context, established on first use and again after pcscd went away."""

    def __init__(self) -> None:
        self._context: Any = None
        self._resolved: dict[str, str] = {}

    def close(self) -> None:
        if self._context is not None:
            _scard().SCardReleaseContext(self._context)
            self._context = None

    def readers(self) -> list[str]:
        scard = _scard()
        for attempt in (1, 2):
            hresult, names = scard.SCardListReaders(self._established(), [])
            if hresult == scard.SCARD_S_SUCCESS:
                return list(names)
            if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
                return []
            self._drop()  # a context of a pcscd that restarted is no longer valid: one more try with a new one
            if attempt == 2 or not self._is(hresult, _SERVICE_GONE):
                raise ServiceError(f"the PC/SC service cannot list its readers: {_message(hresult)}")
        return []

    def reader(self, wanted: str) -> str:
        """The full name of the reader ``wanted`` names exactly or by a unique part of its name."""
        names = self.readers()
        if wanted in names:
            return wanted
        matches = [name for name in names if wanted.casefold() in name.casefold()]
        if len(matches) == 1:
            return matches[0]
        listed = ", ".join(repr(n) for n in names) or "none"
        if not matches:
            raise ServiceError(
                f"no PC/SC reader is called {wanted!r} (readers: {listed}): check the encoder's USB cable"
            )
        raise ServiceError(f"{wanted!r} names {len(matches)} readers ({listed}): give more of the reader's name")

    def wait_present(self, reader: str, timeout: float) -> bool:
        """Whether a card is in ``reader``'s field now or comes within ``timeout`` seconds."""
        scard = _scard()
        context = self._established()
        hresult, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        self._raise_unless_ok(hresult, "read the reader's state")
        state = states[0][1]
        if _present(scard, state):
            return True
        hresult, states = scard.SCardGetStatusChange(context, max(1, int(timeout * 1000)), [(reader, state)])
        if hresult == scard.SCARD_E_TIMEOUT:
            return False
        self._raise_unless_ok(hresult, "wait for a card")
        return _present(scard, states[0][1])

    def connect(self, reader: str) -> tuple[Any, int] | None:
        """An exclusive connection to the card in ``reader``: (handle, protocol), or None if it is not ready."""
        scard = _scard()
        hresult, handle, protocol = scard.SCardConnect(
            self._established(), reader, scard.SCARD_SHARE_EXCLUSIVE, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if hresult == scard.SCARD_S_SUCCESS:
            return handle, protocol
        if self._is(hresult, _CARD_GONE) or hresult == scard.SCARD_E_SHARING_VIOLATION:
            return None
        self._raise_unless_ok(hresult, "connect to the card")
        return None

    def transmit(self, handle: Any, protocol: int, command: bytes) -> bytes:
        scard = _scard()
        hresult, response = scard.SCardTransmit(handle, protocol, list(command))
        if hresult == scard.SCARD_S_SUCCESS and len(response) >= 2:
            return bytes(response)
        if hresult == scard.SCARD_S_SUCCESS:  # a chip always ends its answer with a status word: none, no chip
            raise CardGoneError("the card gave no answer")
        if self._is(hresult, _CARD_GONE):
            raise CardGoneError(_message(hresult))
        self._raise_unless_ok(hresult, "exchange with the card")
        raise CardGoneError(_message(hresult))

    def disconnect(self, handle: Any) -> None:
        """Let go of the card and leave it where it is (the printer moves it); errors do not matter any more."""
        if handle is not None:
            scard = _scard()
            scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)

    # --------------------------------------------------------------------------------------- internals

    def _established(self) -> Any:
        if self._context is None:
            scard = _scard()
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                raise ServiceError(
                    f"the PC/SC service is not available ({_message(hresult)}): start pcscd (systemctl start pcscd)"
                )
            self._context = context
        return self._context

    def _drop(self) -> None:
        try:
            self.close()
        except Exception:
            self._context = None

    def _raise_unless_ok(self, hresult: int, what: str) -> None:
        scard = _scard()
        if hresult == scard.SCARD_S_SUCCESS:
            return
        if self._is(hresult, _SERVICE_GONE):
            self._drop()
            raise ServiceError(f"the PC/SC service could not {what}: {_message(hresult)}; check pcscd and the reader")
        raise CardGoneError(_message(hresult))

    @staticmethod
    def _is(hresult: int, names: tuple[str, ...]) -> bool:
        scard = _scard()
        return any(hresult == getattr(scard, name) for name in names)


def _present(scard: Any, state: int) -> bool:
    return bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE


def _message(hresult: int) -> str:
    scard = _scard()
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"
