"""Helpers shared by the benchmarks: percentiles, a synthetic card face, the environment, table and JSON output."""

from __future__ import annotations

import io
import json
import math
import os
import platform
import sqlite3
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.table import Table

CARD_SIZE = (1016, 648)  # ID-1 landscape at 300 dpi, the layout the Evolis driver prints


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def synthetic_card_png(label: str, *, size: tuple[int, int] = CARD_SIZE, colour: bool = True) -> bytes:
    """A card face that carries no personal data at all: boxes, bars and the words BENCHMARK CARD."""
    image = Image.new("RGB", size, (200, 225, 245) if colour else "white")
    draw = ImageDraw.Draw(image)
    width = size[0]
    scale = width / CARD_SIZE[0]
    font = ImageFont.load_default(size=max(8, round(34 * scale)))
    draw.rectangle((0, 0, width, round(70 * scale)), fill=(30, 90, 160) if colour else "black")
    draw.text(
        (round(30 * scale), round(100 * scale)), "BENCHMARK CARD - NOT AN IDENTITY DOCUMENT", font=font, fill="black"
    )
    draw.text((round(30 * scale), round(170 * scale)), label, font=font, fill="black")
    draw.rectangle(
        (round(760 * scale), round(110 * scale), round(970 * scale), round(390 * scale)),
        fill=(150, 150, 150) if colour else "white",
        outline="black",
        width=max(1, round(4 * scale)),
    )
    for i in range(60):
        if (i * 7919 + len(label)) % 3:
            x = round((30 + i * 9) * scale)
            draw.rectangle((x, round(560 * scale), x + max(1, round(4 * scale)), round(620 * scale)), fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def filesystem_of(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), e.g. ext4 or tmpfs; '?' if unknown."""
    target = str(path.resolve())
    best, kind = "", "?"
    try:
        lines = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return kind
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, fields[2]
    return kind


def environment() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def print_json(payload: dict[str, object]) -> None:
    """The one machine-readable line a benchmark ends with."""
    sys.stdout.write(json.dumps(payload, sort_keys=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def run_table(title: str, runs: int) -> Table:
    """A table with a metric column, the median over the runs, then one column per run."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("median", justify="right", style="bold")
    for n in range(runs):
        table.add_column(f"run {n + 1}", justify="right")
    return table


def console() -> Console:
    return Console(highlight=False)
