"""A colour card printed through the real driver and the simulator: the side the simulator decodes back from the
panels it received equals the source image within the quantisation of the chosen levels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drivers.base import Card, Outcome
from drivers.evolis.panels import COLOUR_BLACK_THRESHOLD
from drivers.sim import make_sim_printer


def gradient_face(seed: int) -> bytes:
    """Smooth colour ramps, flat patches and some black text-like bars: every level gets used."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, 1016, dtype=np.float64)
    y = np.linspace(0, 255, 648, dtype=np.float64)
    rgb = np.empty((648, 1016, 3), dtype=np.uint8)
    rgb[:, :, 0] = np.add.outer(y * 0, x).astype(np.uint8)
    rgb[:, :, 1] = np.add.outer(y, x * 0).astype(np.uint8)
    rgb[:, :, 2] = ((np.add.outer(y, x) / 2) % 256).astype(np.uint8)
    rgb[500:560, 40:600] = 0  # a black bar: the K panel
    rgb[100:200, 700:900] = rng.integers(0, 256, 3, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, "PNG")
    return out.getvalue()


def expected(face: bytes, levels: int) -> np.ndarray:
    """What the card should look like: each channel's dye quantised to ``levels``, black where K prints."""
    rgb = np.asarray(Image.open(io.BytesIO(face)).convert("RGB"), dtype=np.int64)
    dye = ((255 - rgb) * (levels - 1) + 127) // 255
    printed = 255 - (dye * 255 + (levels - 1) // 2) // (levels - 1)
    luminance = np.asarray(Image.open(io.BytesIO(face)).convert("L"), dtype=np.int64)
    printed[luminance < COLOUR_BLACK_THRESHOLD] = 0
    return printed


@pytest.mark.parametrize("levels", [32, 64, 128])
def test_printed_sides_decode_back_to_the_source(tmp_path: Path, levels: int) -> None:
    handle = make_sim_printer("colour", cards=3, seconds_per_card=0, save_png_dir=tmp_path, ribbon="ymcko")
    driver = handle.driver(colour_levels=levels, confirm_delay=0)
    driver.open()
    front, back = gradient_face(1), gradient_face(2)
    result = driver.print_card(Card(front=front, back=back))
    assert result.outcome is Outcome.PRINTED
    assert handle.model.physical_truth().in_hopper == 1
    for side, source in (("front", front), ("back", back)):
        saved = np.asarray(Image.open(tmp_path / f"blank-000001-{side}.png").convert("RGB"), dtype=np.int64)
        want = expected(source, levels)
        assert saved.shape == want.shape == (648, 1016, 3)
        assert np.abs(saved - want).max() <= 1, f"{side} differs beyond rounding"
        # and the quantisation step bounds the difference from the source itself
        source_rgb = np.asarray(Image.open(io.BytesIO(source)).convert("RGB"), dtype=np.int64)
        not_black = want.sum(axis=2) > 0
        step = 255 / (levels - 1)
        assert np.abs(saved - source_rgb)[not_black].max() <= step / 2 + 1


def test_mono_ribbon_prints_only_black(tmp_path: Path) -> None:
    handle = make_sim_printer("mono", cards=2, seconds_per_card=0, save_png_dir=tmp_path, ribbon="kb")
    driver = handle.driver(confirm_delay=0)
    driver.open()
    face = gradient_face(3)
    assert driver.print_card(Card(front=face)).outcome is Outcome.PRINTED
    saved = np.asarray(Image.open(tmp_path / "blank-000001-front.png").convert("L"))
    luminance = np.asarray(Image.open(io.BytesIO(face)).convert("L"))
    assert set(np.unique(saved)) <= {0, 255}
    assert np.array_equal(saved == 0, luminance < 128)
