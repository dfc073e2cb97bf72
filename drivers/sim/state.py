"""The simulator's physical state in a JSON file, rewritten atomically after every change, reloaded at start."""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import msgspec
import structlog

from drivers.sim.cards import Blank, CardRecord, card_serial, chip_uid
from drivers.sim.model import Condition, Position, PrinterModel

STATE_VERSION = 1

log = structlog.get_logger("drivers.sim.state")


class StateError(Exception):
    """A state file that cannot be used; the message names the file."""


def snapshot(model: PrinterModel) -> dict[str, Any]:
    """Everything physical about the printer, as JSON-ready data. Blanks in the feeder are always the
    consecutive indexes after the last one fed, so the feeder is stored as its first index and its count."""
    with model.lock:
        first = model.feeder[0].index if model.feeder else model.blanks_loaded + 1
        return {
            "version": STATE_VERSION,
            "serial": model.serial,
            "blanks_loaded": model.blanks_loaded,
            "feeder": {"first": first, "count": len(model.feeder)},
            "card": None if model.card is None else msgspec.to_builtins(model.card),
            "position": model.position.value,
            "hopper": msgspec.to_builtins(model.hopper),
            "reject_box": msgspec.to_builtins(model.reject_box),
            "taken_from_hopper": model.taken_from_hopper,
            "taken_from_reject_box": model.taken_from_reject_box,
            "cards_fed": model.cards_fed,
            "cards_rejected": model.cards_rejected,
            "panels_printed": model.panels_printed,
            "ribbon": {
                "type": model.ribbon_type,
                "cards": model.ribbon_cards,
                "panels_remaining": model.ribbon_panels_remaining,
            },
            "cover_open": model.cover_open,
            "latched": sorted(c.value for c in model.latched),
            "faults_fired": sorted(model.fired),
        }


def restore(model: PrinterModel, data: dict[str, Any]) -> None:
    """Put the state ``data`` (from `snapshot`) into ``model``, replacing what it held."""
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"state version {data.get('version')!r} is not {STATE_VERSION}")
    if data["serial"] != model.serial:
        raise ValueError(f"state of printer {data['serial']!r}, not {model.serial!r}")
    feeder = data["feeder"]
    first, count = int(feeder["first"]), int(feeder["count"])
    if count and first + count - 1 != int(data["blanks_loaded"]):
        raise ValueError("feeder does not end at the last blank loaded")
    with model.lock:
        model.blanks_loaded = int(data["blanks_loaded"])
        model.feeder = deque(
            Blank(i, chip_uid(model.serial, i), card_serial(model.serial, i)) for i in range(first, first + count)
        )
        model.card = None if data["card"] is None else msgspec.convert(data["card"], CardRecord)
        model.position = Position(data["position"])
        model.hopper = [msgspec.convert(card, CardRecord) for card in data["hopper"]]
        model.reject_box = [msgspec.convert(card, CardRecord) for card in data["reject_box"]]
        model.taken_from_hopper = int(data["taken_from_hopper"])
        model.taken_from_reject_box = int(data["taken_from_reject_box"])
        model.cards_fed = int(data["cards_fed"])
        model.cards_rejected = int(data["cards_rejected"])
        model.panels_printed = int(data["panels_printed"])
        ribbon = data["ribbon"]
        model.ribbon_type = str(ribbon["type"])
        model.ribbon_cards = int(ribbon["cards"])
        model.ribbon_panels_remaining = int(ribbon["panels_remaining"])
        model.cover_open = bool(data["cover_open"])
        model.latched = {Condition(c) for c in data["latched"]}
        model.fired = set(data["faults_fired"])
        model.arm_faults()


def write_atomically(path: Path, text: str | bytes, *, durable: bool = True) -> None:
    """Write a temporary file beside ``path`` and rename it over ``path``: a reader (or a process that
    crashed mid-write) sees the old file or the new one, never a mix. ``durable`` also fsyncs the file and the
    directory, so the new state survives a power loss too."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode() if isinstance(text, str) else text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not durable:
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateFile:
    """A model's state kept in ``path``: `attach` loads it (if the file exists) and saves every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, model: PrinterModel) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            restore(model, data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"simulator state file {self.path}: {exc}") from exc

    def save(self, model: PrinterModel) -> None:
        # Saved after every physical change: atomic against a crash of any process, not fsynced (a simulator
        # need not survive a power cut, and fsyncing each change would slow every simulated card).
        write_atomically(self.path, msgspec.json.encode(snapshot(model)) + b"\n", durable=False)

    def attach(self, model: PrinterModel) -> bool:
        """Load the saved state if there is one (True), else save the model's; then save after every change."""
        loaded = self.exists()
        if loaded:
            self.load(model)
        else:
            self.save(model)
        model.subscribe(self._save_after_change)
        return loaded

    def _save_after_change(self, model: PrinterModel) -> None:
        # A printer does not stop because its simulator's file cannot be written: the model in memory is
        # still the truth, and the next change tries again.
        try:
            self.save(model)
        except OSError as exc:
            log.error("sim.state_not_saved", path=str(self.path), error=type(exc).__name__)
