"""The panels of a card's faces as an Evolis printer takes them, by ribbon (the back rendered in a helper thread)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from drivers.base import Card
from drivers.evolis import panels, protocol

MONO_RIBBONS = frozenset({"kb", "kw", "kr", "kbl", "kgr", "kgo", "ksi", "ksc", "ka"})
_COLOUR = ("y", "m", "c", "k", "o")


def ribbon_panels(ribbon: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The panels printed on the front and on the back with ``ribbon``; ValueError for an unknown ribbon."""
    if ribbon in MONO_RIBBONS:
        return ("k",), ("k",)
    if ribbon == "ko":
        return ("k", "o"), ("k", "o")
    if ribbon in ("ymcko", "ymckos"):
        return _COLOUR, _COLOUR
    if ribbon == "ymckok":
        return _COLOUR, ("k",)
    raise ValueError(f"unsupported ribbon {ribbon!r}")


@dataclass(frozen=True)
class Panel:
    """One panel of one side, as sent with ``Db``."""

    panel: str
    levels: int
    data: bytes


_render_pool: ThreadPoolExecutor | None = None
_render_pool_lock = threading.Lock()


def render_card(card: Card, ribbon: str, colour_levels: int = 32) -> tuple[list[Panel], list[Panel] | None]:
    """The panels of both sides of ``card``. The back renders in a helper thread while this one renders the
    front: Pillow and numpy release the GIL for the heavy work, so a two-sided card takes about one side's time
    on a machine with two cores. Raises panels.ImageError."""
    global _render_pool  # noqa: PLW0603 - one small pool shared by every printer's driver
    front_names, back_names = ribbon_panels(ribbon)
    back_future: Future[list[Panel]] | None = None
    if card.back is not None:
        with _render_pool_lock:
            if _render_pool is None:
                _render_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="panels")
        back_future = _render_pool.submit(render_side, card.back, back_names, colour_levels)
    front = render_side(card.front, front_names, colour_levels)
    return front, None if back_future is None else back_future.result()


def render_side(face: bytes, names: Sequence[str], colour_levels: int = 32) -> list[Panel]:
    """The panels ``names`` (e.g. y, m, c, k, o) of one card face, ready to send. Raises panels.ImageError."""
    image = panels.to_panel(panels.card_image(face))
    colour = any(name in protocol.COLOUR_PANELS for name in names)
    dyes = panels.ymc_panels(image, colour_levels) if colour else {}
    threshold = panels.COLOUR_BLACK_THRESHOLD if colour else panels.BLACK_THRESHOLD
    result: list[Panel] = []
    for name in names:
        if name in dyes:
            result.append(Panel(name, colour_levels, dyes[name]))
        elif name == "k":
            result.append(Panel("k", 2, panels.k_panel(image, threshold)))
        else:
            result.append(Panel("o", 2, panels.o_panel()))
    return result
