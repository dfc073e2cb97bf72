"""The simulated printer's job journal beside its state file: which CUPS job fed which blank, and its fate."""

# One JSON object a line, appended and fsynced, never rewritten (``<state file>.journal``):
#
#   {"event": "started", "job": "urn:uuid:…", "job_id": 12, "cards_fed": 4, "time": …}   before any blank moves
#   {"event": "outcome", "job": "urn:uuid:…", "record": "printd/1 job=12 outcome=printed …", "time": …}
#   {"event": "leftover", "card": 5, "time": …}   a card left in the printer, sent to the reject box
#
# "started" is written before the card's first command, so a job the scheduler runs a second time (CUPS
# restarts a job that was printing when it stopped) is recognised and never feeds a second blank.

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.cups.record import BackendRecord


@dataclass(frozen=True)
class JobEntry:
    """What the journal knows of one job: it started (with the counter then), and its record if it ended."""

    job_id: int
    cards_fed: int | None
    record: BackendRecord | None


class Journal:
    def __init__(self, state_file: Path) -> None:
        self.path = state_file.with_name(state_file.name + ".journal")

    def started(self, job: str, job_id: int, cards_fed: int) -> None:
        self._append({"event": "started", "job": job, "job_id": job_id, "cards_fed": cards_fed})

    def finished(self, job: str, record: BackendRecord) -> None:
        self._append({"event": "outcome", "job": job, "record": record.format()})

    def leftover(self, card: int) -> None:
        self._append({"event": "leftover", "card": card})

    def lookup(self, job: str) -> JobEntry | None:
        entry: JobEntry | None = None
        for line in self.lines():
            if line.get("job") != job:
                continue
            if line.get("event") == "started":
                entry = JobEntry(int(line.get("job_id", 0)), line.get("cards_fed"), None)
            elif line.get("event") == "outcome" and entry is not None:
                entry = JobEntry(entry.job_id, entry.cards_fed, BackendRecord.parse(line.get("record")))
        return entry

    def lines(self) -> list[dict[str, Any]]:
        """Every entry; a torn last line (the process died mid-write) is skipped."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries = []
        for raw in text.splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def _append(self, entry: dict[str, Any]) -> None:
        data = (json.dumps(entry | {"time": round(time.time(), 3)}, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
