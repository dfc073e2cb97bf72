"""Big batches: a 6,000-job file through printctl accepted whole and in order, each job's fate in a batch (refused,
duplicate, conflict) across the store's chunks on both engines, nothing kept of a batch the store cannot take, and
a short run of bench/import_status.py."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import structlog

from printd import intake
from printd.errors import PrintdError
from printd.file_access import Reader
from printd.intake import parse_job
from printd.jobs import Priority
from printd.store import NewJob, SqliteStore, Store, SubmitResult, core
from printd.store.core import SUBMIT_CHUNK
from printd.store.health import StorageUnavailableError
from printd.store.size_cap import ENVIRONMENT as SIZE_CAP_ENVIRONMENT
from tests.conftest import assert_ledger_consistent, card_png, new_job
from tests.daemon_harness import ROOT, DaemonProcess, Printctl, SimSpec, wait_for

PRIORITIES = ("backlog", "normal", "walk_in")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path, [SimSpec("p1")])  # no blanks booked: nothing prints
    d.start({"low_stock_threshold": 0})
    try:
        yield d
    finally:
        if d.process is not None:
            d.stop()


def test_a_6000_job_file_is_accepted_whole_and_in_order_through_printctl(
    daemon: DaemonProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "front.png").write_bytes(card_png("IMPORT", size=(254, 162)))  # small: a quick check
    lines = [
        {"ref": f"SCH-{n:05d}", "priority": PRIORITIES[n % 3], "front": "faces/front.png", "chip": f"C{n}"}
        for n in range(6000)
    ]
    batch = tmp_path / "school.jsonl"
    batch.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ctl = Printctl(daemon.socket, capsys)

    reply = ctl.json("submit", "--batch", str(batch))
    assert reply["rejected"] == [] and len(reply["accepted"]) == 6000
    assert [a["line"] for a in reply["accepted"]] == list(range(1, 6001))
    assert [a["ref"] for a in reply["accepted"]] == [line["ref"] for line in lines]
    assert not any(a["duplicate"] for a in reply["accepted"])
    ids = [a["id"] for a in reply["accepted"]]
    assert ids == sorted(ids) and len(set(ids)) == 6000  # in the file's order: first in, first out
    status = ctl.json("status")
    assert status["queue"]["queued"] == sum(status["queue"].values()) == 6000

    again = ctl.json("submit", "--batch", str(batch))  # a retry after an unclear reply: the same 6,000 jobs
    assert again["rejected"] == [] and [a["id"] for a in again["accepted"]] == ids
    assert all(a["duplicate"] for a in again["accepted"])
    assert ctl.json("status")["queue"]["queued"] == 6000

    daemon.stop()
    store = daemon.open_store()
    try:
        queued = store.list_jobs(limit=10_000)
        assert len(queued) == 6000 and {job.ref for job in queued} == {line["ref"] for line in lines}
        walk_ins = [job.ref for job in reversed(queued) if job.priority is Priority.WALK_IN]
        assert walk_ins == [line["ref"] for line in lines if line["priority"] == "walk_in"]
        assert_ledger_consistent(store)
    finally:
        store.close()


def test_each_job_of_a_batch_keeps_its_own_fate(daemon: DaemonProcess, tmp_path: Path) -> None:
    """Refused jobs are named by index and the others stand; repeats and conflicts are told apart in the batch and
    against the store, also when a repeat falls in a later chunk of the store's writes."""
    face, other = tmp_path / "face.png", tmp_path / "other.png"
    face.write_bytes(card_png("FACE"))
    other.write_bytes(card_png("OTHER"))
    size = 2 * SUBMIT_CHUNK + 100
    jobs: list[dict[str, object]] = [{"ref": f"B-{n:05d}", "front": str(face)} for n in range(size)]
    jobs[5] = {"ref": "B-bad-priority", "front": str(face), "priority": "urgent"}
    jobs[7] = {"ref": "B-no-image", "front": str(tmp_path / "missing.png")}
    jobs[SUBMIT_CHUNK + 3] = {"ref": "B-00003", "front": str(face)}  # the same job again: a duplicate
    jobs[SUBMIT_CHUNK + 4] = {"ref": "B-00004", "front": str(other)}  # the same ref, other content
    jobs[SUBMIT_CHUNK + 10] = {"ref": "B-elsewhere", "front": str(face), "station": "no-such-station"}
    jobs[2 * SUBMIT_CHUNK + 1] = {"ref": "EARLIER", "front": str(face)}  # as submitted before the batch
    jobs[2 * SUBMIT_CHUNK + 2] = {"ref": "EARLIER-2", "front": str(face)}  # before, with other content
    jobs[2 * SUBMIT_CHUNK + 3] = "not a job"
    with daemon.client() as client:
        earlier = client.call("jobs.submit", {"job": {"ref": "EARLIER", "front": str(face)}})
        client.call("jobs.submit", {"job": {"ref": "EARLIER-2", "front": str(other)}})
        reply = client.call("jobs.submit_batch", {"jobs": jobs})
        assert isinstance(reply, dict) and isinstance(earlier, dict)
        rejected = {r["index"]: (r["ref"], r["error"]["code"]) for r in reply["rejected"]}
        assert rejected == {
            5: ("B-bad-priority", "job.invalid"),
            7: ("B-no-image", "job.image_missing"),
            SUBMIT_CHUNK + 4: ("B-00004", "job.ref_conflict"),
            SUBMIT_CHUNK + 10: ("B-elsewhere", "station.not_found"),
            2 * SUBMIT_CHUNK + 2: ("EARLIER-2", "job.ref_conflict"),
            2 * SUBMIT_CHUNK + 3: (None, "job.invalid"),
        }
        accepted = reply["accepted"]
        assert len(accepted) == size - len(rejected)
        by_ref = {a["ref"]: a for a in accepted if not a["duplicate"]}
        repeats = [a for a in accepted if a["duplicate"]]
        assert repeats == [
            {"id": by_ref["B-00003"]["id"], "ref": "B-00003", "duplicate": True},
            {"id": earlier["id"], "ref": "EARLIER", "duplicate": True},
        ]
        fresh = [a["id"] for a in accepted if not a["duplicate"]]
        assert fresh == sorted(fresh) and len(fresh) == size - len(rejected) - 2
        status = client.call("status", {})
        assert isinstance(status, dict) and status["queue"]["queued"] == len(fresh) + 2


def test_submit_many_across_chunks_on_each_engine(store: Store, png: bytes) -> None:
    store.submit(new_job("OLD", png), "t")
    jobs = [new_job(f"J{n:04d}", png, Priority(n % 3)) for n in range(SUBMIT_CHUNK + 20)]
    jobs += [
        new_job("J0001", png, Priority(1)),  # a repeat in a later chunk
        new_job("J0002", png, Priority.WALK_IN),  # other content (priority) under a ref of the batch
        new_job("OLD", png),  # already in the store
        new_job("OLD", png + b"x"),  # conflicting with the store
        new_job("LATE", png),
        new_job("LATE", png),  # a repeat in the same chunk
    ]
    results = store.submit_many(jobs, "t")
    assert len(results) == len(jobs)
    fresh = [r for r in results if isinstance(r, SubmitResult) and not r.duplicate]
    assert [r.job.ref for r in fresh] == [f"J{n:04d}" for n in range(SUBMIT_CHUNK + 20)] + ["LATE"]
    assert [r.job.id for r in fresh] == sorted(r.job.id for r in fresh)
    tail = results[SUBMIT_CHUNK + 20 :]
    assert isinstance(tail[0], SubmitResult) and tail[0].duplicate and tail[0].job.id == fresh[1].job.id
    assert isinstance(tail[1], PrintdError) and tail[1].code == "job.ref_conflict"
    assert isinstance(tail[2], SubmitResult) and tail[2].duplicate and tail[2].job.ref == "OLD"
    assert isinstance(tail[3], PrintdError) and tail[3].code == "job.ref_conflict"
    assert isinstance(tail[5], SubmitResult) and tail[5].duplicate and tail[5].job.id == fresh[-1].job.id
    assert store.queue_counts()["queued"] == len(fresh) + 1
    history = store.job_history(fresh[0].job.id)
    assert [(h["event"], h["from"], h["to"], h["actor"]) for h in history] == [("submit", None, "queued", "t")]
    assert store.job_content(fresh[-1].job.id) is not None


def test_submit_many_in_chunks_bounded_by_content_size(
    store: Store, png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "SUBMIT_CHUNK_BYTES", 3 * len(png))  # three jobs' content a statement
    jobs = [new_job(f"S{n}", png, holder="BENCHMARK HOLDER") for n in range(10)] + [new_job("S1", png)]
    results = store.submit_many(jobs, "t")
    assert all(isinstance(r, SubmitResult) for r in results[:10])
    ids = [r.job.id for r in results[:10] if isinstance(r, SubmitResult) and not r.duplicate]
    assert len(ids) == 10 and ids == sorted(ids)
    assert isinstance(results[10], PrintdError) and results[10].code == "job.ref_conflict"  # no holder: other content
    content = store.job_content(ids[9])
    assert content is not None and content.front == png and content.holder == "BENCHMARK HOLDER"


def test_a_batch_the_store_cannot_hold_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, png: bytes
) -> None:
    """The database fills up while a later chunk of the batch is written: the whole batch is rolled back."""
    cap = tmp_path / "max-page-count"
    monkeypatch.setenv(SIZE_CAP_ENVIRONMENT, str(cap))
    store = SqliteStore(tmp_path / "printd.db", station="test")
    try:
        store.submit_many([new_job(f"A{n}", png) for n in range(SUBMIT_CHUNK)], "t")
        pages = sqlite3.connect(store.path).execute("PRAGMA page_count").fetchone()[0]  # about a chunk's worth
        cap.write_text(str(pages + pages * 3 // 2))  # room for a chunk and a half more: the second chunk fails
        with pytest.raises(StorageUnavailableError) as refused:
            store.submit_many([new_job(f"B{n}", png) for n in range(3 * SUBMIT_CHUNK)], "t")
        assert refused.value.code == "store.full"
        assert len(store.list_jobs(limit=10 * SUBMIT_CHUNK)) == SUBMIT_CHUNK
        assert store.queue_counts()["queued"] == SUBMIT_CHUNK
        assert_ledger_consistent(store)
    finally:
        store.close()


@pytest.fixture
def faces() -> Iterator[Path]:
    """A directory others may search (pytest's own are private), for a reader who is not the files' owner."""
    top = Path(tempfile.mkdtemp(prefix="printd-batch-"))
    top.chmod(0o755)
    yield top
    shutil.rmtree(top)


def batch_objects(faces: Path, count: int) -> list[object]:
    """``count`` jobs, a few of them refused for different reasons (one an image its reader may not read)."""
    face, secret = faces / "face.png", faces / "secret.png"
    face.write_bytes(card_png("FACE", size=(254, 162)))
    face.chmod(0o644)
    secret.write_bytes(card_png("SECRET", size=(254, 162)))
    secret.chmod(0o600)  # the reader below is not its owner
    objs: list[object] = [{"ref": f"P-{n}", "front": str(face), "chip": f"C{n}"} for n in range(count)]
    objs[1] = {"ref": "P-missing", "front": str(faces / "missing.png")}
    objs[2] = {"ref": "P-priority", "front": str(face), "priority": "soon"}
    objs[3] = ["not", "a", "job"]
    objs[-1] = {"ref": "P-secret", "front": "secret.png"}  # relative: to the batch's directory
    return objs


READER = Reader(uid=4_000_003, gids=frozenset({4_000_003}))


def expected(objs: list[object], faces: Path) -> list[tuple[str, object]]:
    """What ``parse_job`` makes of each job here, in this thread: ("job", NewJob) or ("error", code and message)."""
    found: list[tuple[str, object]] = []
    for obj in objs:
        try:
            found.append(("job", parse_job(obj, base_dir=faces, reader=READER)))
        except PrintdError as exc:
            found.append(("error", (exc.code, exc.message)))
    return found


def outcome(parsed: list[NewJob | PrintdError]) -> list[tuple[str, object]]:
    return [("error", (p.code, p.message)) if isinstance(p, PrintdError) else ("job", p) for p in parsed]


def test_a_big_batch_validated_by_the_helper_process_is_validated_as_one_job_at_a_time(faces: Path) -> None:
    objs = batch_objects(faces, intake.OFFLOAD_MIN_JOBS + intake.SLICE_JOBS + 7)
    parsed = intake.parse_batch(objs, base_dir=faces, reader=READER)
    assert outcome(parsed) == expected(objs, faces)
    codes = [p.code for p in parsed if isinstance(p, PrintdError)]
    assert codes == ["job.image_missing", "job.invalid", "job.invalid", "job.image_forbidden"]
    assert intake._helper._executor is not None  # the batch went to the helper, which stays for the next one


def test_the_helper_stops_when_idle_and_starts_again(faces: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake, "HELPER_IDLE_SECONDS", 0.2)
    objs = batch_objects(faces, intake.OFFLOAD_MIN_JOBS)
    assert outcome(intake.parse_batch(objs, base_dir=faces, reader=READER)) == expected(objs, faces)
    wait_for(lambda: intake._helper._executor is None, 30, "the idle helper to stop")
    assert outcome(intake.parse_batch(objs, base_dir=faces, reader=READER)) == expected(objs, faces)


def test_without_the_helper_a_batch_is_validated_in_printd(faces: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_start() -> Iterator[object]:
        raise OSError("no processes left")

    monkeypatch.setattr(intake._helper, "executor", contextmanager(cannot_start))
    objs = batch_objects(faces, intake.OFFLOAD_MIN_JOBS)
    with structlog.testing.capture_logs() as logs:
        assert outcome(intake.parse_batch(objs, base_dir=faces, reader=READER)) == expected(objs, faces)
    assert [e["event"] for e in logs] == ["intake.helper_failed"] and logs[0]["error"] == "OSError"


def test_import_benchmark_runs(short_tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "import_status.py"),
            "--jobs",
            "40",
            "--runs",
            "1",
            "--idle-seconds",
            "0.3",
            "--json",
            "--dir",
            str(short_tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["benchmark"] == "import_status" and result["verified"] is True and result["problems"] == []
    run = result["engines"]["sqlite"]["per_run"][0]
    assert set(run["ways"]) == {"printctl", "api"}
    for way in run["ways"].values():
        assert way["status_during_ms"]["n"] > 0 and way["jobs_per_second"] > 0
    assert run["status_idle_ms"]["n"] > 0
    assert list(short_tmp_path.iterdir()) == []
