"""The PNG data check against Pillow's full decode: it refuses every damaged image Pillow refuses, accepts every
image Pillow writes, and says which part is damaged without repeating any of the image."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image

from printd.png_check import SIGNATURE, PngError, check_png
from tests.conftest import card_png

MODES = [
    ("1", {}),
    ("L", {}),
    ("P", {}),
    ("RGB", {}),
    ("RGBA", {}),
    ("LA", {}),
    ("I;16", {}),
    ("P", {"bits": 4}),
    ("P", {"bits": 2}),
]


def pillow_png(mode: str, size: tuple[int, int] = (37, 23), **options: object) -> bytes:
    image = Image.effect_noise(size, 60).convert("L").convert(mode if mode != "I;16" else "I").convert(mode)
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def png_from_rows(width: int, height: int, rows: bytes, *, interlace: int = 0) -> bytes:
    """An RGB PNG with these raw rows (filter byte first), every CRC and the zlib checksum correct."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def decodes_in_pillow(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError):
        return False
    return True


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize(("mode", "options"), MODES)
def test_every_image_pillow_writes_passes(mode: str, options: dict[str, object], optimize: bool) -> None:
    for size in ((1, 1), (3, 9), (37, 23), (64, 8)):
        header = check_png(pillow_png(mode, size, optimize=optimize, **options))
        assert (header.width, header.height, header.interlaced) == (*size, False)


def adam7_rows(width: int, height: int, rng: random.Random) -> bytes:
    """The raw rows of an interlaced RGB image (Pillow reads interlaced PNGs but never writes one)."""
    rows = b""
    for x0, y0, dx, dy in (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ):
        w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if w > 0 and h > 0:
            rows += b"".join(bytes([rng.randrange(5)]) + rng.randbytes(3 * w) for _ in range(h))
    return rows


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (9, 9), (37, 23)])
def test_interlaced_images_are_checked_pass_by_pass(size: tuple[int, int]) -> None:
    width, height = size
    rows = adam7_rows(width, height, random.Random(1))
    good = png_from_rows(width, height, rows, interlace=1)
    assert decodes_in_pillow(good) and check_png(good).interlaced
    last_row = len(rows) - (1 + 3 * width)  # the last pass is full width at these sizes
    damaged = png_from_rows(width, height, rows[:last_row] + b"\x07" + rows[last_row + 1 :], interlace=1)
    with pytest.raises(PngError, match="filter type"):
        check_png(damaged)
    with pytest.raises(PngError, match="promises"):
        check_png(png_from_rows(width, height + 1, rows, interlace=1))


def test_a_card_face_passes() -> None:
    header = check_png(card_png("FACE"))
    assert (header.width, header.height, header.colour_type) == (1016, 648, 2)


def test_valid_crcs_over_corrupt_data_are_refused() -> None:
    row = b"\x00" + b"\x80" * 30
    assert check_png(png_from_rows(10, 2, row * 2))
    with pytest.raises(PngError, match="filter type"):
        check_png(png_from_rows(10, 2, row + b"\x05" + row[1:]))
    with pytest.raises(PngError, match="promises"):
        check_png(png_from_rows(10, 3, row * 2))  # a row short
    with pytest.raises(PngError, match=r"promises|decompress"):
        check_png(png_from_rows(10, 2, row * 3))  # a row too many
    assert not decodes_in_pillow(png_from_rows(10, 2, row + b"\x05" + row[1:]))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[:-30], "ends"),
        (lambda d: d[:8] + d[8:40].replace(b"IHDR", b"IHDX") + d[40:], r"CRC|first chunk"),
        (lambda d: b"GIF89a" + d[6:], "signature"),
        (lambda d: d[:-12], "no IEND"),
    ],
)
def test_structural_damage_is_named(damage: object, message: str) -> None:
    data = pillow_png("RGB")
    with pytest.raises(PngError, match=message):
        check_png(damage(data))  # type: ignore[operator]


def test_it_refuses_whatever_pillow_refuses() -> None:
    """Random damage inside the image data with every checksum made right again: no image Pillow cannot decode
    gets through, and an image Pillow decodes is refused only for bytes Pillow does not look at."""
    rng = random.Random(7)
    base = pillow_png("RGB", (40, 30))
    start = base.index(b"IDAT") + 4
    (length,) = struct.unpack(">I", base[start - 8 : start - 4])
    stream = zlib.decompress(base[start : start + length])
    refused_by_both = 0
    for _ in range(300):
        raw = bytearray(stream)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        cut = rng.choice([0, 0, 0, rng.randint(1, 40)])
        data = png_from_rows(40, 30, bytes(raw[: len(raw) - cut]), interlace=0)
        try:
            check_png(data)
            accepted = True
        except PngError:
            accepted = False
        if accepted:
            assert decodes_in_pillow(data)
        else:
            refused_by_both += not decodes_in_pillow(data)
    assert refused_by_both > 50
