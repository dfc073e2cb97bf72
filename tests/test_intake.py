"""Job intake: job objects, images by path or data: URI, and every malformed job with a clear error."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from printd.errors import PrintdError
from printd.intake import parse_job
from printd.jobs import Priority


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
    from PIL import Image

    Image.new("RGB", (10, 10)).save(gif, "GIF")
    with pytest.raises(PrintdError) as info:
        parse_job({"ref": "A", "front": str(gif)})
    assert info.value.code == "job.image_unreadable" and "send a PNG or JPEG" in info.value.message
