"""The example configurations in config/ are what `printd check-config` accepts, and the real office's example
keeps to what an administrator needs: absolute paths, and a comment on every key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.test_config import check_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "config").glob("*.toml"))
PRINTERS = {"printd.toml": 2, "station-example.toml": 2, "van-example.toml": 1}


def test_every_example_is_here() -> None:
    assert {path.name for path in EXAMPLES} == set(PRINTERS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_check_config_accepts_each_example(path: Path) -> None:
    proc = check_config(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{path}: ok ({PRINTERS[path.name]} printer(s))"


def test_the_office_example_has_absolute_paths_and_a_comment_on_every_key() -> None:
    path = ROOT / "config" / "station-example.toml"
    config = tomllib.loads(path.read_text())
    station = config["station"]
    for key in ("database", "socket", "spool"):
        assert station[key].startswith("/"), key
    assert config["printer"][1]["server"].startswith("/")
    header_commented = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("["):
            header_commented = "#" in line
        elif re.match(r"^[a-z_]+ = ", line):
            assert "#" in line or header_commented, f"line {number}: {line.split('=')[0].strip()} has no comment"


def test_the_van_shares_the_offices_store() -> None:
    config = tomllib.loads((ROOT / "config" / "van-example.toml").read_text())
    assert config["station"]["database"].startswith("postgresql://")
    assert config["printer"][0]["encoder"].startswith("pcsc://")
