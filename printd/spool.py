"""The spool directory: job files placed there atomically are submitted, then moved to done/ or rejected/.

A file is taken when its name ends in ``.json`` (one job) or ``.jsonl`` (one job a line) and does not start
with ``.``: writers create it under another name (``.name.tmp``) and rename it into place. Relative image
paths in it are taken from the spool directory. A rejected file gets a ``NAME.error.txt`` beside it saying
why, naming jobs by their line and ``ref`` only.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from printd.errors import PrintdError
from printd.intake import parse_job
from printd.logging import get_logger
from printd.store import NewJob, SqliteStore

log = get_logger("printd.spool")


@dataclass(frozen=True)
class SpoolResult:
    name: str
    accepted: int
    rejected: int


class SpoolWatcher:
    def __init__(self, store: SqliteStore, directory: Path, on_submit: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.directory = directory
        self.on_submit = on_submit
        for sub in ("", "done", "rejected"):
            (directory / sub).mkdir(parents=True, exist_ok=True, mode=0o770)

    def scan(self) -> list[SpoolResult]:
        """Take every complete job file now in the spool; returns what happened to each."""
        results = []
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(".") or path.suffix not in (".json", ".jsonl") or not path.is_file():
                continue
            results.append(self._take(path))
        if any(r.accepted for r in results):
            self.on_submit()
        return results

    def _take(self, path: Path) -> SpoolResult:
        actor = _owner(path)
        problems: list[str] = []
        jobs: list[tuple[int, NewJob]] = []
        try:
            lines = path.read_bytes().splitlines() if path.suffix == ".jsonl" else [path.read_bytes()]
        except OSError as exc:
            problems.append(f"cannot read the file: {exc.strerror}")
            lines = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                jobs.append((number, parse_job(msgspec.json.decode(line), base_dir=self.directory)))
            except msgspec.DecodeError:
                problems.append(f"line {number}: not valid JSON")
            except PrintdError as exc:
                problems.append(f"line {number}: {exc.code}: {exc.message}")
        accepted = 0
        if jobs:
            for (number, job), result in zip(jobs, self.store.submit_many([j for _, j in jobs], actor), strict=True):
                if isinstance(result, PrintdError):
                    problems.append(f"line {number} (ref {job.ref}): {result.code}: {result.message}")
                else:
                    accepted += 1
        if not jobs and not problems:
            problems.append("the file holds no job")
        target = self.directory / ("rejected" if problems else "done") / path.name
        shutil.move(path, _free_name(target))
        if problems:
            report = _free_name(target.with_name(target.name + ".error.txt"))
            report.write_text(
                f"{len(problems)} problem(s); {accepted} job(s) of this file were accepted.\n"
                + "\n".join(problems)
                + "\n"
            )
            log.warning("spool.rejected", file=path.name, accepted=accepted, problems=len(problems))
        else:
            log.info("spool.taken", file=path.name, accepted=accepted, actor=actor)
        return SpoolResult(path.name, accepted, len(problems))


def _owner(path: Path) -> str:
    try:
        uid = path.stat().st_uid
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        n += 1
    return candidate
