"""Card images to Evolis panels and back: geometry, orientation, exact round trips."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from drivers.evolis import panels
from drivers.evolis.protocol import ProtocolError, panel_data_size


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _random_card(seed: int = 7) -> tuple[Image.Image, np.ndarray]:
    rgb = np.random.default_rng(seed).integers(0, 256, (648, 1016, 3), dtype=np.uint8)
    return Image.fromarray(rgb, "RGB"), rgb


def _marked_landscape() -> Image.Image:
    """White landscape card with one black pixel near its top-left corner."""
    image = Image.new("RGB", (1016, 648), "white")
    image.putpixel((10, 20), (0, 0, 0))
    return image


# --------------------------------------------------------------------------------------- card_image


def test_card_image_landscape_is_kept() -> None:
    image, rgb = _random_card()
    card = panels.card_image(_png(image))
    assert card.size == (1016, 648) and card.mode == "RGB"
    assert np.array_equal(np.asarray(card), rgb)


def test_card_image_portrait_is_panel_orientation() -> None:
    landscape, rgb = _random_card()
    portrait = landscape.transpose(Image.Transpose.ROTATE_270)
    assert portrait.size == (648, 1016)
    assert np.array_equal(np.asarray(panels.card_image(_png(portrait))), rgb)
    assert panels.k_panel(portrait) == panels.k_panel(landscape)


@pytest.mark.parametrize("size", [(2032, 1296), (508, 324), (1200, 600), (300, 500), (1, 1)])
def test_card_image_any_size_fits(size: tuple[int, int]) -> None:
    card = panels.card_image(_png(Image.new("RGB", size, "black")))
    assert card.size == (1016, 648)


def test_card_image_pads_with_white_keeping_aspect() -> None:
    card = np.asarray(panels.card_image(_png(Image.new("RGB", (2000, 648), "black"))))
    assert (card[0, 0] == 255).all()  # padding above
    assert (card[324, 500] == 0).all()  # the image in the middle


def test_card_image_transparency_is_white() -> None:
    card = panels.card_image(_png(Image.new("RGBA", (1016, 648), (0, 0, 0, 0))))
    assert (np.asarray(card) == 255).all()


def test_card_image_other_modes() -> None:
    for mode in ("L", "1", "P", "LA"):
        assert panels.card_image(_png(Image.new(mode, (1016, 648)))).size == (1016, 648)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_card_image_unreadable(data: bytes) -> None:
    with pytest.raises(panels.ImageError):
        panels.card_image(data)


# -------------------------------------------------------------------------------------------- K / O


def test_k_panel_size_and_orientation() -> None:
    data = panels.k_panel(_marked_landscape())
    assert len(data) == panel_data_size("k", 2) == 82296
    mask = panels.decode_k_panel(data)
    assert mask.shape == (1016, 648)
    # A quarter turn clockwise: landscape (x=10, y=20) lands at panel line 10, pixel 648 - 1 - 20.
    assert np.argwhere(mask).tolist() == [[10, 627]]
    assert data[10 * 81 + 627 // 8] == 0x80 >> (627 % 8)


def test_k_panel_threshold() -> None:
    grey = np.zeros((648, 1016, 3), dtype=np.uint8)
    grey[:, :508] = 127
    grey[:, 508:] = 128
    mask = panels.decode_k_panel(panels.k_panel(Image.fromarray(grey, "RGB")))
    landscape = np.rot90(mask, k=1)  # undo the clockwise quarter turn
    assert landscape[:, :508].all() and not landscape[:, 508:].any()


def test_k_round_trip_equals_thresholded_source() -> None:
    image, _ = _random_card()
    luminance = np.asarray(image.convert("L"))
    expected = np.rot90(luminance < 128, k=-1)
    assert np.array_equal(panels.decode_k_panel(panels.k_panel(image)), expected)
    assert panels.pack_mono(panels.decode_k_panel(panels.k_panel(image))) == panels.k_panel(image)


def test_o_panel_is_full_varnish() -> None:
    data = panels.o_panel()
    assert data == b"\xff" * 82296
    assert panels.decode_k_panel(data).all()


def test_decode_k_panel_wrong_size() -> None:
    with pytest.raises(ProtocolError):
        panels.decode_k_panel(b"\x00" * 100)


# ------------------------------------------------------------------------------------------ Y / M / C


@pytest.mark.parametrize(("levels", "size"), [(32, 411480), (64, 493776), (128, 576072)])
def test_ymc_round_trip_equals_quantised_source(levels: int, size: int) -> None:
    image, rgb = _random_card()
    dyes = panels.ymc_panels(image, levels)
    assert set(dyes) == {"y", "m", "c"}
    for panel, channel in (("y", 2), ("m", 1), ("c", 0)):
        assert len(dyes[panel]) == size
        expected = np.rot90(panels.quantise(255 - rgb[:, :, channel], levels), k=-1)
        decoded = panels.decode_colour_panel(dyes[panel], levels)
        assert np.array_equal(decoded, expected)
        assert panels.pack_levels(decoded, levels) == dyes[panel]


def test_pack_levels_bit_layout() -> None:
    values = np.zeros((1016, 648), dtype=np.uint8)
    values[0, 0] = 31
    values[0, 1] = 1
    data = panels.pack_levels(values, 32)
    # 11111 00001 000000... -> 0b11111000, 0b01000000
    assert data[:3] == bytes([0b11111000, 0b01000000, 0])


def test_pack_levels_rejects() -> None:
    with pytest.raises(ProtocolError):
        panels.pack_levels(np.full((1016, 648), 32, dtype=np.uint8), 32)
    with pytest.raises(ProtocolError):
        panels.pack_levels(np.zeros((10, 10), dtype=np.uint8), 32)
    with pytest.raises(ProtocolError):
        panels.ymc_panels(Image.new("RGB", (1016, 648)), 16)


def test_quantise_ends() -> None:
    values = np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8)
    assert panels.quantise(values, 32).tolist()[0] == 0
    assert panels.quantise(values, 32).tolist()[-1] == 31
    assert panels.quantise(values, 128).tolist()[-1] == 127


# ---------------------------------------------------------------------------------------- compose_card


def test_compose_mono_card() -> None:
    image = _marked_landscape()
    card = panels.compose_card({"k": panels.k_panel(image), "o": panels.o_panel()})
    assert card.size == (1016, 648) and card.mode == "RGB"
    array = np.asarray(card)
    assert (array[20, 10] == 0).all()
    assert (array == 0).all(axis=2).sum() == 1


def test_compose_colour_card_matches_quantised_source() -> None:
    image, rgb = _random_card()
    levels = 64
    card = np.asarray(panels.compose_card(panels.ymc_panels(image, levels), levels)).astype(int)
    ink = panels.quantise(255 - rgb, levels).astype(int)
    expected = 255 - (ink * 255 + (levels - 1) // 2) // (levels - 1)
    assert np.array_equal(card, expected)
    assert np.abs(card - rgb.astype(int)).max() <= 255 // (levels - 1)


def test_compose_black_over_colour() -> None:
    image = Image.new("RGB", (1016, 648), (200, 30, 30))
    image.putpixel((500, 300), (0, 0, 0))
    side = {**panels.ymc_panels(image, 32), "k": panels.k_panel(image, panels.COLOUR_BLACK_THRESHOLD)}
    card = np.asarray(panels.compose_card(side, 32))
    assert (card[300, 500] == 0).all()
    assert tuple(card[0, 0]) == (197, 33, 33)
