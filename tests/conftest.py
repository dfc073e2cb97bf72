"""Shared fixtures: a store in a temp dir, card images, and the ledger invariant after every store test."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from printd.jobs import Priority
from printd.store import JobContent, NewJob, SqliteStore, Store
from printd.store.engines import open_store
from printd.store.postgres import PostgresStore

pytest_plugins = ["tests.cupsd", "tests.postgres", "tests.pcscd"]  # private cupsd, throwaway PostgreSQL, private pcscd

# printctl speaks the language of LANGUAGE/LC_ALL/LC_MESSAGES/LANG and writes numbers and times as the locale does
# (printd.i18n). The suite reads its English, plain output: every test, and every daemon or tool it starts, runs in
# the C locale whatever the developer's own. tests/test_i18n.py sets its languages itself.
for _variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_variable, None)
os.environ["LANG"] = "C.UTF-8"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker (``make test`` runs ``--dist loadscope``, a module's tests on one worker in their
    order, its module-scoped daemon or cluster made once, as in a serial run): the modules with a scenario marked slow
    are handed out first, so that none of them starts near the end and keeps the whole run waiting for it alone. A
    serial run keeps the files' order."""
    if not hasattr(config, "workerinput"):
        return
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)  # stable: each module's tests keep their order


PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keeps each phase's report (setup, call, teardown) on the item, for fixtures that must know whether the test
    they served failed: ``request.node.stash[PHASE_REPORTS]``."""
    report: pytest.TestReport = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def short_tmp_path() -> Iterator[Path]:
    """A temporary directory of a short path, removed afterwards, for programs that make Unix sockets a few levels
    below it: a socket's path holds at most 107 bytes, and a pytest-xdist worker's ``tmp_path`` is longer than a
    serial run's (``.../popen-gw3/...``)."""
    path = Path(tempfile.mkdtemp(prefix="printd-t-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


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


ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store of station "test" on each engine: every test that takes it is the one store contract suite."""
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres")
        s = open_store(cluster.fresh_database(), station="test", max_attempts=3)
    else:
        s = open_store(tmp_path / "printd.db", station="test", max_attempts=3)
    yield s
    assert_ledger_consistent(s)
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    """For what only SQLite has: its file, its pragmas, its migrations from older printd versions."""
    s = SqliteStore(tmp_path / "printd.db", station="test", max_attempts=3)
    yield s
    assert_ledger_consistent(s)
    s.close()


class RefusedError(Exception):
    """The database itself refused a statement (a trigger, a constraint)."""


def raw_sql(store: Store, sql: str) -> list[tuple[object, ...]]:
    """Run ``sql`` on a connection of its own, past the store, as another process would; committed."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        try:
            rows = conn.execute(sql).fetchall()
            conn.commit()
            return rows
        except sqlite3.DatabaseError as exc:
            raise RefusedError(str(exc)) from exc
        finally:
            conn.close()
    import psycopg

    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.url, autocommit=True) as pg:
        try:
            cur = pg.execute(sql)
            return [tuple(row) for row in cur.fetchall()] if cur.description else []
        except psycopg.DatabaseError as exc:
            raise RefusedError(str(exc)) from exc


def assert_ledger_consistent(store: Store) -> None:
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
    assert store.backlog_by_priority() == store.backlog_by_priority_from_jobs()
    assert store.quarters_consistent()
    per_station = store.balance_by_station_from_ledger()
    for balance in per_station.values():
        balance.check()
    assert store.balance_by_station() == per_station
