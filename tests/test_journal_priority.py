"""printd's JSON log lines carry their syslog priority ("<4>{...}") when stdout is systemd's journal stream."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from printd.logging import configure, get_logger


def log_lines(path: Path, journal_stream: str | None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    if journal_stream is None:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    with path.open("w") as out:
        if journal_stream is not None:
            st = os.fstat(out.fileno())
            monkeypatch.setenv("JOURNAL_STREAM", journal_stream.format(dev=st.st_dev, ino=st.st_ino))
        configure("debug", stream=out)
        log = get_logger("printd.test")
        log.debug("a.debug")
        log.info("a.info", printer="loket-1")
        log.warning("a.warning")
        log.error("a.error")
    configure()
    return path.read_text().splitlines()


def test_on_the_journal_stream_each_line_starts_with_its_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = log_lines(tmp_path / "journal", "{dev}:{ino}", monkeypatch)
    assert [line[:4] for line in lines] == ["<7>{", "<6>{", "<4>{", "<3>{"]
    events = [json.loads(line[3:]) for line in lines]
    assert [event["event"] for event in events] == ["a.debug", "a.info", "a.warning", "a.error"]
    assert events[1]["printer"] == "loket-1"


@pytest.mark.parametrize("journal_stream", [None, "{dev}:1", "not-a-stream"])
def test_elsewhere_the_lines_are_plain_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal_stream: str | None
) -> None:
    # no journal, or stdout redirected away from the stream systemd connected (another inode)
    lines = log_lines(tmp_path / "log", journal_stream, monkeypatch)
    assert all(line.startswith("{") for line in lines) and len(lines) == 4
