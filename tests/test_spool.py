"""The spool directory: atomic job files taken, moved to done/ or rejected/ with a reason."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import time
from pathlib import Path

import pytest

from printd.control.methods import Dispatcher
from printd.jobs import JobEvent
from printd.spool import SUBMIT_METHOD, SUBMIT_ROLE, SpoolWatcher
from printd.station import Station
from printd.store import SqliteStore

STAFF = 65534  # the user standing in for a member of staff: an operator by staff_roles()


def give_files_to_staff_or_skip() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("this test gives a job file to another user: CI must run it as root")
        pytest.skip("giving a job file to another user needs root (CI runs this as root)")


def staff_roles() -> dict[str, list[str]]:
    """A roles table that makes user STAFF an operator by its primary group."""
    return {"operator": [grp.getgrgid(pwd.getpwuid(STAFF).pw_gid).gr_name]}


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


def test_a_big_spool_file_is_validated_as_a_big_batch_its_problems_in_line_order(
    tmp_path: Path, store: SqliteStore, png: bytes
) -> None:
    """100 lines: validated in the helper process as a socket batch is, every problem named by its line, in order."""
    spool = tmp_path / "spool"
    watcher = SpoolWatcher(store, spool, lambda: None)
    (spool / "face.png").write_bytes(png)
    lines = [json.dumps({"ref": f"B-{n}", "front": "face.png", "holder": "SECRET NAME"}) for n in range(100)]
    lines[9] = json.dumps({"ref": "B-9", "front": "missing.png", "holder": "SECRET NAME"})
    lines[49] = "{not json"
    lines[89] = json.dumps({"ref": "B-89", "front": "face.png", "priority": "urgent"})
    (spool / "big.jsonl").write_text("\n".join(lines))
    assert [(r.accepted, r.rejected) for r in watcher.scan()] == [(97, 3)]
    report = (spool / "rejected" / "big.jsonl.error.txt").read_text().splitlines()
    assert [line.split(":", 1)[0] for line in report[1:]] == ["line 10", "line 50", "line 90"]
    assert "job.image_missing" in report[1] and "not valid JSON" in report[2] and "SECRET NAME" not in "".join(report)
    assert store.queue_counts()["queued"] == 97
    assert [job.ref for job in store.list_jobs(limit=3)] == ["B-99", "B-98", "B-97"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_kept_job_files_are_the_daemons_alone(tmp_path: Path, store: SqliteStore, png: bytes) -> None:
    spool = tmp_path / "spool"
    watcher = SpoolWatcher(store, spool, roles_config=staff_roles())
    assert (mode(spool), mode(spool / "done"), mode(spool / "rejected")) == (0o1730, 0o700, 0o750)
    (spool / "face.png").write_bytes(png)
    good, bad = spool / "good.json", spool / "bad.jsonl"
    good.write_text(json.dumps({"ref": "P-1", "front": "face.png", "holder": "SITI NURHALIZA"}))
    bad.write_text(json.dumps({"ref": "P-2", "front": "nope.png", "chip": "NIK 3171234567890123"}) + "\n")
    for path in (good, bad):
        path.chmod(0o644)
        if os.geteuid() == 0:  # as a member of staff would have written them
            os.chown(path, STAFF, STAFF)
    watcher.scan()
    kept, rejected = spool / "done" / "good.json", spool / "rejected" / "bad.jsonl"
    report = spool / "rejected" / "bad.jsonl.error.txt"
    assert (mode(kept), mode(rejected), mode(report)) == (0o600, 0o600, 0o640)
    assert {kept.stat().st_uid, rejected.stat().st_uid, report.stat().st_uid} == {os.geteuid()}
    assert "SITI NURHALIZA" in kept.read_text() and "3171234567890123" not in report.read_text()
    expected_actor = pwd.getpwuid(STAFF).pw_name if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert store.job_history(store.get_job("P-1").id)[0]["actor"] == expected_actor


def test_existing_directories_are_made_private(tmp_path: Path, store: SqliteStore) -> None:
    spool = tmp_path / "spool"
    for sub in ("done", "rejected"):
        (spool / sub).mkdir(parents=True)
        (spool / sub).chmod(0o2777)
    SpoolWatcher(store, spool)
    assert (mode(spool / "done"), mode(spool / "rejected")) == (0o700, 0o750)


def test_links_and_pipes_are_never_followed(tmp_path: Path, store: SqliteStore, png: bytes) -> None:
    spool = tmp_path / "spool"
    watcher = SpoolWatcher(store, spool)
    secret = tmp_path / "elsewhere.json"
    (tmp_path / "face.png").write_bytes(png)
    secret.write_text(json.dumps({"ref": "L-1", "front": str(tmp_path / "face.png")}))
    (spool / "link.json").symlink_to(secret)
    os.mkfifo(spool / "pipe.jsonl")
    results = {r.name: (r.accepted, r.rejected) for r in watcher.scan()}  # returns: a pipe does not block it
    assert results == {"link.json": (0, 1), "pipe.jsonl": (0, 1)}
    assert (spool / "rejected" / "link.json").is_symlink() and secret.exists()
    assert stat.S_ISFIFO((spool / "rejected" / "pipe.jsonl").lstat().st_mode)
    assert "cannot read the file" in (spool / "rejected" / "link.json.error.txt").read_text()
    assert store.queue_counts()["queued"] == 0


def test_purge_after_retention(tmp_path: Path, store: SqliteStore, png: bytes) -> None:
    spool = tmp_path / "spool"
    watcher = SpoolWatcher(store, spool)
    for image in ("shared.png", "solo.png", "later.png"):
        (spool / image).write_bytes(png)
    (tmp_path / "outside.png").write_bytes(b"not an image")
    (spool / "ended.jsonl").write_text(
        json.dumps({"ref": "E-1", "front": "shared.png", "holder": "A"})
        + "\n"
        + json.dumps({"ref": "E-2", "front": "solo.png", "back": "solo.png"})
    )
    (spool / "waiting.json").write_text(json.dumps({"ref": "W-1", "front": "shared.png"}))
    (spool / "refused.json").write_text(json.dumps({"ref": "R-1", "front": "../outside.png", "holder": "B"}))
    assert [(r.name, r.accepted, r.rejected) for r in watcher.scan()] == [
        ("ended.jsonl", 2, 0),
        ("refused.json", 0, 1),
        ("waiting.json", 1, 0),
    ]
    store.transition("E-1", JobEvent.CANCEL, "t")
    before_end = time.time()
    assert watcher.purge(before_end - 3600) == 0  # nothing has been kept that long
    assert (spool / "done" / "ended.jsonl").exists()
    store.transition("E-2", JobEvent.CANCEL, "t")
    assert watcher.purge(before_end) == 1  # only the rejected copy: E-2 ended after the cutoff
    assert not (spool / "rejected" / "refused.json").exists()
    assert not (spool / "rejected" / "refused.json.error.txt").exists()
    assert (tmp_path / "outside.png").exists()  # only images in the spool itself are printd's to delete
    assert (spool / "done" / "ended.jsonl").exists()
    cutoff = time.time() + 1
    (spool / "later.png").touch()
    os.utime(spool / "later.png", (cutoff + 60, cutoff + 60))  # placed after the cutoff: kept
    assert watcher.purge(cutoff) == 1
    assert not (spool / "done" / "ended.jsonl").exists()
    assert (spool / "done" / "waiting.json").exists()  # W-1 is still queued
    assert not (spool / "solo.png").exists()
    assert (spool / "shared.png").exists()  # waiting.json still names it
    assert (spool / "later.png").exists()
    store.transition("W-1", JobEvent.CANCEL, "t")
    assert watcher.purge(time.time() + 1) == 1
    assert not (spool / "shared.png").exists()
    assert sorted(p.name for p in spool.rglob("*")) == ["done", "later.png", "rejected"]


def test_a_job_file_may_name_only_images_its_owner_may_read(tmp_path: Path, store: SqliteStore, png: bytes) -> None:
    give_files_to_staff_or_skip()
    spool = tmp_path / "spool"
    watcher = SpoolWatcher(store, spool, roles_config=staff_roles())
    private = spool / "done" / "someone-elses-face.png"  # what printd keeps is its own, mode 0700 directory
    private.write_bytes(png)
    (spool / "mine.png").write_bytes(png)
    (spool / "mine.png").chmod(0o600)
    os.chown(spool / "mine.png", STAFF, STAFF)
    peek, own = spool / "peek.json", spool / "own.json"
    peek.write_text(json.dumps({"ref": "S-1", "front": str(private)}))
    own.write_text(json.dumps({"ref": "S-2", "front": "mine.png"}))  # in the spool, which its owner reached
    for path in (peek, own):
        os.chown(path, STAFF, STAFF)
    results = {r.name: (r.accepted, r.rejected) for r in watcher.scan()}
    assert results == {"peek.json": (0, 1), "own.json": (1, 0)}
    assert "job.image_forbidden" in (spool / "rejected" / "peek.json.error.txt").read_text()
    assert [j.ref for j in store.list_jobs()] == ["S-2"]


def test_the_spool_needs_the_role_the_socket_needs_to_submit(tmp_path: Path, store: SqliteStore) -> None:
    dispatcher = Dispatcher(store, Station(store, []), "spool")
    assert dispatcher.required_role(SUBMIT_METHOD) == SUBMIT_ROLE


def test_a_file_whose_owner_has_no_role_is_rejected_whole(tmp_path: Path, store: SqliteStore, png: bytes) -> None:
    give_files_to_staff_or_skip()
    spool = tmp_path / "spool"
    watcher = SpoolWatcher(store, spool, roles_config={"viewer": staff_roles()["operator"], "operator": ["nosuch"]})
    (spool / "face.png").write_bytes(png)
    job = spool / "batch.jsonl"
    job.write_text(json.dumps({"ref": "V-1", "front": "face.png"}) + "\n" + json.dumps({"ref": "V-2", "front": "x"}))
    os.chown(job, STAFF, STAFF)
    assert [(r.accepted, r.rejected) for r in watcher.scan()] == [(0, 1)]
    report = (spool / "rejected" / "batch.jsonl.error.txt").read_text().splitlines()
    name = pwd.getpwuid(STAFF).pw_name
    assert report[1] == (
        f"auth.forbidden: jobs.submit needs the operator role and {name} has the viewer role; "
        f"ask an administrator to add {name} to group 'nosuch' and log in again."
    )
    assert len(report) == 2 and store.list_jobs() == []
