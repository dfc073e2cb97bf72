"""Shared fixtures: a store in a temp dir, card images, and the ledger invariant after every store test."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from printd.jobs import Priority
from printd.store import JobContent, NewJob, SqliteStore

pytest_plugins = ["tests.cupsd", "tests.postgres"]  # the private cupsd and the throwaway PostgreSQL fixtures


def card_png(text: str = "TEST", size: tuple[int, int] = (1016, 648)) -> bytes:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 300, 380), outline="black", width=6)
    draw.text((340, 60), text, fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="session")
def png() -> bytes:
    return card_png()


def new_job(ref: str, png: bytes, priority: Priority = Priority.NORMAL, holder: str | None = None) -> NewJob:
    return NewJob(ref=ref, priority=priority, content=JobContent(front=png, holder=holder))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "printd.db", station="test", max_attempts=3)
    yield s
    assert_ledger_consistent(s)
    s.close()


def assert_ledger_consistent(store: SqliteStore) -> None:
    """The invariant, and every kept total equal to what the events and jobs themselves say."""
    folded = store.balance_from_ledger()
    folded.check()
    assert store.balance() == folded
    per_printer = {
        name: {"issued": b.issued, "spoiled": b.spoiled, "in_doubt": b.in_doubt}
        for name, b in store.balance_by_printer_from_ledger().items()
    }
    assert store.balance_by_printer() == per_printer
    assert store.queue_counts() == store.queue_counts_from_jobs()
    assert store.quarters_consistent()
