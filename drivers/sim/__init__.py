"""The simulated printer: a physical model speaking the Evolis protocol from the printer's side."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.sim.encoder import SimEncoder
from drivers.sim.faults import FaultScript
from drivers.sim.field import ContactlessField
from drivers.sim.model import PrinterModel
from drivers.sim.printer import SimPrinter
from drivers.sim.state import StateFile
from drivers.sim.transport import InProcessTransport

if TYPE_CHECKING:
    from drivers.evolis.driver import EvolisDriver

__all__ = ["SimHandle", "make_sim_printer", "sim_serial"]


def sim_serial(name: str) -> str:
    """The serial number of the simulated printer called ``name`` (stable, so its blanks' UIDs are too)."""
    return "SIM" + str(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 10**7).zfill(7)


@dataclass
class SimHandle:
    """A simulated printer and what drives it: the model is the physical truth tests compare against."""

    name: str
    model: PrinterModel
    printer: SimPrinter
    transport: InProcessTransport
    encoder: SimEncoder | None
    state: StateFile | None = None
    restored: bool = False

    def driver(self, **options: Any) -> EvolisDriver:
        """The real Evolis driver over the in-process link (``options`` go to EvolisDriver; its ribbon is
        the installed one unless given). The link reconnects like a real printer's: a driver closes its
        transport when it is closed (as the station does with a printer it lost), and the next use plugs in a
        new link."""
        from drivers.evolis.driver import EvolisDriver
        from drivers.transports.reconnecting import ReconnectingTransport

        options.setdefault("ribbon", self.model.ribbon_type)
        options.setdefault("encoder", self.encoder)
        link = ReconnectingTransport(self.connect, f"simulated printer {self.name}")
        return EvolisDriver(link, **options)

    def power_cycle(self) -> None:
        """Switch the printer off and on: its link drops (a write blocked on a hung printer raises
        TransportError) and its firmware starts afresh; the physical state stays (a card a hang left inside is
        a jam). A driver's next use plugs in a new link."""
        self.transport.close()
        self.printer.power_cycle()

    def connect(self) -> InProcessTransport:
        """The in-process link: the current one, or a new one when it was closed."""
        if self.transport.closed:
            self.transport = InProcessTransport(self.printer)
        return self.transport


def make_sim_printer(
    name: str,
    *,
    cards: int = 1000,
    seconds_per_card: float = 20.0,
    spoil_rate: float = 0.0,
    seed: int = 0,
    faults: str | Sequence[str] | None = None,
    state_file: Path | None = None,
    save_png_dir: Path | None = None,
    ribbon: str = "ymcko",
    encoder: bool = True,
    time_scale: float = 1.0,
    seconds_per_encode: float = 0.0,
    field: str | None = None,
) -> SimHandle:
    """A simulated printer called ``name`` with ``cards`` blanks in its feeder (``faults``: see
    drivers/sim/faults.py; mechanical time is ``seconds_per_card`` a card, plus ``seconds_per_encode`` for
    the chip, both multiplied by ``time_scale``; ``save_png_dir`` receives each printed side as a PNG).

    With ``state_file``, a saved state is loaded when the file exists (``cards`` is then ignored: the feeder
    is what was left in it), and every physical change is saved to it.

    With ``field`` ("vpcd://HOST:PORT", the port of a vpcd reader in pcscd), a card parked at the contactless
    station (``Sic``) is put in that reader as a virtual chip card with its blank's UID (drivers/sim/field.py),
    and taken out when it leaves the station. FieldAddressError (a ValueError) for a malformed address.
    """
    contactless = ContactlessField.from_url(field) if field is not None else None
    script = FaultScript.parse(faults, spoil_rate=spoil_rate, seed=seed)
    model = PrinterModel(
        sim_serial(name),
        cards=0 if state_file is not None and state_file.exists() else cards,
        faults=script,
        seconds_per_card=seconds_per_card,
        time_scale=time_scale,
        seconds_per_encode=seconds_per_encode,
        ribbon_type=ribbon,
        field=contactless,
    )
    state = None
    restored = False
    if state_file is not None:
        state = StateFile(state_file)
        restored = state.attach(model)
        model.place_in_field()  # a card the saved state left parked at the station is in the field again
    printer = SimPrinter(model, save_png_dir=save_png_dir)
    transport = InProcessTransport(printer)
    return SimHandle(
        name=name,
        model=model,
        printer=printer,
        transport=transport,
        encoder=SimEncoder(model) if encoder else None,
        state=state,
        restored=restored,
    )
