"""Reports over a year of ledger: the daily and monthly report, the forecast and a berita acara of 10,000 blanks.

A store is filled with a year of an office's events (about 1,000,000: deliveries, cards issued and spoiled, cards in
doubt and their resolutions), booked straight into a real SQLite store in one transaction, its kept totals folded
from them. Each report is then read through the same code the daemon's methods run, medians over --runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import console, environment, median, print_json, run_table
from printd.control.report_methods import ReportMethods
from printd.ledger import Balance, LedgerEntry, LedgerKind, Resolution
from printd.reports import reading
from printd.reports.settings import ReportSettings
from printd.store import SqliteStore, ledger_reads
from printd.store.records import Handover, Person

ZONE = ZoneInfo("Asia/Makassar")
TARGETS_MS = {"daily": 200.0, "monthly": 1000.0, "forecast": 50.0, "berita_acara_10000": 5000.0}
CATEGORIES = ("print_failed", "encode_failed", "damaged", "data_changed")


def fill(store: SqliteStore, events: int, year: int, seed: int = 1) -> int:
    """About ``events`` ledger events over ``year``'s working days; returns how many were booked."""
    rng = random.Random(seed)
    days = [dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    working = [d for d in days if d.weekday() < 5]
    per_day = events // len(working)
    rows: list[tuple[object, ...]] = []
    for day in working:
        opens = dt.datetime.combine(day, dt.time(8), ZONE).timestamp()
        if (day.day <= 7 and day.weekday() == 0) or not rows:  # a delivery in the first week of each month
            rows.append((opens - 600, "received", per_day * 25, None, 0, None, f"DO-{day.isoformat()}", "kepala"))
        for n in range(per_day):
            at = opens + n * (8 * 3600 / per_day)
            roll = rng.random()
            if roll < 0.017:
                rows.append((at, "spoiled", 1, None, 0, rng.choice(CATEGORIES), None, "printd"))
            elif roll < 0.019:
                rows.append((at, "in_doubt", 1, None, 0, None, None, "printd"))
                rows.append((at + 60, "resolved", 1, "issued", 0, None, None, "rina"))
            else:
                rows.append((at, "issued", 1, None, 0, None, None, "printd"))
    with store._write() as db:  # the bench fills the file directly: a year of fsyncs would take hours
        db.executemany(
            "INSERT INTO ledger (at, kind, count, resolution, from_issued, station, printer, category, reference,"
            " actor, chip_uid) VALUES (?, ?, ?, ?, ?, 'mataram-1', 'loket-1', ?, ?, ?, printf('04%08X', random()))",
            rows,
        )
        db.execute(ledger_reads.FILL_QUARTERS)
        balance = Balance.fold(
            LedgerEntry(LedgerKind(r[1]), int(r[2]), Resolution(r[3]) if r[3] else None)
            for r in rows  # type: ignore[arg-type]
        )
        for place, count in balance.as_dict().items():
            db.execute(
                "INSERT OR REPLACE INTO stock_totals (station, place, count) VALUES ('mataram-1', ?, ?)", (place, count)
            )
    return len(rows)


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/reports.py", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="ledger events over the year (default 1e6)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; figures are medians (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary database goes")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    year = 2026
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        store = SqliteStore(Path(tmp) / "printd.db", station="mataram-1")
        start = time.perf_counter()
        booked = fill(store, args.events, year)
        filled_s = time.perf_counter() - start
        settings = ReportSettings(zone=ZONE)
        methods = ReportMethods(store, "mataram-1", lambda: settings)
        day, month = dt.date(year, 11, 18), (year, 11)
        figures = {
            "daily": timed(lambda: reading.stock_between(store, day, day, ZONE), args.runs),
            "monthly": timed(lambda: reading.monthly(store, *month, ZONE), args.runs),
            "forecast": timed(methods.current_forecast, args.runs),
        }
        spoils = store.pending_spoils()
        taken = min(10_000, len(spoils))
        through = spoils[taken - 1].spoiled_at + 0.001  # the oldest 10,000 (fewer in a small run)
        store.close()
        figures["berita_acara_10000"] = [_berita_acara(Path(tmp), through, n, taken) for n in range(args.runs)]
    result = {
        "benchmark": "reports",
        "events": booked,
        "berita_acara_blanks": taken,
        "fill_seconds": round(filled_s, 1),
        "ms": {name: round(median(times), 2) for name, times in figures.items()},
        "targets_ms": TARGETS_MS,
        "met": {name: median(times) <= TARGETS_MS[name] for name, times in figures.items()},
        "environment": environment(),
    }
    if not args.json:
        out = console()
        table = run_table(f"Reports over {booked:,} ledger events (one year)", args.runs)
        for name, times in figures.items():
            table.add_row(
                f"{name} (ms; target {TARGETS_MS[name]:,.0f})", f"{median(times):,.1f}", *(f"{t:,.1f}" for t in times)
            )
        out.print(table)
    print_json(result)
    return 0


def _berita_acara(directory: Path, through: float, run: int, taken: int) -> float:
    """Book the oldest 10,000 pending spoiled blanks under one number and write the document: milliseconds. Each
    run works on its own copy of the filled database, so each books the same 10,000."""
    from printd.reports.pdf import berita_acara_pdf

    copy = directory / f"run-{run}.db"
    shutil.copyfile(directory / "printd.db", copy)
    store = SqliteStore(copy, station="mataram-1")
    officer = Person("Kepala Bidang", "198001012005011001", "Penata / III-c", "Kepala Bidang PIAK")
    draft = Handover(f"BA-BENCH-{run}", "destroyed", 0.0, "", "Mataram", None, [officer], [officer], [], "kepala")
    try:
        start = time.perf_counter()
        booked = store.book_handover(draft, through)
        berita_acara_pdf(booked, ReportSettings(zone=ZONE).office, "id")
        elapsed = (time.perf_counter() - start) * 1000
    finally:
        store.close()
        copy.unlink()
    assert len(booked.items) == taken, (len(booked.items), taken)
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
