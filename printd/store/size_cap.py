"""A test knob: caps the database's page count from a file, to make a running daemon meet a full database.

Set ``PRINTD_TEST_MAX_PAGE_COUNT_FILE`` to a file path; while that file holds a number N, the writer connection
runs with ``PRAGMA max_page_count = N`` (SQLite clamps it to the pages already used), so the next write that
needs a new page fails with SQLITE_FULL. An empty or missing file lifts the cap. Unset, nothing is read.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

ENVIRONMENT = "PRINTD_TEST_MAX_PAGE_COUNT_FILE"


class SizeCap:
    def __init__(self, path: Path, uncapped: int) -> None:
        self.path = path
        self.uncapped = uncapped
        self._applied = uncapped

    @classmethod
    def from_environment(cls, conn: sqlite3.Connection) -> SizeCap | None:
        name = os.environ.get(ENVIRONMENT)
        if not name:
            return None
        (uncapped,) = conn.execute("PRAGMA max_page_count").fetchone()
        return cls(Path(name), int(uncapped))

    def apply(self, conn: sqlite3.Connection) -> None:
        """Before a write transaction: the cap the file asks for now."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            text = ""
        pages = int(text) if text else self.uncapped
        if pages != self._applied:
            conn.execute(f"PRAGMA max_page_count = {pages}")
            self._applied = pages
