"""The SIGKILL campaign: 300 cards, printd killed at least 50 times in every phase of a card and restarted, then
every blank checked against the simulator's physical truth (tests/kill_campaign.py; the long run is
bench/crash_campaign.py --kills 1000)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.kill_campaign import REQUIRED_PHASES, Campaign, CampaignSettings

ROOT = Path(__file__).resolve().parent.parent


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


def test_the_bench_runs_a_small_campaign_and_reports_its_counts(tmp_path: Path) -> None:
    bench = str(ROOT / "bench" / "crash_campaign.py")
    proc = subprocess.run(
        [sys.executable, bench, "--kills", "3", "--cards", "8", "--json", "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    [line] = proc.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["benchmark"] == "crash_campaign" and result["verified"] is True and result["problems"] == []
    assert result["kills"] == 3 and result["unaccounted"] == 0 and result["jobs_done"] == 8
    assert set(result["phases"]) >= set(REQUIRED_PHASES)
    assert list(tmp_path.iterdir()) == []  # the campaign's files went with it
