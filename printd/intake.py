"""Job intake: validating a job object (from the socket, a batch or the spool) into a NewJob, and a big batch's jobs
in a helper process.

A job file is JSON: ``ref``, ``priority``, ``front`` and optional ``back`` (a path or a ``data:`` URI of a PNG
or JPEG image), optional ``holder`` (display name), optional ``chip`` (the chip payload: an APDU script, a JSON list
as drivers/encoders/apdu.py documents it, checked here; or text for the station's encoding program) and optional
``station`` (the only station that may print it). Error messages name the field and never repeat its content: the
content is personal data.
"""

from __future__ import annotations

import base64
import binascii
import errno
import io
import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
from PIL import Image, UnidentifiedImageError

from drivers.encoders.apdu import ScriptError, is_script, parse_script
from printd.errors import PrintdError
from printd.file_access import NotRegularFileError, Reader, ReadForbiddenError, open_regular
from printd.jobs import Priority
from printd.logging import get_logger
from printd.png_check import check_png
from printd.store.records import JobContent, NewJob
from printd.validation import explain

log = get_logger("printd.intake")

MAX_IMAGE_BYTES = 8 << 20
MAX_CHIP_CHARS = 65536
MAX_IMAGE_PIXELS = 4096 * 4096

Ref = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")]


_HINTS = {"ref": "must be 1-128 letters, digits or _ . : / - (starting with a letter or digit)"}


class JobFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    ref: Ref
    front: Annotated[str, msgspec.Meta(min_length=1)]
    priority: str = "normal"
    back: str | None = None
    holder: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    chip: Annotated[str, msgspec.Meta(max_length=MAX_CHIP_CHARS)] | list[object] | None = None
    station: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] | None
    ) = None  # only this station's printers may print it (a walk-in at that counter, a school batch for the van)


def parse_job(obj: object, *, base_dir: Path | None = None, reader: Reader | None = None) -> NewJob:
    """Validate one job object; relative image paths are resolved against ``base_dir`` if given. An image named
    by path is read only if ``reader`` (the person behind the job; None: printd itself) may read it."""
    try:
        job = msgspec.convert(obj, JobFile)
    except msgspec.ValidationError as exc:
        raise PrintdError("job.invalid", f"job: {explain(exc, whole='the job', hints=_HINTS)}") from exc
    try:
        priority = Priority.from_label(job.priority)
    except KeyError:
        raise PrintdError(
            "job.invalid", f"job {job.ref}: priority must be walk_in, normal or backlog, not {job.priority!r}"
        ) from None
    front = load_image(job.front, "front", job.ref, base_dir, reader)
    back = load_image(job.back, "back", job.ref, base_dir, reader) if job.back else None
    content = JobContent(front=front, back=back, chip=_chip_payload(job.chip, job.ref), holder=job.holder)
    return NewJob(ref=job.ref, priority=priority, content=content, station=job.station)


def _chip_payload(chip: str | list[object] | None, ref: str) -> bytes | None:
    """The payload as stored: a script (a list, or text that is one) checked step by step, other text as it is."""
    if chip is None or chip == "":
        return None
    payload = msgspec.json.encode(chip) if isinstance(chip, list) else chip.encode()
    if isinstance(chip, list) or is_script(payload):
        if len(payload) > 4 * MAX_CHIP_CHARS:
            raise PrintdError("job.invalid", f"job {ref}: chip: the script is longer than {4 * MAX_CHIP_CHARS} bytes")
        try:
            parse_script(payload)
        except ScriptError as exc:
            raise PrintdError("job.invalid", f"job {ref}: chip: {exc}") from None
    return payload


OFFLOAD_MIN_JOBS = 64
"""A batch of at least this many jobs is validated in the helper process."""
SLICE_JOBS = 50
"""Jobs the helper validates and sends back at a time."""
HELPER_IDLE_SECONDS = 60.0
"""The helper process stops after this long without a batch (the next big batch starts it again)."""


def parse_batch(
    objs: Sequence[object], *, base_dir: Path | None = None, reader: Reader | None = None
) -> list[NewJob | PrintdError]:
    """Validate each job of a batch, index for index: its NewJob, or the error that refuses it (the others stand).

    Validating thousands of jobs is seconds of Python work (reading and checking every image). In one of the
    daemon's threads it would hold the interpreter lock nearly all that time, and every other request hands the
    lock over several times (a status reply on PostgreSQL a dozen: one per query): status would take several
    times as long for the whole import. So a batch of ``OFFLOAD_MIN_JOBS`` or more is validated in a helper
    process, ``SLICE_JOBS`` at a time, by the same ``parse_job`` with the same arguments; this thread only waits. If
    the helper cannot run, the batch is validated here, as a smaller one is.
    """
    if len(objs) >= OFFLOAD_MIN_JOBS:
        try:
            with _helper.executor() as executor:
                slices = [list(objs[i : i + SLICE_JOBS]) for i in range(0, len(objs), SLICE_JOBS)]
                futures = [executor.submit(_validate, part, base_dir, reader) for part in slices]
                return [item.error() if isinstance(item, _Refusal) else item for f in futures for item in f.result()]
        except (BrokenProcessPool, OSError) as exc:
            _helper.discard()
            log.warning("intake.helper_failed", error=type(exc).__name__, detail="the batch is validated in printd")
    return [item.error() if isinstance(item, _Refusal) else item for item in _validate(list(objs), base_dir, reader)]


@dataclass(frozen=True)
class _Refusal:
    """A ``PrintdError`` on its way out of the helper process (the exception itself does not pickle)."""

    code: str
    message: str
    details: dict[str, object]

    def error(self) -> PrintdError:
        return PrintdError(self.code, self.message, self.details)


def _validate(objs: list[object], base_dir: Path | None, reader: Reader | None) -> list[NewJob | _Refusal]:
    found: list[NewJob | _Refusal] = []
    for obj in objs:
        try:
            found.append(parse_job(obj, base_dir=base_dir, reader=reader))
        except PrintdError as exc:
            found.append(_Refusal(exc.code, exc.message, exc.details))
    return found


class _Helper:
    """The helper process: started on first use, stopped when unused for ``HELPER_IDLE_SECONDS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._users = 0
        self._idle: threading.Timer | None = None

    @contextmanager
    def executor(self) -> Iterator[ProcessPoolExecutor]:
        with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            if self._executor is None:  # a fresh interpreter: forking the daemon would copy its threads' locks
                context = multiprocessing.get_context("spawn")
                self._executor = ProcessPoolExecutor(max_workers=1, mp_context=context)
            executor = self._executor
            self._users += 1
        try:
            yield executor
        finally:
            with self._lock:
                self._users -= 1
                if not self._users and self._executor is executor:
                    self._idle = threading.Timer(HELPER_IDLE_SECONDS, self._stop_if_idle)
                    self._idle.daemon = True
                    self._idle.start()

    def _stop_if_idle(self) -> None:
        with self._lock:
            executor = self._executor if not self._users else None
            if executor is not None:
                self._executor = None
        if executor is not None:
            executor.shutdown()

    def discard(self) -> None:
        """Forget a helper that failed: the next big batch starts a new one."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


_helper = _Helper()


def load_image(source: str, field: str, ref: str, base_dir: Path | None, reader: Reader | None = None) -> bytes:
    if source.startswith("data:"):
        data = _decode_data_uri(source, field, ref)
    else:
        data = _read_file(_image_path(source, field, ref, base_dir), field, ref, base_dir, reader)
    check_image(data, field, ref)
    return data


def _image_path(source: str, field: str, ref: str, base_dir: Path | None) -> Path:
    path = Path(source)
    if path.is_absolute():
        return path
    if base_dir is None:
        raise PrintdError(
            "job.invalid",
            f"job {ref}: {field} must be an absolute path or a data: URI (printctl makes paths absolute)",
        )
    return base_dir / path


_MISSING = "the {field} image file does not exist; check the path in the job file"
_NOT_FOR_PRINTD = (
    "printd may not read the {field} image file; make it readable by the printd user or send it as a data: URI"
)
_OPEN_ERRORS = {
    errno.ENOENT: ("job.image_missing", _MISSING),
    errno.ENOTDIR: ("job.image_missing", _MISSING),
    errno.EACCES: ("job.image_missing", _NOT_FOR_PRINTD),
    errno.EPERM: ("job.image_missing", _NOT_FOR_PRINTD),
    errno.EISDIR: ("job.image_missing", "the {field} image path is a directory"),
    errno.ELOOP: ("job.image_missing", "the {field} image path has too many symbolic links; name the file itself"),
}


def _read_file(path: Path, field: str, ref: str, base_dir: Path | None, reader: Reader | None) -> bytes:
    """The file's content, read only from a regular file the reader may read and never more than a byte past the
    size limit."""
    try:
        fd = open_regular(path, reader=reader, reached=base_dir)
        with open(fd, "rb", buffering=0) as file:
            data = _read_bounded(file)
    except ReadForbiddenError:
        raise PrintdError(
            "job.image_forbidden",
            f"job {ref}: you may not read the {field} image file yourself, so printd will not read it for you;"
            " make it readable by you, or send the image as a data: URI",
        ) from None
    except NotRegularFileError:
        raise PrintdError(
            "job.image_unreadable",
            f"job {ref}: the {field} image is not a regular file (a pipe, device or socket); name the image file",
        ) from None
    except OSError as exc:
        code, text = _OPEN_ERRORS.get(exc.errno or 0, ("job.image_unreadable", "the {field} image file cannot be read"))
        raise PrintdError(code, f"job {ref}: " + text.format(field=field)) from None
    return data  # at most one byte over the limit: check_image refuses it, as it does a data: URI


def _read_bounded(file: io.FileIO) -> bytes:
    """At most ``MAX_IMAGE_BYTES + 1`` bytes, enough to tell a file over the limit; sized by the file, so a small
    image does not cost an 8 MiB buffer."""
    size = os.fstat(file.fileno()).st_size
    data = file.read(min(size, MAX_IMAGE_BYTES) + 1) or b""
    while size < len(data) <= MAX_IMAGE_BYTES:  # it grew while being read: the rest, still bounded
        more = file.read(MAX_IMAGE_BYTES + 1 - len(data))
        if not more:
            break
        data += more
    return data


def check_image(data: bytes, field: str, ref: str) -> None:
    """A PNG or JPEG within the limits whose image data decodes completely: a corrupt or truncated image is
    refused now, not when its card is printed."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PrintdError("job.image_unreadable", f"job {ref}: the {field} image is over 8 MiB; shrink it")
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_header(image, field, ref)
            if image.format == "PNG":
                check_png(data)  # the whole image data, at a fraction of the cost of Pillow's decode
            else:
                image.load()
    except PrintdError:
        raise
    except (UnidentifiedImageError, OSError, EOFError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PrintdError(
            "job.image_unreadable",
            f"job {ref}: the {field} image cannot be read as PNG or JPEG; export it again",
        ) from None


def _check_header(image: Image.Image, field: str, ref: str) -> None:
    if image.format not in ("PNG", "JPEG"):
        raise PrintdError("job.image_unreadable", f"job {ref}: the {field} image is {image.format}; send a PNG or JPEG")
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise PrintdError("job.image_unreadable", f"job {ref}: the {field} image is too large in pixels")


def _decode_data_uri(uri: str, field: str, ref: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep or ";base64" not in header:
        raise PrintdError("job.invalid", f"job {ref}: {field} data: URI must be base64 (data:image/png;base64,...)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise PrintdError("job.image_unreadable", f"job {ref}: {field} data: URI is not valid base64") from None
