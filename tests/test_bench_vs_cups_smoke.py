"""Smoke test of bench/vs_cups.py: a tiny run against a private cupsd exits 0 with its one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cupsd import require_cups

ROOT = Path(__file__).resolve().parent.parent
TINY = ("--quick", "--json", "--jobs", "20", "--backlog", "2000", "--runs", "1", "--status-calls", "50")


def run_vs_cups(tmp_path: Path) -> tuple[list[str], dict[str, Any]]:
    require_cups()  # under CI=true a missing cupsd, lpadmin or pycups fails here instead of skipping
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "vs_cups.py"), *TINY, "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, f"vs_cups.py exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    payload = json.loads(lines[-1])
    assert isinstance(payload, dict)
    return lines, payload


@pytest.mark.slow
def test_vs_cups_quick_json(short_tmp_path: Path) -> None:
    lines, result = run_vs_cups(short_tmp_path)
    assert len(lines) == 1, "--json prints only the JSON line"
    assert result["benchmark"] == "vs_cups"
    assert result["verified"] is True, result["problems"]
    assert result["problems"] == []
    assert result["sizes"]["jobs"] == 20
    assert result["sizes"]["backlog"] == 2000

    intake = result["intake"]
    assert set(intake["printd_jobs_per_second"]) == {"single", "batch500", "batch5000"}
    assert set(intake["cups_jobs_per_second"]) == {"printFile", "createJob"}
    assert intake["cups_method"] in intake["cups_jobs_per_second"]
    assert set(intake["ratio"]) == {"single", "batch500", "batch5000"}
    assert all(value > 0 for value in intake["printd_jobs_per_second"].values())
    assert all(value > 0 for value in intake["cups_jobs_per_second"].values())

    dispatch = result["dispatch"]
    for key in ("printd_overhead_p50_ms", "cups_per_job_ms", "cups_backend_ms", "cups_overhead_ms", "ratio"):
        assert isinstance(dispatch[key], float), key
    assert dispatch["cups_per_job_ms"] > dispatch["cups_backend_ms"] > 0

    cups, printd = result["backlog"]["cups"], result["backlog"]["printd"]
    assert cups["accepted"] + cups["refused"] == cups["jobs"]
    assert cups["accepted"] <= 500 < cups["jobs"]  # CUPS's MaxJobs
    assert cups["refusals"] and all({"status", "name", "text", "count"} <= set(r) for r in cups["refusals"])
    assert printd["queued"] == printd["jobs"] == 2000
    for key in ("status_during_intake", "status_after"):
        assert {"calls", "p50_ms", "p99_ms"} <= set(printd[key])
    assert printd["status_after"]["calls"] == 50
    assert printd["vmrss_mb"] > 0 and printd["vmhwm_mb"] >= printd["vmrss_mb"]
    assert printd["database_mb"] > 0

    goals = result["goals"]
    assert set(goals) == {"intake_single", "intake_batch500", "intake_batch5000", "dispatch", "status_p99", "rss"}
    assert all({"figure", "goal", "op", "met"} <= set(goal) for goal in goals.values())
    assert result["goals_met"] == all(goal["met"] for goal in goals.values())
