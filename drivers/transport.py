"""The byte transport a protocol driver talks through: write bytes, read with a timeout. No protocol here."""

from __future__ import annotations

from typing import Protocol


class TransportError(Exception):
    """The link is gone (unplugged, closed, I/O error): nothing more can be sent or received."""


class Transport(Protocol):
    def write(self, data: bytes) -> None:
        """Send all of ``data`` or raise TransportError."""
        ...

    def read(self, timeout: float) -> bytes:
        """Return the bytes available, waiting up to ``timeout`` seconds for the first; b"" on timeout."""
        ...

    def close(self) -> None: ...
