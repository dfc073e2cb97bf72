"""The spool directory: job files placed there atomically are submitted, kept privately, and purged after retention.

A file is taken when its name ends in ``.json`` (one job) or ``.jsonl`` (one job a line) and does not start
with ``.``: writers create it under another name (``.name.tmp``) and rename it into place. Relative image
paths in it are taken from the spool directory. Each job is submitted as the file's owner, who must hold the role
``jobs.submit`` needs on the control socket (by the same ``[control.roles]`` table); a file from anyone else is
rejected whole, with the role and the group that grants it in its report.

A taken file holds personal data, so printd keeps its own copy, readable by printd's user only (mode 0600),
in ``done/`` (mode 0700) or, if any line was refused, in ``rejected/`` (mode 0750) beside a ``NAME.error.txt``
(mode 0640: printd's group may read it) that names jobs by their line and ``ref`` only. ``purge`` deletes a
copy once its retention has passed, with the images in the spool that only it named.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from printd.control.auth import (
    DEFAULT_ROLES,
    Caller,
    Role,
    RolesConfig,
    actor_name,
    forbidden,
    parse_roles,
    resolve_role,
)
from printd.errors import PrintdError
from printd.file_access import Reader
from printd.intake import parse_batch
from printd.jobs import ENDED
from printd.logging import get_logger
from printd.store import NewJob, Store

log = get_logger("printd.spool")

INCOMING_MODE = 0o1730  # when printd makes the spool: its group may drop files, not list or read others'
DONE_MODE = 0o700
REJECTED_MODE = 0o750  # printd's group may read the reports there, never the job files
JOB_FILE_MODE = 0o600
REPORT_MODE = 0o640
JOB_SUFFIXES = (".json", ".jsonl")
SUBMIT_METHOD = "jobs.submit"
SUBMIT_ROLE = Role.OPERATOR  # what SUBMIT_METHOD needs on the control socket


@dataclass(frozen=True)
class SpoolResult:
    name: str
    accepted: int
    rejected: int


class SpoolWatcher:
    def __init__(
        self,
        store: Store,
        directory: Path,
        on_submit: Callable[[], None] = lambda: None,
        roles_config: RolesConfig = DEFAULT_ROLES,
    ) -> None:
        """``roles_config``: the ``[control.roles]`` table, which decides whose files are submitted."""
        parse_roles(roles_config)
        self.roles = roles_config
        self.store = store
        self.directory = directory
        self.done = directory / "done"
        self.rejected = directory / "rejected"
        self.on_submit = on_submit
        if not directory.exists():
            directory.mkdir(parents=True)
            _set_mode(directory, INCOMING_MODE)
        elif directory.stat().st_mode & 0o007:
            log.warning(
                "spool.open_to_others",
                mode=oct(stat.S_IMODE(directory.stat().st_mode)),
                detail="anyone may see job files before printd takes them; chmod o-rwx the spool directory",
            )
        for sub, mode in ((self.done, DONE_MODE), (self.rejected, REJECTED_MODE)):
            sub.mkdir(exist_ok=True)
            _set_mode(sub, mode)

    def scan(self) -> list[SpoolResult]:
        """Take every complete job file now in the spool; returns what happened to each."""
        results = []
        for path in sorted(self.directory.iterdir()):
            if _is_job_entry(path):
                results.append(self._take(path))
        if any(r.accepted for r in results):
            self.on_submit()
        return results

    def purge(self, ended_before: float) -> int:
        """Delete kept job files whose retention ended before ``ended_before`` (a time): in done/ once every job
        they hold has ended before it, in rejected/ (with the report) once rejected before it. Images in the
        spool that only the deleted files named go too. Returns how many job files were deleted."""
        images: set[str] = set()
        deleted = 0
        for path in _entries(self.done):
            if _mtime(path) < ended_before and all(self._ended_before(j, ended_before) for j in _jobs_in(path)):
                images |= self._images_named(path)
                _unlink(path)
                deleted += 1
        for path in _entries(self.rejected):
            if _mtime(path) < ended_before:
                if path.name.endswith(JOB_SUFFIXES):
                    images |= self._images_named(path)
                    deleted += 1
                _unlink(path)
        named_still = set()
        for folder in (self.directory, self.done, self.rejected):
            for path in _entries(folder):
                if path.name.endswith(JOB_SUFFIXES) or path.name.endswith(".tmp"):
                    named_still |= self._images_named(path)
        gone = 0
        for name in images - named_still:
            image = self.directory / name
            with contextlib.suppress(OSError):
                st = image.lstat()
                if stat.S_ISREG(st.st_mode) and st.st_mtime < ended_before:
                    image.unlink()
                    gone += 1
        if deleted or gone:
            log.info("spool.purged", job_files=deleted, images=gone)
        return deleted

    def _take(self, path: Path) -> SpoolResult:
        problems: list[str] = []
        jobs: list[tuple[int, NewJob]] = []
        try:
            data, owner, group = _read_regular(path)
        except OSError as exc:
            problems.append(f"cannot read the file: {exc.strerror or exc}; place a regular file")
            data, owner, group = None, None, None
        reader = Reader.of(owner, group) if owner is not None and group is not None else None
        actor = actor_name(owner) if owner is not None else "printd"
        denied = self._forbidden(owner) if owner is not None else None
        if denied is not None:
            problems.append(f"{denied.code}: {denied.message}")
        lines = (data.splitlines() if path.suffix == ".jsonl" else [data]) if data is not None and not denied else []
        decoded: list[tuple[int, object]] = []
        refused: list[tuple[int, str]] = []  # (line, why): told in file order
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                decoded.append((number, msgspec.json.decode(line)))
            except (msgspec.DecodeError, RecursionError):
                refused.append((number, "not valid JSON"))
        # A big file is validated as a big batch from the socket is (in the helper process): see parse_batch.
        parsed = parse_batch([obj for _, obj in decoded], base_dir=self.directory, reader=reader)
        for (number, _), outcome in zip(decoded, parsed, strict=True):
            if isinstance(outcome, PrintdError):
                refused.append((number, f"{outcome.code}: {outcome.message}"))
            else:
                jobs.append((number, outcome))
        problems += [f"line {number}: {why}" for number, why in sorted(refused)]
        accepted = 0
        if jobs:
            for (number, job), result in zip(jobs, self.store.submit_many([j for _, j in jobs], actor), strict=True):
                if isinstance(result, PrintdError):
                    problems.append(f"line {number} (ref {job.ref}): {result.code}: {result.message}")
                else:
                    accepted += 1
        if data is not None and not jobs and not problems:
            problems.append("the file holds no job")
        target = _free_name((self.rejected if problems else self.done) / path.name)
        if problems:  # the reason is there before the file it explains appears in rejected/
            report = _free_name(target.with_name(target.name + ".error.txt"))
            text = f"{len(problems)} problem(s); {accepted} job(s) of this file were accepted.\n" + "\n".join(problems)
            _write_private(report, (text + "\n").encode(), REPORT_MODE)
        if data is None:
            os.rename(path, target)  # whatever it is (a link, a pipe), it leaves the spool as it is
        else:
            _write_private(target, data, JOB_FILE_MODE)
            path.unlink()
        # File names are the writer's choice and may name a resident: they are not logged.
        if problems:
            log.warning("spool.rejected", accepted=accepted, problems=len(problems), actor=actor)
        else:
            log.info("spool.taken", accepted=accepted, actor=actor)
        return SpoolResult(path.name, accepted, len(problems))

    def _forbidden(self, owner: int) -> PrintdError | None:
        """The ``auth.forbidden`` refusal if the file's owner lacks the role to submit, as the socket decides it."""
        role = _owner_role(owner, self.roles)
        if role is not None and role >= SUBMIT_ROLE:
            return None
        return forbidden(SUBMIT_METHOD, SUBMIT_ROLE, Caller(owner, -1, 0, actor_name(owner), role), self.roles)

    def _ended_before(self, job: dict[str, object], cutoff: float) -> bool:
        ref = job.get("ref")
        if not isinstance(ref, str):
            return True
        try:
            record = self.store.get_job(ref)
        except PrintdError as exc:
            if exc.code == "job.not_found":
                return True
            raise
        return record.state in ENDED and record.updated_at < cutoff

    def _images_named(self, path: Path) -> set[str]:
        """Images directly in the spool directory that the job file names by a relative path."""
        names = set()
        for job in _jobs_in(path):
            for face in ("front", "back"):
                value = job.get(face)
                if isinstance(value, str) and value and not value.startswith("data:") and not os.path.isabs(value):
                    candidate = os.path.normpath(value)
                    if os.sep not in candidate and candidate not in (".", ".."):
                        names.add(candidate)
        return names


def _is_job_entry(path: Path) -> bool:
    """Named as a job file and not a directory (links and pipes are taken too: they end up in rejected/)."""
    if path.name.startswith(".") or path.suffix not in JOB_SUFFIXES:
        return False
    try:
        return not stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _entries(folder: Path) -> Iterable[Path]:
    try:
        return sorted(folder.iterdir())
    except FileNotFoundError:
        return []


def _jobs_in(path: Path) -> list[dict[str, object]]:
    """The job objects of a kept file, as far as they can be read; a line that is no object is skipped."""
    try:
        data, _, _ = _read_regular(path)
    except OSError:
        return []
    jobs = []
    for line in data.splitlines() if path.name.endswith(".jsonl") else [data]:
        with contextlib.suppress(msgspec.DecodeError, RecursionError):
            obj = msgspec.json.decode(line)
            if isinstance(obj, dict):
                jobs.append(obj)
    return jobs


def _read_regular(path: Path) -> tuple[bytes, int, int]:
    """The content, owner and group of a regular file, never through a symbolic link, never blocking on a pipe."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(), st.st_uid, st.st_gid
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # exactly this, whatever the umask
        with os.fdopen(os.dup(fd), "wb") as f:
            f.write(data)
    finally:
        os.close(fd)


def _set_mode(directory: Path, mode: int) -> None:
    try:
        os.chmod(directory, mode)
    except PermissionError:
        log.warning(
            "spool.mode_unchanged",
            directory=directory.name or str(directory),
            mode=oct(mode),
            detail="the directory belongs to another user; make printd's user its owner",
        )


def _owner_role(owner: int, roles: RolesConfig) -> Role | None:
    # From the user database, not the file's group: the setgid spool gives every file the spool's own group.
    try:
        gid = pwd.getpwuid(owner).pw_gid
    except KeyError:  # no such user, so no groups: only root and printd's own user have a role
        return resolve_role(owner, -1, roles, group_lookup=lambda _uid, _gid: ())
    return resolve_role(owner, gid, roles)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return float("inf")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while os.path.lexists(candidate):
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        n += 1
    return candidate
