"""A simulated contactless chip encoder beside the printer: reads the parked card's UID, fails as scripted."""

from __future__ import annotations

from drivers.sim.model import PrinterModel


class SimEncoder:
    """`drivers.base.Encoder` over the model: the chip is the one of the card at the contactless station.

    Raises EncodeError (with the chip UID) for a card the fault script says fails to encode, and (without a
    UID) when no card is parked at the station.
    """

    def __init__(self, model: PrinterModel) -> None:
        self.model = model

    def encode(self, payload: bytes | None) -> str:
        return self.model.encode(payload)

    def check(self) -> None:
        """In the same process as the model: always reachable."""

    def check_payload(self, payload: bytes | None) -> None:
        """The simulated chip stores any payload."""
