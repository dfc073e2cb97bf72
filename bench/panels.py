"""Panels: the time the Evolis driver takes to turn a two-sided card (PNG faces) into YMCKO panels, and the bytes a
card puts on the wire with and without compressed K/O panels (Dbc), with their time on a 115200-baud serial line."""

# Wire bytes are counted through the real driver and the simulator's in-process link (a counting wrapper around
# it): every byte print_card writes, status reads included. That link, like a pty, has no baud clock, so the
# serial time is computed: bytes x 10 bits (8N1: a start bit, 8 data bits, a stop bit) / 115200 bit/s.

from __future__ import annotations

import argparse
import io
import logging
import sys
import time
from pathlib import Path

import numpy as np
import structlog
from PIL import Image, ImageDraw, ImageFilter, ImageFont

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.table import Table

from bench.common import console, environment, median, percentile, print_json, run_table, synthetic_card_png
from drivers.base import Card
from drivers.evolis import panels as panel_codec
from drivers.evolis.render import render_card, render_side, ribbon_panels
from drivers.sim import make_sim_printer
from drivers.sim.transport import InProcessTransport

TARGET_MS = 20.0
BAUD = 115200
BITS_PER_BYTE = 10  # 8N1
WIRE_FAST = {"reply_timeout": 5.0, "motion_timeout": 5.0, "quiet_timeout": 0.02, "confirm_delay": 0}


class CountingTransport:
    """The simulator's in-process link, counting the bytes the host writes."""

    def __init__(self, inner: InProcessTransport) -> None:
        self.inner = inner
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.inner.write(data)

    def read(self, timeout: float) -> bytes:
        return self.inner.read(timeout)

    def close(self) -> None:
        self.inner.close()


def photo_face(label: str, seed: int) -> bytes:
    """A photo-like ID face with no personal data: gradients, a shaded portrait area, text, a signature."""
    rng = np.random.default_rng(seed)
    height, width = 648, 1016
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [150 + 80 * x / width, 190 + 50 * y / height, 235 - 60 * (x + y) / (width + height)], axis=2
    ) + rng.normal(0, 6, (height, width, 3))
    # the portrait: a soft-lit oval on a darker backdrop, shaded like a face in a photograph
    cy, cx = 330, 180
    backdrop = (abs(x - cx) < 140) & (abs(y - cy) < 190)
    rgb[backdrop] = rgb[backdrop] * 0.55
    face = ((x - cx) / 95.0) ** 2 + ((y - cy + 30) / 125.0) ** 2 < 1
    light = np.clip(1.1 - ((x - cx + 40) ** 2 + (y - cy) ** 2) / 40000.0, 0.3, 1.1)
    rgb[face] = np.stack([225 * light, 180 * light, 150 * light], axis=2)[face]
    shoulders = ((x - cx) / 150.0) ** 2 + ((y - 560) / 110.0) ** 2 < 1
    rgb[shoulders & backdrop] = [40, 45, 70]
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(1.2))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    draw.text((360, 40), "SPECIMEN - BENCHMARK CARD", font=font, fill="black")
    for row in range(8):
        draw.text((360, 110 + row * 52), f"{label} FIELD {row + 1}: XXXXXXXX {seed:04d}", font=font, fill="black")
    points = [(640 + i * 6, 560 + 25 * np.sin(i / 4.0 + seed) + rng.normal(0, 3)) for i in range(50)]
    draw.line(points, fill="black", width=4)  # a signature
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


FACES = {
    "text card": lambda: Card(front=synthetic_card_png("FRONT SIDE"), back=synthetic_card_png("BACK", colour=False)),
    "photo ID": lambda: Card(front=photo_face("FRONT", 1), back=synthetic_card_png("BACK", colour=False)),
}


def wire(card: Card, ribbon: str, compress: str, cards: int) -> dict[str, float]:
    """Median bytes a two-sided card writes to the printer, its 8N1 line time, and the CPU time to compress its
    K/O panels, through the real driver and the simulator."""
    handle = make_sim_printer(f"wire-{ribbon}-{compress}", cards=cards, seconds_per_card=0, ribbon=ribbon)
    handle.model.model_name = "Dualys"  # a model the programming guide lists for Dbc
    link = CountingTransport(handle.transport)
    from drivers.evolis.driver import EvolisDriver

    driver = EvolisDriver(link, encoder=handle.encoder, ribbon=ribbon, compress_panels=compress, **WIRE_FAST)
    driver.open()
    front, back = render_card(card, ribbon)
    mono = [p.data for p in [*front, *(back or [])] if p.panel in ("k", "o")]
    sizes, cpu = [], []
    for _ in range(cards):
        before = link.written
        result = driver.print_card(card)
        if result.outcome.value != "printed":
            raise RuntimeError(f"a benchmark card was not printed: {result.detail}")
        sizes.append(link.written - before)
        start = time.process_time()
        if compress == "always":
            for data in mono:
                panel_codec.compress_mono(data)
        cpu.append((time.process_time() - start) * 1000)
    driver.close()
    size = median(sizes)
    figures = {"bytes": size, "line_seconds": size * BITS_PER_BYTE / BAUD}
    if compress == "always":
        figures["compress_cpu_ms"] = median(cpu)
    return figures


def measure(cards: int, ribbon: str, levels: int, *, one_thread: bool = False) -> list[float]:
    """Milliseconds per two-sided card, as the driver renders it (the back in a helper thread) or in one thread."""
    card = Card(front=synthetic_card_png("FRONT SIDE"), back=synthetic_card_png("BACK SIDE", colour=False))
    front_names, back_names = ribbon_panels(ribbon)
    render_card(card, ribbon, levels)  # warm up imports, numpy and the helper thread
    times = []
    for _ in range(cards):
        start = time.perf_counter()
        if one_thread:
            render_side(card.front, front_names, levels)
            render_side(card.back or b"", back_names, levels)
        else:
            render_card(card, ribbon, levels)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/panels.py", description=__doc__)
    parser.add_argument("--cards", type=int, default=200, help="two-sided cards per run (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; figures are medians (default 3)")
    parser.add_argument("--ribbon", default="ymcko", help="ribbon type (default ymcko: YMCKO on both sides)")
    parser.add_argument("--levels", type=int, default=32, choices=[32, 64, 128], help="colour levels (default 32)")
    parser.add_argument("--wire-cards", type=int, default=5, help="cards per wire measurement (default 5)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # the driver's info
    wires = []
    for face_name, make_card in FACES.items():
        card = make_card()
        for ribbon in ("ymcko", "kb"):
            row: dict[str, object] = {"face": face_name, "ribbon": ribbon}
            for compress, key in (("never", "db"), ("always", "dbc")):
                row[key] = wire(card, ribbon, compress, args.wire_cards)
            wires.append(row)
    runs = [measure(args.cards, args.ribbon, args.levels) for _ in range(args.runs)]
    p50s = [median(r) for r in runs]
    p99s = [percentile(r, 99) for r in runs]
    single = [median(measure(args.cards, args.ribbon, args.levels, one_thread=True)) for _ in range(args.runs)]
    result = {
        "benchmark": "panels",
        "ribbon": args.ribbon,
        "levels": args.levels,
        "cards": args.cards,
        "runs": args.runs,
        "two_sided_ms": {"p50": median(p50s), "p99": median(p99s), "one_thread_p50": median(single)},
        "target_ms": TARGET_MS,
        "target_met": median(p50s) <= TARGET_MS,
        "wire": wires,
        "wire_note": "bytes written by print_card (status reads included), two-sided, medians; line time computed "
        f"as bytes x {BITS_PER_BYTE} / {BAUD} (8N1; the in-process link has no baud clock)",
        "environment": environment(),
    }
    if not args.json:
        out = console()
        table = run_table(f"Panels of a two-sided {args.ribbon} card at {args.levels} levels", args.runs)
        table.add_row("p50 (ms)", f"{median(p50s):.2f}", *(f"{v:.2f}" for v in p50s))
        table.add_row("p99 (ms)", f"{median(p99s):.2f}", *(f"{v:.2f}" for v in p99s))
        table.add_row("p50, both sides in one thread (ms)", f"{median(single):.2f}", *(f"{v:.2f}" for v in single))
        out.print(table)
        wire_table = Table(title=f"Wire bytes per two-sided card, Db vs Dbc (K/O compressed), {BAUD} baud 8N1")
        for column in ("face", "ribbon", "Db bytes", "Dbc bytes", "saved", "Db line s", "Dbc line s", "Dbc CPU ms"):
            wire_table.add_column(column, justify="left" if column in ("face", "ribbon") else "right")
        for row in wires:
            db, dbc = row["db"], row["dbc"]
            assert isinstance(db, dict) and isinstance(dbc, dict)
            wire_table.add_row(
                str(row["face"]),
                str(row["ribbon"]),
                f"{db['bytes']:,.0f}",
                f"{dbc['bytes']:,.0f}",
                f"{1 - dbc['bytes'] / db['bytes']:.0%}",
                f"{db['line_seconds']:.2f}",
                f"{dbc['line_seconds']:.2f}",
                f"{dbc['compress_cpu_ms']:.2f}",
            )
        out.print(wire_table)
        out.print(str(result["wire_note"]))
        verdict = "MET" if result["target_met"] else "MISSED"
        out.print(f"Target: two-sided YMCKO panels in <= {TARGET_MS:.0f} ms: {verdict} ({median(p50s):.2f} ms)")
    print_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
