"""The records the store hands out: jobs, their content, attempts, spoiled blanks."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from printd.jobs import JobState, Priority

if TYPE_CHECKING:  # cards.py uses these records itself
    from printd.store.cards import Card


@dataclass(frozen=True)
class JobContent:
    """Card faces (PNG bytes), chip payload and holder display name: the only personal data printd holds."""

    front: bytes
    back: bytes | None = None
    chip: bytes | None = None
    holder: str | None = None

    @property
    def size(self) -> int:
        """Bytes of content held."""
        return len(self.front) + len(self.back or b"") + len(self.chip or b"") + len((self.holder or "").encode())

    def digest(self) -> str:
        """A fingerprint of the content, so a re-submitted ``ref`` can be told apart from a conflicting one."""
        h = hashlib.sha256()
        for part in (self.front, self.back, self.chip, (self.holder or "").encode()):
            h.update(len(part or b"").to_bytes(8, "big"))
            h.update(part or b"")
        return h.hexdigest()


@dataclass(frozen=True)
class NewJob:
    ref: str
    priority: Priority
    content: JobContent
    digest: str = field(default="")
    station: str | None = None
    """The only station whose printers may print it (a walk-in at that counter, a school batch for the van)."""

    def __post_init__(self) -> None:
        if not self.digest:
            bound = f"@{self.station}" if self.station else ""
            object.__setattr__(self, "digest", self.content.digest() + f":{int(self.priority)}{bound}")


@dataclass(frozen=True)
class JobRecord:
    id: int
    ref: str
    priority: Priority
    state: JobState
    attempts: int
    printer: str | None
    created_at: float
    updated_at: float
    station: str | None = None
    """The station bound to print it; None: any station of the queue."""

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "ref": self.ref,
            "priority": self.priority.label,
            "state": self.state.value,
            "attempts": self.attempts,
            "printer": self.printer,
            "station": self.station,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class Attempt:
    """A write-ahead record: committed before the driver may feed a blank."""

    id: int
    job_id: int
    printer: str
    number: int
    cards_fed_before: int | None
    started_at: float


@dataclass(frozen=True)
class Claim:
    job: JobRecord
    attempt: Attempt
    content: JobContent


@dataclass(frozen=True)
class SubmitResult:
    job: JobRecord
    duplicate: bool


def iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Person:
    """A party or witness of an official report: name, NIP (civil-servant number), rank and position."""

    name: str
    nip: str = ""
    rank: str = ""  # pangkat/golongan
    position: str = ""  # jabatan


@dataclass(frozen=True)
class HandoverItem:
    """One spoiled blank listed in a berita acara's annex. No personal data: a job reference, never a name."""

    ledger_id: int
    spoiled_at: float
    category: str
    chip_uid: str | None
    printer: str | None
    station: str
    job_ref: str | None
    officer: str  # who booked the spoil


@dataclass(frozen=True)
class Handover:
    """A berita acara: spoiled blanks leaving the office, destroyed (pemusnahan) or returned (penyerahan)."""

    number: str
    kind: str  # "destroyed" | "returned"
    at: float  # when it was booked
    station: str
    place: str
    through: dt.date | None  # spoils up to this local date were taken
    officers: list[Person]
    witnesses: list[Person]
    items: list[HandoverItem]
    actor: str

    def per_category(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.category] = counts.get(item.category, 0) + 1
        return counts


@dataclass(frozen=True)
class QcSpoil:
    """A QC rejection's answer: the job after it, the card, whether this request booked the spoil (False: the card
    was booked spoiled before) and whether the job prints again."""

    job: JobRecord
    card: Card
    booked: bool
    reprint: bool
