"""Chip stage over a real pcscd + vpcd through printd's PC/SC encoder: wait for the card after Sic, connect, UID,
4 KiB written and read back by an APDU script, disconnect."""

# Each card: the simulated printer parks a blank at the contactless station (Sic: the card connects to a vpcd
# reader in a private pcscd); printd's PcscEncoder (drivers/encoders/pcsc.py, the code a real printer runs) waits
# for the card, connects, reads the UID (FF CA 00 00 00) and runs the job's APDU script: SELECT the application
# and its EF, 4 KiB in UPDATE BINARY chunks, READ BINARY chunks each checked against what was written; then the
# printer rejects the card (Ser; no panels: only the chip stage is timed). "wait" (Sic answered to card present)
# is pcscd's polling of the vpcd slot (0.4 s); "chip" is the rest of encode().

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
from drivers.encoders.pcsc import PcscEncoder, PcscSettings
from drivers.encoders.pcsc_link import PcscLink
from drivers.sim import make_sim_printer
from tests.chip_scripts import CHUNK, payload, write_and_verify
from tests.pcscd import missing, private_pcscd

RECORD = bytes((i * 131 + 7) % 256 for i in range(4096))


class _TimedLink(PcscLink):
    """The encoder's own PC/SC link, noting when the card was first seen present."""

    present_at: float | None = None

    def wait_present(self, reader: str, timeout: float) -> bool:
        present = super().wait_present(reader, timeout)
        if present and self.present_at is None:
            self.present_at = time.perf_counter()
        return present


def one_run(cards: int, reader_name: str, field_url: str, script: bytes) -> dict[str, list[float]]:
    """Milliseconds per card: wait (Sic answered to present), chip (the rest of encode), total (encode)."""
    handle = make_sim_printer("bench-chip", cards=cards, seconds_per_card=0, field=field_url)
    link = _TimedLink()
    encoder = PcscEncoder(PcscSettings(reader_name, card_timeout=5.0), link=link)
    encoder.check()
    times: dict[str, list[float]] = {"wait": [], "chip": [], "total": []}
    try:
        for _ in range(cards):
            if handle.printer.receive(b"\x1bSic\r") != b"OK\r":
                raise RuntimeError("the simulated printer refused Sic")
            link.present_at = None
            start = time.perf_counter()
            uid = encoder.encode(script)
            done = time.perf_counter()
            card = handle.model.card
            if card is None or uid != card.chip_uid or bytes(card.chip[: len(RECORD)]) != RECORD:
                raise RuntimeError("the chip in the field is not the one encoded")
            present = link.present_at if link.present_at is not None else start
            times["wait"].append((present - start) * 1000)
            times["chip"].append((done - present) * 1000)
            times["total"].append((done - start) * 1000)
            if handle.printer.receive(b"\x1bSer\r") != b"OK\r":
                raise RuntimeError("the simulated printer refused Ser")
    finally:
        encoder.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/chip.py", description=__doc__)
    parser.add_argument("--cards", type=int, default=50, help="cards per run (default 50)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; figures are medians (default 3)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    reason = missing()
    if reason is not None:
        print(f"bench/chip.py: {reason}", file=sys.stderr)
        return 1
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with private_pcscd(readers=1) as pcscd:
        os.environ.update(pcscd.env)  # before this process's first PC/SC call: libpcsclite reads it once
        reader = pcscd.readers[0]
        script = payload(write_and_verify(RECORD))
        runs = [one_run(args.cards, reader.pcsc_name, reader.field_url, script) for _ in range(args.runs)]
    figures = {
        key: {"p50": median([median(r[key]) for r in runs]), "p99": median([percentile(r[key], 99) for r in runs])}
        for key in ("wait", "chip", "total")
    }
    result = {
        "benchmark": "chip",
        "cards": args.cards,
        "runs": args.runs,
        "chunk_bytes": CHUNK,
        "payload_bytes": len(RECORD),
        "script_steps": len(write_and_verify(RECORD)),
        "ms": figures,
        "note": "PcscEncoder.encode per card: wait = Sic answered to card present (pcscd polls the slot); chip = "
        "connect, UID, select, write and read back 4 KiB, disconnect; medians over the runs of each run's p50 and p99",
        "environment": environment(),
    }
    if not args.json:
        out = console()
        table = run_table(
            f"Chip stage (PcscEncoder) over pcscd + vpcd, {args.cards} cards, 4 KiB in {CHUNK}-byte APDUs", args.runs
        )
        for key, label in (("wait", "wait for the card"), ("chip", "connect to disconnect"), ("total", "total")):
            for q, pick in (("p50", median), ("p99", lambda v: percentile(v, 99))):
                table.add_row(f"{label} {q} (ms)", f"{figures[key][q]:.1f}", *(f"{pick(r[key]):.1f}" for r in runs))
        out.print(table)
    print_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
