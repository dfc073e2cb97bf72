"""Chip stage over a real pcscd + vpcd: per card, wait for it after Sic, connect, UID, 4 KiB written and read."""

# Each card: the simulated printer parks a blank at the contactless station (Sic: the card connects to a vpcd
# reader in a private pcscd); the host, through pyscard, waits for the card to be present, connects, reads the
# UID (FF CA 00 00 00), selects the application and its EF, writes 4 KiB in UPDATE BINARY chunks, reads it
# back in READ BINARY chunks and compares, disconnects; the printer then ejects the card (Ser, no panels: only
# the chip stage is timed). "wait" (Sic to present) is pcscd's polling of the slot (about 0.4 s); "chip" is the
# rest. The host side here is plain pyscard; the PC/SC encoder, once it exists, is timed the same way.

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import structlog

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import console, environment, median, percentile, print_json, run_table
from drivers.sim import make_sim_printer
from drivers.sim.vicc import APP_AID
from tests.pcscd import missing, private_pcscd

PAYLOAD = bytes((i * 131 + 7) % 256 for i in range(4096))
PRESENT_TIMEOUT = 5.0


def one_run(cards: int, chunk: int, reader_name: str, field_url: str) -> dict[str, list[float]]:
    """Milliseconds per card: wait (Sic to present), chip (connect to disconnect), total."""
    from smartcard import scard as s

    handle = make_sim_printer("bench-chip", cards=cards, seconds_per_card=0, field=field_url)
    _, context = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
    times: dict[str, list[float]] = {"wait": [], "chip": [], "total": []}
    try:
        for _ in range(cards):
            if handle.printer.receive(b"\x1bSic\r") != b"OK\r":
                raise RuntimeError("the simulated printer refused Sic")
            start = time.perf_counter()
            _wait_present(s, context, reader_name)
            present = time.perf_counter()
            hresult, card, protocol = s.SCardConnect(
                context, reader_name, s.SCARD_SHARE_SHARED, s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1
            )
            _check(s, hresult, "connect")

            def ok(apdu: list[int], card: int = card, protocol: int = protocol) -> bytes:
                hresult, response = s.SCardTransmit(card, protocol, apdu)
                _check(s, hresult, "transmit")
                if bytes(response[-2:]) != b"\x90\x00":
                    raise RuntimeError(f"the card answered {bytes(response[-2:]).hex()}")
                return bytes(response[:-2])

            ok([0xFF, 0xCA, 0x00, 0x00, 0x00])
            ok([0x00, 0xA4, 0x04, 0x0C, len(APP_AID), *APP_AID])
            ok([0x00, 0xA4, 0x02, 0x0C, 0x02, 0x01, 0x01])
            for offset in range(0, len(PAYLOAD), chunk):
                part = PAYLOAD[offset : offset + chunk]
                ok([0x00, 0xD6, offset >> 8, offset & 0xFF, len(part), *part])
            read = b"".join(
                ok([0x00, 0xB0, o >> 8, o & 0xFF, min(chunk, len(PAYLOAD) - o)]) for o in range(0, len(PAYLOAD), chunk)
            )
            if read != PAYLOAD:
                raise RuntimeError("the 4 KiB read back differ from what was written")
            s.SCardDisconnect(card, s.SCARD_LEAVE_CARD)
            done = time.perf_counter()
            times["wait"].append((present - start) * 1000)
            times["chip"].append((done - present) * 1000)
            times["total"].append((done - start) * 1000)
            if handle.printer.receive(b"\x1bSer\r") != b"OK\r":
                raise RuntimeError("the simulated printer refused Ser")
    finally:
        s.SCardReleaseContext(context)
    return times


def _wait_present(s: object, context: int, reader_name: str) -> None:
    sc = s  # smartcard.scard, untyped
    deadline = time.monotonic() + PRESENT_TIMEOUT
    known = sc.SCARD_STATE_UNAWARE  # type: ignore[attr-defined]
    while time.monotonic() < deadline:
        left = int((deadline - time.monotonic()) * 1000)
        _, states = sc.SCardGetStatusChange(context, max(left, 1), [(reader_name, known)])  # type: ignore[attr-defined]
        known = states[0][1] & ~sc.SCARD_STATE_CHANGED  # type: ignore[attr-defined]
        if known & sc.SCARD_STATE_PRESENT:  # type: ignore[attr-defined]
            return
    raise RuntimeError(f"no card in {reader_name} within {PRESENT_TIMEOUT} s")


def _check(s: object, hresult: int, what: str) -> None:
    if hresult != 0:
        raise RuntimeError(f"{what}: {s.SCardGetErrorMessage(hresult)}")  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/chip.py", description=__doc__)
    parser.add_argument("--cards", type=int, default=50, help="cards per run (default 50)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; figures are medians (default 3)")
    parser.add_argument("--chunk", type=int, default=240, help="bytes per UPDATE/READ BINARY (default 240)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if not 1 <= args.chunk <= 255:
        parser.error("--chunk: short APDUs carry 1 to 255 bytes")
    reason = missing()
    if reason is not None:
        print(f"bench/chip.py: {reason}", file=sys.stderr)
        return 1
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with private_pcscd(readers=1) as pcscd:
        os.environ.update(pcscd.env)  # before this process's first PC/SC call: libpcsclite reads it once
        reader = pcscd.readers[0]
        runs = [one_run(args.cards, args.chunk, reader.pcsc_name, reader.field_url) for _ in range(args.runs)]
    figures = {
        key: {"p50": median([median(r[key]) for r in runs]), "p99": median([percentile(r[key], 99) for r in runs])}
        for key in ("wait", "chip", "total")
    }
    result = {
        "benchmark": "chip",
        "cards": args.cards,
        "runs": args.runs,
        "chunk_bytes": args.chunk,
        "payload_bytes": len(PAYLOAD),
        "ms": figures,
        "note": "wait = Sic to card present (pcscd polls the slot); chip = connect, UID, select, write and read "
        "back 4 KiB, disconnect; medians over the runs of each run's p50 and p99",
        "environment": environment(),
    }
    if not args.json:
        out = console()
        table = run_table(
            f"Chip stage over pcscd + vpcd, {args.cards} cards, 4 KiB in {args.chunk}-byte APDUs", args.runs
        )
        for key, label in (("wait", "wait for the card"), ("chip", "connect to disconnect"), ("total", "total")):
            for q, pick in (("p50", median), ("p99", lambda v: percentile(v, 99))):
                table.add_row(f"{label} {q} (ms)", f"{figures[key][q]:.1f}", *(f"{pick(r[key]):.1f}" for r in runs))
        out.print(table)
    print_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
