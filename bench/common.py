"""Helpers shared by the benchmarks: percentiles, a synthetic card face, a deep queue inserted in bulk, the
environment, table and JSON output."""

from __future__ import annotations

import io
import json
import math
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.table import Table

from printd.jobs import Priority
from printd.store import JobContent, NewJob
from printd.store.engines import is_postgres

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


BULK_CHUNK = 100_000


def bulk_queue(
    database: str | Path,
    count: int,
    face: bytes,
    *,
    station: str = "bench",
    priority: Priority = Priority.NORMAL,
    prefix: str = "queued-",
) -> None:
    """``count`` queued jobs in a migrated store (a PostgreSQL URL or a SQLite file, no daemon on it), inserted as the
    store inserts one (a row in jobs, job_content and job_events, and the kept queue count moved by as much, under
    ``station``), in transactions of BULK_CHUNK jobs; references PREFIX + a 7-digit number from 1. PostgreSQL's
    tables are then VACUUM ANALYZEd as autovacuum would; SQLite's are left as printd leaves them."""
    digest = NewJob("x", priority, JobContent(front=face)).digest
    if is_postgres(database):
        _bulk_queue_postgres(str(database), count, face, digest, station, priority, prefix)
        return
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        for first in range(1, count + 1, BULK_CHUNK):
            last = min(count, first + BULK_CHUNK - 1)
            span = (f"{prefix}{first:07d}", f"{prefix}{last:07d}")
            now = time.time()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "WITH RECURSIVE g(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM g WHERE n < ?)"
                " INSERT INTO jobs (ref, digest, priority, state, created_at, updated_at)"
                " SELECT ? || printf('%07d', n), ?, ?, 'queued', ?, ? FROM g",
                (first, last, prefix, digest, int(priority), now, now),
            )
            conn.execute(
                "INSERT INTO job_content (job_id, front) SELECT id, ? FROM jobs WHERE ref BETWEEN ? AND ?",
                (face, *span),
            )
            conn.execute(
                "INSERT INTO job_events (job_id, at, event, from_state, to_state, actor, detail)"
                " SELECT id, ?, 'submit', NULL, 'queued', 'bench', '' FROM jobs WHERE ref BETWEEN ? AND ?",
                (now, *span),
            )
            conn.execute(
                "INSERT INTO queue_counts (station, state, priority, count) VALUES (?, 'queued', ?, ?)"
                " ON CONFLICT (station, state, priority) DO UPDATE SET count = queue_counts.count + excluded.count",
                (station, int(priority), last - first + 1),
            )
            conn.execute("COMMIT")
    finally:
        conn.close()


def _bulk_queue_postgres(
    url: str, count: int, face: bytes, digest: str, station: str, priority: Priority, prefix: str
) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for first in range(1, count + 1, BULK_CHUNK):
            last = min(count, first + BULK_CHUNK - 1)
            now = time.time()
            with conn.transaction():
                conn.execute(
                    "INSERT INTO jobs (ref, digest, priority, state, created_at, updated_at)"
                    " SELECT %s || lpad(g::text, 7, '0'), %s, %s, 'queued', %s, %s"
                    " FROM generate_series(%s::bigint, %s::bigint) g",
                    (prefix, digest, int(priority), now, now, first, last),
                )
                conn.execute(
                    "CREATE TEMPORARY TABLE chunk ON COMMIT DROP AS SELECT id FROM jobs WHERE ref >= %s AND ref <= %s",
                    (f"{prefix}{first:07d}", f"{prefix}{last:07d}"),
                )
                conn.execute("INSERT INTO job_content (job_id, front) SELECT id, %s FROM chunk", (face,))
                conn.execute(
                    "INSERT INTO job_events (job_id, at, event, from_state, to_state, actor, detail)"
                    " SELECT id, %s, 'submit', NULL, 'queued', 'bench', '' FROM chunk",
                    (now,),
                )
                conn.execute(
                    "INSERT INTO queue_counts (station, state, priority, count) VALUES (%s, 'queued', %s, %s)"
                    " ON CONFLICT (station, state, priority) DO UPDATE SET count = queue_counts.count + excluded.count",
                    (station, int(priority), last - first + 1),
                )
        for table in ("jobs", "job_content", "job_events", "queue_counts"):
            conn.execute(f"VACUUM ANALYZE {table}")


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
