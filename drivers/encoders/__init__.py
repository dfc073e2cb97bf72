"""Chip encoders beside a printer's contactless station, chosen by URL: ``pcsc://READER`` or the simulator's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

from drivers.base import Encoder

if TYPE_CHECKING:
    from drivers.encoders.pcsc import PcscSettings

SCHEMES = ("pcsc", "sim+unix")
_PCSC_OPTIONS = {"card_timeout": (0.1, 600.0), "command_timeout": (0.1, 3600.0)}


def check_encoder(url: str, command: Sequence[str] | None = None) -> None:
    """ValueError naming what is wrong with an ``encoder`` URL (and its ``encoder_command``); nothing is opened."""
    scheme = url.partition("://")[0]
    if scheme == "sim+unix":
        from drivers.sim.encoder_client import parse_encoder_url

        parse_encoder_url(url)
        if command:
            raise ValueError("encoder_command works with a pcsc:// encoder only")
        return
    _pcsc_settings(url, command)


def open_encoder(url: str, command: Sequence[str] | None = None) -> Encoder:
    """The encoder ``url`` names (checked now; the reader or socket is reached on first use)."""
    if url.startswith("sim+unix://"):
        from drivers.sim.encoder_client import open_encoder as open_sim_encoder

        check_encoder(url, command)
        return open_sim_encoder(url)
    from drivers.encoders.pcsc import PcscEncoder

    return PcscEncoder(_pcsc_settings(url, command))


def _pcsc_settings(url: str, command: Sequence[str] | None) -> PcscSettings:
    from drivers.encoders.pcsc import PcscSettings, check_command

    if not url.startswith("pcsc://"):
        raise ValueError(
            f"unknown encoder {url!r}: expected pcsc://READER (the printer's contactless coupler, by its PC/SC reader"
            " name or a unique part of it) or sim+unix:///PATH (the simulator's encoder)"
        )
    name, _, query = url[len("pcsc://") :].partition("?")
    reader = unquote(name).strip()
    if not reader:
        raise ValueError(f"encoder {url!r}: name the reader, e.g. pcsc://Evolis (pcsc_scan lists the readers)")
    options: dict[str, float] = {}
    for key, values in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
        if key not in _PCSC_OPTIONS:
            raise ValueError(f"encoder {url!r}: unknown option {key!r}; known: {', '.join(_PCSC_OPTIONS)}")
        low, high = _PCSC_OPTIONS[key]
        try:
            value = float(values[-1])
        except ValueError:
            raise ValueError(f"encoder {url!r}: {key} must be a number of seconds") from None
        if not low <= value <= high:
            raise ValueError(f"encoder {url!r}: {key} must be between {low:g} and {high:g} seconds")
        options[key] = value
    if command is not None:
        try:
            check_command(command)
        except ValueError as exc:
            raise ValueError(f"encoder_command: {exc}") from None
    return PcscSettings(reader=reader, command=tuple(command or ()), **options)


__all__ = ["SCHEMES", "check_encoder", "open_encoder"]
