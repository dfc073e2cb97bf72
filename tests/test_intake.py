"""Job intake: job objects, images by path or data: URI, and every malformed job with a clear error."""

from __future__ import annotations

import base64
import io
import itertools
import os
import shutil
import struct
import tempfile
import threading
import zlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from printd.errors import PrintdError
from printd.file_access import Reader
from printd.intake import MAX_IMAGE_BYTES, parse_job
from printd.jobs import Priority
from tests.conftest import card_png


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_path_and_data_uri(tmp_path: Path, png: bytes) -> None:
    (tmp_path / "front.png").write_bytes(png)
    job = parse_job(
        {
            "ref": "K-1",
            "priority": "walk_in",
            "front": "front.png",
            "back": data_uri(png),
            "holder": "Siti",
            "chip": "NIK=99",
        },
        base_dir=tmp_path,
    )
    assert job.priority is Priority.WALK_IN
    assert job.content.front == png and job.content.back == png and job.content.chip == b"NIK=99"
    assert parse_job({"ref": "K-1", "front": str(tmp_path / "front.png")}).priority is Priority.NORMAL


def test_same_content_same_digest(png: bytes) -> None:
    a = parse_job({"ref": "A", "front": data_uri(png)})
    b = parse_job({"ref": "A", "front": data_uri(png)})
    c = parse_job({"ref": "A", "front": data_uri(png), "priority": "walk_in"})
    assert a.digest == b.digest != c.digest


@pytest.mark.parametrize(
    ("job", "code", "fragment"),
    [
        ({"front": "x.png"}, "job.invalid", "missing required field `ref`"),
        ({"ref": "A"}, "job.invalid", "missing required field `front`"),
        ({"ref": "", "front": "x"}, "job.invalid", "ref"),
        ({"ref": "a b", "front": "x"}, "job.invalid", "ref: must be 1-128 letters"),
        ({"ref": "A", "front": "x", "colour": "red"}, "job.invalid", "unknown field `colour`"),
        ({"ref": "A", "front": "x", "priority": "urgent"}, "job.invalid", "walk_in, normal or backlog"),
        ({"ref": "A", "front": 5}, "job.invalid", "front"),
        ("not an object", "job.invalid", "Expected `object`"),
        ({"ref": "A", "front": "relative.png"}, "job.invalid", "absolute path"),
        ({"ref": "A", "front": "/nonexistent/face.png"}, "job.image_missing", "does not exist"),
        ({"ref": "A", "front": "data:image/png,abc"}, "job.invalid", "must be base64"),
        ({"ref": "A", "front": "data:image/png;base64,@@@"}, "job.image_unreadable", "not valid base64"),
        ({"ref": "A", "front": data_uri(b"GIF89a not really")}, "job.image_unreadable", "cannot be read"),
        ({"ref": "A", "front": data_uri(b"\x89PNG\r\n\x1a\n truncated")}, "job.image_unreadable", "cannot be read"),
    ],
)
def test_malformed_jobs(job: object, code: str, fragment: str) -> None:
    with pytest.raises(PrintdError) as info:
        parse_job(job)
    assert info.value.code == code
    assert fragment in info.value.message


def test_errors_never_echo_personal_data(png: bytes) -> None:
    with pytest.raises(PrintdError) as info:
        parse_job({"ref": "A", "front": data_uri(png), "holder": "BUDI SANTOSO" * 30})
    assert "BUDI" not in info.value.message
    with pytest.raises(PrintdError) as info:
        parse_job({"ref": "A", "front": data_uri(png), "chip": 3175012345678901})
    assert "3175012345678901" not in info.value.message


def test_directory_and_unreadable_file(tmp_path: Path, png: bytes) -> None:
    with pytest.raises(PrintdError) as info:
        parse_job({"ref": "A", "front": str(tmp_path)})
    assert info.value.code == "job.image_missing"
    gif = tmp_path / "face.gif"
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    with pytest.raises(PrintdError) as info:
        parse_job({"ref": "A", "front": str(gif)})
    assert info.value.code == "job.image_unreadable" and "send a PNG or JPEG" in info.value.message


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    with big.open("wb") as file:
        file.truncate(MAX_IMAGE_BYTES + 1)
    with pytest.raises(PrintdError) as info:
        parse_job({"ref": "A", "front": str(big)})
    assert info.value.code == "job.image_unreadable" and "over 8 MiB" in info.value.message


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_of(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG made of these chunks, each with its correct CRC."""
    body = b"".join(struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d)) for k, d in chunks)
    return b"\x89PNG\r\n\x1a\n" + body


def photo_jpeg() -> bytes:
    image = Image.effect_noise((1016, 648), 60).convert("RGB").filter(ImageFilter.GaussianBlur(3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_corrupt_image_data_is_refused_at_intake(png: bytes) -> None:
    def garbled(data: bytes) -> bytes:
        middle = len(data) // 2
        return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]

    corrupt_png = png_of([(kind, garbled(data) if kind == b"IDAT" else data) for kind, data in png_chunks(png)])
    with Image.open(io.BytesIO(corrupt_png)) as image:
        image.verify()  # every chunk's CRC is right: only decoding the image data finds the damage
    jpeg = photo_jpeg()
    assert parse_job({"ref": "J", "front": data_uri(jpeg)}).content.front == jpeg
    for bad in (corrupt_png, png[: len(png) - 200], garbled(jpeg), jpeg[: len(jpeg) // 2]):
        with pytest.raises(PrintdError) as info:
            parse_job({"ref": "A", "front": data_uri(bad)})
        assert info.value.code == "job.image_unreadable" and "front image cannot be read" in info.value.message


def test_a_swapped_link_never_yields_a_file_the_caller_may_not_read() -> None:
    """A link swapped between a file the caller may read and one only root may: never the second one's content."""
    caller = Reader(uid=4_000_003, gids=frozenset({4_000_003}))
    top = Path(tempfile.mkdtemp(prefix="printd-race-"))
    top.chmod(0o755)
    public, secret = top / "public.png", top / "secret.png"
    public.write_bytes(card_png(size=(64, 40)))
    public.chmod(0o644)
    secret_bytes = card_png(size=(40, 64))
    secret.write_bytes(secret_bytes)
    secret.chmod(0o600)
    face = top / "face.png"
    face.symlink_to(public)
    stop = threading.Event()

    def swap() -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            (top / "next.png").symlink_to(secret if n % 2 else public)
            os.replace(top / "next.png", face)

    swapper = threading.Thread(target=swap)
    swapper.start()
    read, refused = [], Counter[str]()
    try:
        for n in range(2000):
            try:
                read.append(parse_job({"ref": f"R-{n}", "front": str(face)}, reader=caller).content.front)
            except PrintdError as exc:
                refused[exc.code] += 1
    finally:
        stop.set()
        swapper.join()
        shutil.rmtree(top)
    assert secret_bytes not in read
    assert read and refused["job.image_forbidden"], (len(read), refused)  # both files were really reached
