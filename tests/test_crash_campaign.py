"""The SIGKILL campaign: 300 cards, printd killed at least 50 times in every phase of a card and restarted, then
every blank checked against the simulator's physical truth (tests/kill_campaign.py; the long run is
bench/crash_campaign.py --kills 1000). And its PostgreSQL form: two stations on one throwaway cluster, their
daemons killed while they print and the server killed, shut down and stopped under them (the long run is
bench/crash_campaign.py --postgres)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.kill_campaign import REQUIRED_PHASES, SERVER_STOPS, STATIONS, Campaign, CampaignSettings
from tests.postgres import require_postgres

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_no_blank_is_unaccounted_whatever_moment_printd_is_killed(tmp_path: Path) -> None:
    settings = CampaignSettings(cards=300, kills=50, seed=7)
    report = Campaign(tmp_path, settings).run()
    print(report.summary())  # the counts, shown with -s or when the test fails

    assert report.problems == []
    assert len(report.kills) >= 50
    missed = [phase for phase in REQUIRED_PHASES if report.phases[phase] == 0]
    assert missed == [], f"no kill landed in {missed}: {report.phases}"
    assert report.unaccounted == 0
    assert report.jobs_done == 300 == report.issued == report.in_hopper
    assert report.spoiled == report.in_reject_box and report.cards_fed == report.issued + report.spoiled
    assert report.in_doubt == sum(report.resolved.values())  # every in-doubt blank resolved from the truth
    assert report.settled_not_fed > 0 and report.settled_spoiled > 0  # both automatic settlements happened


def campaign_bench(*argv: str, tmp_path: Path, timeout: float) -> dict[str, Any]:
    """bench/crash_campaign.py run with ``argv`` and --json, its files in ``tmp_path``: its one JSON line."""
    bench = str(ROOT / "bench" / "crash_campaign.py")
    proc = subprocess.run(
        [sys.executable, bench, *argv, "--json", "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    [line] = proc.stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(line)
    return result


def test_the_bench_runs_a_small_campaign_and_reports_its_counts(tmp_path: Path) -> None:
    result = campaign_bench("--kills", "3", "--cards", "8", tmp_path=tmp_path, timeout=120)
    assert result["benchmark"] == "crash_campaign" and result["verified"] is True and result["problems"] == []
    assert result["kills"] == 3 and result["unaccounted"] == 0 and result["jobs_done"] == 8
    assert set(result["phases"]) >= set(REQUIRED_PHASES)
    assert list(tmp_path.iterdir()) == []  # the campaign's files went with it


@pytest.mark.slow
def test_stations_on_postgresql_lose_no_blank_when_their_daemons_and_the_server_are_killed(tmp_path: Path) -> None:
    require_postgres()
    argv = ["--postgres", "--kills", "6", "--server-restarts", "3", "--cards", "240", "--seconds-per-card", "0.1"]
    result = campaign_bench(*argv, "--seed", "3", tmp_path=tmp_path, timeout=300)
    print(result)  # the counts, shown with -s or when the test fails

    assert result["engine"] == "postgresql" and result["verified"] is True and result["problems"] == []
    assert result["kills"] >= 6 and set(result["kills_by_station"]) == set(STATIONS)
    assert result["server_restarts"] == dict.fromkeys(SERVER_STOPS, 1)  # killed, shut down at once, stopped
    assert result["unaccounted"] == 0
    assert result["jobs_done"] == 240 == result["issued"] == result["in_hopper"]
    assert result["spoiled"] == result["in_reject_box"] and result["cards_fed"] == result["issued"] + result["spoiled"]
    assert result["in_doubt"] == sum(result["resolved"].values())  # every in-doubt blank resolved from the truth
    assert sum(result["phases"].values()) >= result["kills"]  # each printer of a killed station classified
    assert list(tmp_path.iterdir()) == []
