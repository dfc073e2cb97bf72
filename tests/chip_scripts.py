"""Test helper: APDU scripts for the virtual chip (drivers/sim/vicc.py), in the payload form printd documents."""

from __future__ import annotations

import json

from drivers.sim import vicc

CHUNK = 240  # bytes an UPDATE / READ BINARY moves: a short APDU, as most encoding software sends


def select_ef() -> list[dict[str, str]]:
    """SELECT the application by its AID, then its transparent EF."""
    return [
        {"apdu": "00A4040C" + f"{len(vicc.APP_AID):02X}" + vicc.APP_AID.hex().upper()},
        {"apdu": "00A4020C02" + f"{vicc.EF_FID:04X}"},
    ]


def write_and_verify(data: bytes, *, offset: int = 0) -> list[dict[str, str]]:
    """Steps that write ``data`` at ``offset`` in CHUNK-byte UPDATE BINARYs, then read it all back, each read
    expected to answer exactly what was written."""
    steps = select_ef()
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        steps.append({"apdu": f"00D6{offset + start:04X}{len(chunk):02X}{chunk.hex().upper()}"})
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        le = f"{len(chunk):02X}" if len(chunk) < 256 else "00"
        steps.append({"apdu": f"00B0{offset + start:04X}{le}", "expect": "9000", "response": chunk.hex().upper()})
    return steps


def payload(steps: list[dict[str, str]]) -> bytes:
    return json.dumps(steps).encode()


def holder_record(size: int, seed: int = 1) -> bytes:
    """``size`` bytes standing for a holder's encoded record (not real personal data: a fixed pattern)."""
    return bytes((seed * 31 + i * 7) % 251 for i in range(size))
