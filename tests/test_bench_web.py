"""Smoke test of bench/web.py: at tiny sizes it runs a real printd and printd-web, measures every page and every live
page, checks the station afterwards and ends with its JSON line. The figures are not checked, only that every page
answered, every change reached every live page and the station checked out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"/", "/jobs", "/jobs?state=queued", "/stock", "/metrics"}


def test_web_benchmark_runs_at_tiny_sizes(short_tmp_path: Path) -> None:
    argv = ["--jobs", "500", "--requests", "3", "--clients", "3", "--seconds", "2", "--settle", "1", "--runs", "1"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "web.py"), *argv, "--dir", str(short_tmp_path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    assert payload["benchmark"] == "web" and payload["jobs"] == 500 and payload["clients"] == 3
    assert payload["verified"] is True and payload["problems"] == []
    assert set(payload["pages_ms"]) == PAGES
    assert all(isinstance(figures["p99"], float) for figures in payload["pages_ms"].values())
    live = payload["live"]
    assert live["cards"] >= 1 and live["printer_changes"] >= 3 and live["missed"] == 0
    assert live["samples"] == 3 * (live["cards"] + live["printer_changes"])
    assert live["rss_mb"]["open"] > 0 and set(live["delay_ms"]) == {"p50", "p99", "max"}
    assert [run["live"]["samples"] for run in payload["per_run"]] == [live["samples"]]
