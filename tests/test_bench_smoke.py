"""Smoke test of the benchmarks in bench/: they run at tiny sizes, exit 0 and end with their JSON line.

Not a timed test: the figures are not checked, only that the benchmarks work and report what they promise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import require_postgres

ROOT = Path(__file__).resolve().parent.parent


def run_bench(
    script: str, *args: str, tmp_path: Path | None = None, timeout: float = 120, one_line: bool = False
) -> dict[str, Any]:
    """Run ``bench/SCRIPT`` and return its JSON figures (its last line; the only line with ``one_line``)."""
    where = ["--dir", str(tmp_path)] if tmp_path is not None else []
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, *where],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    assert not one_line or len(lines) == 1, f"{script} --json printed {len(lines)} lines"
    payload = json.loads(lines[-1])
    assert isinstance(payload, dict)
    return payload


def test_dispatch_benchmark_runs(short_tmp_path: Path) -> None:
    result = run_bench("dispatch.py", "--jobs", "50", "--runs", "1", tmp_path=short_tmp_path)
    assert result["benchmark"] == "dispatch"
    assert result["jobs"] == 50
    assert result["verified"] is True
    assert result["problems"] == []
    assert result["durability"] == {"journal_mode": "wal", "synchronous": "FULL"}
    for key in ("cards_per_second", "target_ms", "target_met", "per_run"):
        assert key in result
    assert set(result["overhead_ms"]) >= {"p50", "p90", "p99"}
    assert set(result["split_p50_ms"]) == {"claim", "settle", "other"}
    assert isinstance(result["cards_per_second"], float) and result["cards_per_second"] > 0


def test_intake_benchmark_runs(short_tmp_path: Path) -> None:
    result = run_bench("intake.py", "--jobs", "50", "--runs", "1", tmp_path=short_tmp_path)
    assert result["benchmark"] == "intake"
    assert result["verified"] is True
    rates = result["jobs_per_second"]
    assert set(rates) == {"single", "batch100", "batch500"}
    assert all(isinstance(v, float) and v > 0 for v in rates.values())
    assert set(result["ratio"]) == {"batch100_vs_single", "batch500_vs_single"}


@pytest.mark.parametrize("script", ["dispatch.py", "intake.py"])
def test_json_only_prints_one_line(script: str, short_tmp_path: Path) -> None:
    run_bench(script, "--jobs", "5", "--runs", "1", "--json", tmp_path=short_tmp_path, one_line=True)


def test_reports_benchmark_runs(short_tmp_path: Path) -> None:
    result = run_bench("reports.py", "--events", "20000", "--runs", "1", tmp_path=short_tmp_path)
    assert result["benchmark"] == "reports" and result["events"] >= 19_000
    assert set(result["ms"]) == {"daily", "monthly", "forecast", "berita_acara_10000"}
    assert result["berita_acara_blanks"] > 0


@pytest.mark.slow
def test_stations_benchmark_runs(short_tmp_path: Path) -> None:
    require_postgres()
    result = run_bench("stations.py", "--quick", "--json", tmp_path=short_tmp_path, timeout=300)
    assert result["benchmark"] == "stations" and result["verified"] is True and result["problems"] == []
    assert result["stations"] == [1, 2]
    runs = {(run["engine"], run["stations"]): run for run in result["runs"]}
    assert set(runs) == {("sqlite", 1), ("postgresql", 1), ("postgresql", 2)}
    for run in runs.values():
        assert run["cards"] == run["jobs"] == result["jobs"] and run["double_claims"] == 0
        assert run["cards_per_second"] > 0 and run["claim_ms"]["n"] > 0
        assert sum(run["cards_by_station"].values()) == run["cards"]
    assert [only["stations"] for only in result["store_only"]] == [1, 2]
    assert all(only["cards"] == only["jobs"] and only["double_claims"] == 0 for only in result["store_only"])
    status = result["status_queued"]
    assert status["queued"] == 2000 and status["status_idle_ms"]["n"] == status["status_printing_ms"]["n"] == 20
    assert set(result["goals"]) == {"cards_per_second_most_vs_one", "claim_p99_ms", "double_claims", "status_p99_ms"}
    assert list(short_tmp_path.iterdir()) == []


def test_panels_benchmark_counts_wire_bytes_with_and_without_compression() -> None:
    result = run_bench("panels.py", "--cards", "2", "--runs", "1", "--wire-cards", "1", "--json", one_line=True)
    assert {(row["face"], row["ribbon"]) for row in result["wire"]} == {
        (face, ribbon) for face in ("text card", "photo ID") for ribbon in ("ymcko", "kb")
    }
    for row in result["wire"]:
        assert row["db"]["bytes"] > 0 and row["dbc"]["bytes"] > 0 and row["dbc"]["compress_cpu_ms"] >= 0
        assert row["db"]["line_seconds"] == row["db"]["bytes"] * 10 / 115200
    ymcko = next(row for row in result["wire"] if row["ribbon"] == "ymcko")
    assert ymcko["dbc"]["bytes"] < ymcko["db"]["bytes"]  # the O panels alone shrink to a byte a line


def test_chip_benchmark_times_the_pcsc_encoder_over_a_real_pcscd() -> None:
    from tests.pcscd import require_pcscd

    require_pcscd()
    result = run_bench("chip.py", "--cards", "3", "--runs", "1", "--json", one_line=True)
    assert result["cards"] == 3 and result["payload_bytes"] == 4096
    ms = result["ms"]
    assert 0 < ms["chip"]["p50"] <= ms["total"]["p50"] and ms["wait"]["p50"] >= 0
