"""Whether a PNG's image data is whole, without building its pixels: every chunk's CRC, the zlib stream
inflated (libdeflate) to exactly the size the header promises, and a valid filter type at the start of every row.

Unfiltering and colour conversion cannot fail on data that passes, so this refuses what a full decode would refuse,
at a fraction of its cost (most of which is zlib's inflate): a 4 KB card face takes ~0.2 ms where Pillow's decode
takes ~7 ms; a 1.9 MB photographic PNG ~7 ms against ~11 ms.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import deflate
import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples a pixel
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Adam7: (first column, first row, column step, row step) of each pass
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_MAX_FILTER = 4  # None, Sub, Up, Average, Paeth


class PngError(ValueError):
    """The PNG is damaged; the message says where (never any of its content)."""


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlaced: bool

    def row_bytes(self, width: int) -> int:
        return (width * _CHANNELS[self.colour_type] * self.bit_depth + 7) // 8

    def passes(self) -> list[tuple[int, int]]:
        """(rows, bytes a row including its filter byte) of each pass that has pixels."""
        if not self.interlaced:
            return [(self.height, 1 + self.row_bytes(self.width))]
        found = []
        for x0, y0, dx, dy in _ADAM7:
            w, h = (self.width - x0 + dx - 1) // dx, (self.height - y0 + dy - 1) // dy
            if w > 0 and h > 0:
                found.append((h, 1 + self.row_bytes(w)))
        return found


def check_png(data: bytes) -> Header:
    """The header of a PNG whose image data is complete and well formed; raises ``PngError`` otherwise."""
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG signature")
    header, compressed = _read_chunks(memoryview(data)[len(SIGNATURE) :])
    layout = header.passes()
    expected = sum(rows * stride for rows, stride in layout)
    try:
        raw = deflate.zlib_decompress(compressed, expected)
    except deflate.DeflateError:
        raise PngError("the image data does not decompress") from None
    if len(raw) != expected:
        raise PngError(f"the image data holds {len(raw)} bytes where the header promises {expected}")
    pixels, offset = np.frombuffer(raw, dtype=np.uint8), 0
    for rows, stride in layout:
        if pixels[offset : offset + rows * stride : stride].max() > _MAX_FILTER:
            raise PngError("a row has an unknown filter type")
        offset += rows * stride
    return header


def _read_chunks(rest: memoryview) -> tuple[Header, bytes]:
    header: Header | None = None
    idat: list[memoryview] = []
    while True:
        if len(rest) < 12:
            raise PngError("the file ends inside a chunk (no IEND)")
        length, kind = struct.unpack(">I4s", rest[:8])
        if len(rest) < 12 + length:
            raise PngError("the file ends inside a chunk")
        body = rest[8 : 8 + length]
        (crc,) = struct.unpack(">I", rest[8 + length : 12 + length])
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            raise PngError(f"chunk {kind.decode('latin-1')!r} fails its CRC")
        if header is None and kind != b"IHDR":
            raise PngError("the first chunk is not IHDR")
        if kind == b"IHDR":
            header = _header(bytes(body)) if header is None else _twice()
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        rest = rest[12 + length :]
    if header is None or not idat:
        raise PngError("no image data")
    return header, b"".join(idat)


def _header(body: bytes) -> Header:
    if len(body) != 13:
        raise PngError("IHDR has the wrong length")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if not (0 < width < 2**31 and 0 < height < 2**31) or compression or filtering or interlace > 1:
        raise PngError("IHDR holds values no PNG may have")
    if depth not in _DEPTHS.get(colour, ()):
        raise PngError("IHDR holds a bit depth its colour type does not allow")
    return Header(width, height, depth, colour, bool(interlace))


def _twice() -> Header:
    raise PngError("IHDR appears twice")
