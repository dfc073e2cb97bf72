"""The backend's record of its last job, kept by CUPS in the queue's marker-message attribute."""

# A CUPS backend can set only a few printer attributes (``ATTR:`` lines): auth-info-*, job-media-progress,
# printer-alert(-description) and marker-*. CUPS drops any other name. Of those, the marker-* attributes are
# the ones CUPS also saves in printers.conf, so they survive a restart of the scheduler. The backend writes
# this record to marker-message at the start of every job (outcome "started") and again at its end:
#
#   printd/1 job=12 outcome=spoiled category=print_failed reason=media-jam-error chip=04A1B2C3D4E5F6
#            before=4 fed=5 rejected=1 panels=20 ribbon=496 serial=SIM1234567 model=Primacy firmware=SIM-1.0
#
# Tokens are separated by spaces; values hold no space, comma or quote (CUPS splits marker-message values on
# commas). ``job`` is the CUPS job id; ``outcome`` is started, printed, spoiled, not_fed, unknown, refused (the
# document was refused: nothing was fed) or none (a printer command); ``before`` and ``fed`` are the printer's
# inserted-card counter before and after the card; ``ribbon`` counts the cards the ribbon has left. Every
# field after ``outcome`` may be missing. The record carries no personal data: a chip UID identifies a blank.

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, fields

from drivers.base import Counters

TAG = "printd/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/+@-]")


class RecordOutcome(enum.StrEnum):
    STARTED = "started"
    PRINTED = "printed"
    SPOILED = "spoiled"
    NOT_FED = "not_fed"
    UNKNOWN = "unknown"
    REFUSED = "refused"
    NONE = "none"

    @property
    def final(self) -> bool:
        """True when the record settles the job (a job that only started settles nothing)."""
        return self is not RecordOutcome.STARTED


_KEYS = {"fed_before": "before"}
_INTS = frozenset({"job", "fed_before", "fed", "rejected", "panels", "ribbon"})


@dataclass(frozen=True)
class BackendRecord:
    job: int
    outcome: RecordOutcome
    category: str | None = None
    reason: str | None = None
    chip: str | None = None
    fed_before: int | None = None
    fed: int | None = None
    rejected: int | None = None
    panels: int | None = None
    ribbon: int | None = None
    serial: str | None = None
    model: str | None = None
    firmware: str | None = None

    def format(self) -> str:
        tokens = [TAG]
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                tokens.append(f"{_KEYS.get(item.name, item.name)}={_UNSAFE.sub('_', str(value)) or '_'}")
        return " ".join(tokens)

    @classmethod
    def parse(cls, text: str | None) -> BackendRecord | None:
        """The record in ``text``, or None when it is not one (another backend's marker message)."""
        words = (text or "").split()
        if not words or words[0] != TAG:
            return None
        names = {_KEYS.get(item.name, item.name): item.name for item in fields(cls)}
        values: dict[str, object] = {}
        for word in words[1:]:
            key, _, value = word.partition("=")
            name = names.get(key)
            if name is None or not value:
                continue
            if name in _INTS:
                if not value.isdigit():
                    return None
                values[name] = int(value)
            else:
                values[name] = value
        try:
            values["outcome"] = RecordOutcome(str(values.get("outcome")))
            return cls(**values)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return None

    def counters(self) -> Counters | None:
        if self.fed is None:
            return None
        return Counters(
            cards_fed=self.fed, cards_rejected=self.rejected, panels_printed=self.panels, ribbon_remaining=self.ribbon
        )
