"""The printdsim device URI: which simulator state file a CUPS queue prints to, and how the printer behaves."""

# printdsim:///var/lib/printd/sim/counter-1.json?cards=500&faults=card%207%3A%20jam&seconds_per_card=20
#
# The path is the simulator's state file (drivers/sim/state.py): created with ``cards`` blanks when missing,
# else loaded, and saved after every physical change. Query parameters, all optional:
#   name             the simulated printer's name; its serial number derives from it (default: the file's stem)
#   cards            blanks in the feeder of a new state file (1000)
#   faults           a fault script (drivers/sim/faults.py), URL-encoded: "card 3: jam; after 10: feeder empty"
#   seconds_per_card mechanical time of one card (0)
#   spoil_rate, seed random print failures (0, 0)
#   ribbon           the ribbon of a new printer (ymcko)
#   encoder          1: a simulated contactless chip encoder beside the printer (default), 0: none
#   reply_timeout    seconds to wait for each reply of the printer (1.0)

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

SCHEME = "printdsim"


@dataclass(frozen=True)
class Device:
    state_file: Path
    name: str
    cards: int = 1000
    faults: str | None = None
    seconds_per_card: float = 0.0
    spoil_rate: float = 0.0
    seed: int = 0
    ribbon: str = "ymcko"
    encoder: bool = True
    reply_timeout: float = 1.0

    @classmethod
    def from_uri(cls, uri: str) -> Device:
        """Parse a printdsim URI; ValueError says what is wrong with it."""
        parts = urlsplit(uri)
        if parts.scheme != SCHEME:
            raise ValueError(f"the device URI's scheme is {parts.scheme or 'missing'!r}, not {SCHEME!r}")
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or path.endswith("/"):
            raise ValueError(f"expected the absolute path of a state file ({SCHEME}:///path/state.json), no host")
        query = parse_qs(parts.query, keep_blank_values=True)
        known = {"name", "cards", "faults", "seconds_per_card", "spoil_rate", "seed", "ribbon", "encoder"}
        unknown = sorted(set(query) - known - {"reply_timeout"})
        if unknown:
            raise ValueError(f"unknown device URI parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        one = {key: values[-1] for key, values in query.items()}
        state_file = Path(path)
        try:
            device = cls(
                state_file=state_file,
                name=one.get("name") or state_file.stem,
                cards=int(one.get("cards", "1000")),
                faults=one.get("faults") or None,
                seconds_per_card=float(one.get("seconds_per_card", "0")),
                spoil_rate=float(one.get("spoil_rate", "0")),
                seed=int(one.get("seed", "0")),
                ribbon=one.get("ribbon") or "ymcko",
                encoder=one.get("encoder", "1") not in ("0", "no", "false"),
                reply_timeout=float(one.get("reply_timeout", "1.0")),
            )
        except ValueError as exc:
            raise ValueError(f"a device URI parameter is not a number: {exc}") from None
        if device.cards < 0 or device.seconds_per_card < 0 or device.reply_timeout <= 0:
            raise ValueError("cards and seconds_per_card cannot be negative, reply_timeout must be above 0")
        return device
