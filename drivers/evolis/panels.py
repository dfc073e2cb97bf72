"""Card images to Evolis panel data (Db payloads, and Dbc's compressed K/O form) and back, vectorised with numpy."""

# Orientation (the one convention both directions follow exactly):
#
# * A card image is handled in the landscape layout of an ID-1 card: 1016 x 648 pixels (86 x 54 mm at
#   300 dpi), as people look at it. `card_image` returns that; `compose_card` returns that.
# * A panel is the landscape card rotated a quarter turn clockwise: a portrait bitmap 648 pixels wide and
#   1016 lines high, sent line after line from its top line, each line from its left pixel (the public
#   evolis-driver.pl rotates its page with `pnmflip -rotate270`, the same quarter turn). A portrait input
#   image is taken to be in that panel orientation already, so it is turned back a quarter turn to landscape.
# * K and O: 1 bit a pixel, most significant bit first, 1 = print (resin black, varnish). Y, M, C: 5, 6 or
#   7 bits a pixel, most significant bit first, packed end to end; the value is the amount of dye, 0 = none,
#   levels - 1 = full (Y from blue, M from green, C from red: 255 - channel, quantised).
#
# Compressed K/O (the ``Dbc`` payload; Evolis Programming Guide A5013 rev. E, "Data compression"): line by
# line, 1016 lines of 81 bytes. A line of all 0x00 bytes (white) is the single byte 0x00; a line of all 0xFF
# bytes (black) the single byte 0xFF; any other line is N (1..81), the index of its last non-zero byte, then
# its first N bytes (the bytes after them are white).

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from drivers.evolis.protocol import PANEL_HEIGHT, PANEL_WIDTH, ProtocolError, panel_bits, panel_data_size

LINE_BYTES = PANEL_WIDTH // 8
"""Bytes in one K/O panel line (81)."""
WHITE_LINE = 0x00
BLACK_LINE = 0xFF

CARD_WIDTH = PANEL_HEIGHT
"""Landscape card image width in pixels."""
CARD_HEIGHT = PANEL_WIDTH
"""Landscape card image height in pixels."""

BLACK_THRESHOLD = 128
"""K panel for a mono ribbon: black where luminance (0-255) is below this, i.e. under 50 %."""
COLOUR_BLACK_THRESHOLD = 40
"""K panel next to Y/M/C: only near-black pixels get resin, the rest is dye."""

BoolArray = npt.NDArray[np.bool_]
U8Array = npt.NDArray[np.uint8]


class ImageError(ValueError):
    """A card face that cannot be used (unreadable, empty). Its message never carries image data."""


def card_image(png_bytes: bytes) -> Image.Image:
    """Decode a card face (PNG or any format Pillow reads) to a landscape 1016 x 648 RGB image.

    Any size is resized to fit, keeping its aspect ratio and padding with white; a portrait image is in
    panel orientation and is turned to landscape first.
    """
    try:
        image = Image.open(io.BytesIO(png_bytes))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"card image cannot be read ({type(exc).__name__})") from None
    return fit_card(image)


def fit_card(image: Image.Image) -> Image.Image:
    """Any PIL image to the landscape 1016 x 648 RGB card layout (see `card_image`)."""
    if image.width == 0 or image.height == 0:
        raise ImageError("card image is empty")
    if image.mode != "RGB":
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    if image.height > image.width:
        image = image.transpose(Image.Transpose.ROTATE_90)
    if image.size == (CARD_WIDTH, CARD_HEIGHT):
        return image
    scale = min(CARD_WIDTH / image.width, CARD_HEIGHT / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    card = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), "white")
    card.paste(resized, ((CARD_WIDTH - size[0]) // 2, (CARD_HEIGHT - size[1]) // 2))
    return card


def to_panel(image: Image.Image) -> Image.Image:
    """The card in panel orientation (648 wide, 1016 high, RGB); an image already so is returned as it is.

    Render a side by calling this once and passing its result to the panel functions below.
    """
    if image.size == (PANEL_WIDTH, PANEL_HEIGHT) and image.mode == "RGB":
        return image
    return fit_card(image).transpose(Image.Transpose.ROTATE_270)


def black_mask(image: Image.Image, threshold: int = BLACK_THRESHOLD) -> BoolArray:
    """Where the K panel prints, in panel orientation: luminance (ITU-R 601) below ``threshold``."""
    luminance = np.asarray(to_panel(image).convert("L"))
    mask: BoolArray = luminance < threshold
    return mask


def pack_mono(mask: BoolArray) -> bytes:
    """A (1016, 648) bit mask to K/O panel data."""
    if mask.shape != (PANEL_HEIGHT, PANEL_WIDTH):
        raise ProtocolError(f"a panel is {PANEL_HEIGHT} x {PANEL_WIDTH}, not {mask.shape}")
    return np.packbits(mask, axis=1).tobytes()


def k_panel(image: Image.Image, threshold: int = BLACK_THRESHOLD) -> bytes:
    """The 1-bit black panel (82,296 bytes): black where the pixel's luminance is below ``threshold``."""
    return pack_mono(black_mask(image, threshold))


def o_panel() -> bytes:
    """The overlay panel: varnish everywhere."""
    return b"\xff" * panel_data_size("o", 2)


def quantise(values: U8Array, levels: int) -> U8Array:
    """0-255 values to 0..levels-1, rounding to the nearest level."""
    scaled = (values.astype(np.uint32) * (levels - 1) + 127) // 255
    return scaled.astype(np.uint8)


def dye_levels(image: Image.Image, levels: int) -> dict[str, U8Array]:
    """The Y, M and C dye amounts (0..levels-1) of a card, each (1016, 648) in panel orientation."""
    panel_bits("y", levels)
    # dye = quantise(255 - channel), applied by Pillow as a lookup table on each band
    table = quantise(255 - np.arange(256, dtype=np.uint8), levels).tolist()
    dyes = np.asarray(to_panel(image).point(table * 3), dtype=np.uint8)
    return {"y": dyes[:, :, 2], "m": dyes[:, :, 1], "c": dyes[:, :, 0]}


def pack_levels(values: U8Array, levels: int) -> bytes:
    """A (1016, 648) array of 0..levels-1 to Y/M/C panel data, 5/6/7 bits a pixel end to end."""
    bits = panel_bits("y", levels)
    if values.shape != (PANEL_HEIGHT, PANEL_WIDTH):
        raise ProtocolError(f"a panel is {PANEL_HEIGHT} x {PANEL_WIDTH}, not {values.shape}")
    if int(values.max(initial=0)) >= levels:
        raise ProtocolError(f"panel values exceed {levels - 1}")
    # Eight pixels of `bits` bits make exactly `bits` bytes. Work column-wise on the eight pixels of every
    # group: output byte j takes the part of each pixel whose bits fall in [8j, 8j + 8) of the group.
    pixels = values.reshape(-1, 8).T.copy()
    out = np.zeros((bits, pixels.shape[1]), dtype=np.uint8)
    for j in range(bits):
        for i in range(8):
            start, end = i * bits, (i + 1) * bits
            if end <= 8 * j or start >= 8 * j + 8:
                continue
            shift = end - (8 * j + 8)
            out[j] |= pixels[i] >> shift if shift >= 0 else pixels[i] << -shift  # uint8: high bits drop
    return out.T.tobytes()


def ymc_panels(image: Image.Image, levels: int) -> dict[str, bytes]:
    """The Y, M and C panels of a card at 32, 64 or 128 levels."""
    return {panel: pack_levels(values, levels) for panel, values in dye_levels(image, levels).items()}


def compress_mono(data: bytes) -> bytes:
    """K/O panel data (82,296 bytes) to its compressed ``Dbc`` form (see the top of this module)."""
    if len(data) != panel_data_size("k", 2):
        raise ProtocolError(f"a K/O panel is {panel_data_size('k', 2)} bytes, not {len(data)}")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(PANEL_HEIGHT, LINE_BYTES)
    inked = rows != 0
    # N, the 1-based index of each line's last non-zero byte (0 for a white line)
    last = np.where(inked.any(axis=1), LINE_BYTES - np.argmax(inked[:, ::-1], axis=1), 0).tolist()
    black = (rows == BLACK_LINE).all(axis=1).tolist()
    out = bytearray()
    for line, (n, full) in enumerate(zip(last, black, strict=True)):
        if full:
            out.append(BLACK_LINE)
        elif n == 0:
            out.append(WHITE_LINE)
        else:
            start = line * LINE_BYTES
            out.append(n)
            out += data[start : start + n]
    return bytes(out)


def decompress_mono(data: bytes) -> bytes:
    """A compressed K/O panel (``Dbc`` payload) back to its 82,296 bytes; ProtocolError when it is not exactly
    1016 well-formed lines."""
    out = bytearray()
    i, lines, size = 0, 0, len(data)
    while i < size:
        if lines == PANEL_HEIGHT:
            raise ProtocolError(f"compressed panel has bytes after its {PANEL_HEIGHT} lines")
        head = data[i]
        i += 1
        if head == WHITE_LINE:
            out += bytes(LINE_BYTES)
        elif head == BLACK_LINE:
            out += b"\xff" * LINE_BYTES
        elif head <= LINE_BYTES:
            if i + head > size:
                raise ProtocolError(f"compressed panel line {lines + 1} is cut short")
            out += data[i : i + head]
            out += bytes(LINE_BYTES - head)
            i += head
        else:
            raise ProtocolError(f"compressed panel line {lines + 1} announces {head} bytes (at most {LINE_BYTES})")
        lines += 1
    if lines != PANEL_HEIGHT:
        raise ProtocolError(f"compressed panel has {lines} lines, not {PANEL_HEIGHT}")
    return bytes(out)


def decode_k_panel(data: bytes) -> BoolArray:
    """K/O panel data to a (1016, 648) mask in panel orientation, True where it prints."""
    if len(data) != panel_data_size("k", 2):
        raise ProtocolError(f"a K/O panel is {panel_data_size('k', 2)} bytes, not {len(data)}")
    raw = np.frombuffer(data, dtype=np.uint8).reshape(PANEL_HEIGHT, PANEL_WIDTH // 8)
    mask: BoolArray = np.unpackbits(raw, axis=1).astype(np.bool_)
    return mask


def decode_colour_panel(data: bytes, levels: int) -> U8Array:
    """Y/M/C panel data to a (1016, 648) array of dye amounts 0..levels-1 in panel orientation."""
    bits = panel_bits("y", levels)
    size = panel_data_size("y", levels)
    if len(data) != size:
        raise ProtocolError(f"a {levels}-level panel is {size} bytes, not {len(data)}")
    groups = np.zeros((size // bits, 8), dtype=np.uint8)
    groups[:, 8 - bits :] = np.frombuffer(data, dtype=np.uint8).reshape(-1, bits)
    words = groups.view(">u8").reshape(-1, 1)
    shifts = np.arange(7, -1, -1, dtype=np.uint64) * np.uint64(bits)
    mask = np.uint64((1 << bits) - 1)
    values: U8Array = ((words >> shifts) & mask).astype(np.uint8)
    return values.reshape(PANEL_HEIGHT, PANEL_WIDTH)


def compose_card(panels: Mapping[str, bytes], levels: int = 32) -> Image.Image:
    """What one printed side looks like: a landscape 1016 x 648 RGB image.

    Y/M/C (at ``levels``) subtract from white, K prints black over them; O (varnish) does not show.
    """
    rgb = np.full((PANEL_HEIGHT, PANEL_WIDTH, 3), 255, dtype=np.uint8)
    for panel, channel in (("c", 0), ("m", 1), ("y", 2)):
        if panel in panels:
            amount = decode_colour_panel(panels[panel], levels).astype(np.uint32)
            rgb[:, :, channel] = 255 - (amount * 255 + (levels - 1) // 2) // (levels - 1)
    if "k" in panels:
        rgb[decode_k_panel(panels["k"])] = 0
    return Image.fromarray(rgb, "RGB").transpose(Image.Transpose.ROTATE_90)
