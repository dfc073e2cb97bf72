"""The spool directory: atomic job files taken, moved to done/ or rejected/ with a reason."""

from __future__ import annotations

import json
from pathlib import Path

from printd.spool import SpoolWatcher
from printd.store import SqliteStore


def test_spool_takes_files_and_reports_rejections(tmp_path: Path, store: SqliteStore, png: bytes) -> None:
    spool = tmp_path / "spool"
    woken = []
    watcher = SpoolWatcher(store, spool, lambda: woken.append(1))
    (spool / "face.png").write_bytes(png)
    (spool / "one.json").write_text(json.dumps({"ref": "S-1", "front": "face.png", "holder": "Ani"}))
    lines = [
        json.dumps({"ref": "S-2", "front": "face.png"}),
        "{not json",
        json.dumps({"ref": "S-3", "front": "missing.png", "holder": "SECRET NAME"}),
        "",
        json.dumps({"ref": "S-4", "front": "face.png", "priority": "walk_in"}),
    ]
    (spool / "batch.jsonl").write_text("\n".join(lines))
    (spool / ".partial.json.tmp").write_text("{")  # still being written: left alone
    (spool / "empty.json").write_text("")
    results = {r.name: (r.accepted, r.rejected) for r in watcher.scan()}
    assert results == {"batch.jsonl": (2, 2), "one.json": (1, 0), "empty.json": (0, 1)}
    assert woken
    assert (spool / "done" / "one.json").exists()
    assert (spool / "rejected" / "batch.jsonl").exists()
    report = (spool / "rejected" / "batch.jsonl.error.txt").read_text()
    assert "line 2: not valid JSON" in report
    assert "line 3: job.image_missing" in report
    assert "SECRET NAME" not in report
    assert (spool / ".partial.json.tmp").exists()
    assert store.queue_counts()["queued"] == 3
    # the same file name again goes beside the first, never over it
    (spool / "one.json").write_text(json.dumps({"ref": "S-1", "front": "face.png", "holder": "Ani"}))
    assert [(r.accepted, r.rejected) for r in watcher.scan()] == [(1, 0)]
    assert (spool / "done" / "one.1.json").exists()
    assert store.queue_counts()["queued"] == 3  # the same ref is the same job
