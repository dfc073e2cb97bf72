"""Card holders' personal data in a full day's scenario: never in a log line, an error or anything printctl shows;
kept from everyone but printd's user; and gone from the database once retention after each job's end has passed."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, Printctl, SimSpec, settled, wait_for

RESIDENTS = {
    "REG-0001": ("SITI NURHALIZA", "3171234567890123"),
    "REG-0002": ("AHMAD DHANI PRASETYO", "3578012345670001"),
    "REG-0003": ("I GUSTI AYU PUTU WIDIASTUTI", "5171045509870002"),
    "REG-0004": ("YOHANES KRISTIANTO", "9171012001900003"),
    "REG-0005": ("DEWI SARTIKA LESTARI", "3201234567890004"),
    "REG-0006": ("BUDI SANTOSO WIBOWO", "3302151708850005"),
}
# What must never show: every name, every part of a name longer than a particle, every NIK.
SECRETS = sorted(
    {nik for _, nik in RESIDENTS.values()}
    | {name for name, _ in RESIDENTS.values()}
    | {part for name, _ in RESIDENTS.values() for part in name.split() if len(part) > 3}
    | {part.title() for name, _ in RESIDENTS.values() for part in name.split() if len(part) > 3}
)

PRINTER = "loket-1"
# Cards as p1 feeds them: 1 good, 2 fails to print (to the reject box), 3 its reprint, 4 a garbled reply (in doubt).
FAULTS = ["card 2: print fails", "card 4: garbled reply"]


def holder(ref: str) -> str:
    return RESIDENTS[ref][0]


def chip(ref: str) -> str:
    name, nik = RESIDENTS[ref]
    return f"NIK={nik};NAMA={name};TTL=JAKARTA 01-01-1990"


def face_file(folder: Path, ref: str) -> Path:
    """A face image named the way a busy clerk names it: after the resident."""
    name, nik = RESIDENTS[ref]
    path = folder / f"{name.replace(' ', '_')}_{nik}.png"
    path.write_bytes(card_png(f"{name} {nik}"))
    return path


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path / "station", [SimSpec(PRINTER, faults=FAULTS)])
    d.directory.mkdir()
    d.start()
    yield d
    d.kill()


def test_personal_data_never_shows_and_is_purged(
    daemon: DaemonProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    ctl = Printctl(daemon.socket, capsys)
    staff = tmp_path / "staff"
    staff.mkdir()

    def job_file(ref: str, priority: str = "normal", **extra: object) -> Path:
        name, nik = RESIDENTS[ref]
        body = {
            "ref": ref,
            "priority": priority,
            "front": str(face_file(staff, ref)),
            "holder": name,
            "chip": chip(ref),
        }
        path = staff / f"{name.replace(' ', '_')}_{nik}.json"
        path.write_text(json.dumps(body | extra))
        return path

    ctl("stock", "receive", "40", "--ref", "BA-2026-11")
    # card 1: printed
    ctl("submit", str(job_file("REG-0001", "walk_in")))
    settled(ctl, "REG-0001", "done")
    # card 2 fails to print: spoiled, printed again on card 3
    ctl("submit", str(job_file("REG-0002")))
    settled(ctl, "REG-0002", "done")
    # card 4: the printer's reply is garbled, so the card's fate is in doubt until an operator looks
    ctl("submit", str(job_file("REG-0003")))
    settled(ctl, "REG-0003", "in_doubt")
    assert ctl.json("status")["queue"]["in_doubt"] == 1
    ctl("resolve", "REG-0003", "--printed", "--note", "found in the output hopper")
    # rejected at inspection: booked spoiled, printed again (card 5)
    [card] = ctl.json("job", "REG-0001")["cards"]
    ctl("spoil", "REG-0001", "--attempt", str(card["attempt"]), "--category", "damaged", "--detail", "laminate peeled")
    settled(ctl, "REG-0001", "done")

    # the same reference with other content, an image that is not one, one that is missing, a name as the ref
    conflict = job_file("REG-0001", holder="SITI NURHALIZA BINTI AHMAD")
    assert "job.ref_conflict" in ctl("submit", str(conflict), expect=1)
    bad_image = staff / "AHMAD_DHANI_PRASETYO_3578012345670001_scan.png"
    bad_image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"AHMAD DHANI PRASETYO 3578012345670001" * 10)
    assert "job.image_unreadable" in ctl("submit", str(job_file("REG-0005", front=str(bad_image))), expect=1)
    missing = staff / "DEWI_SARTIKA_LESTARI_3201234567890004_missing.png"
    assert "job.image_missing" in ctl("submit", str(job_file("REG-0005", front=str(missing))), expect=1)
    name_as_ref = job_file("REG-0005")
    name_as_ref.write_text(name_as_ref.read_text().replace("REG-0005", "DEWI SARTIKA LESTARI 3201234567890004"))
    assert "job.invalid" in ctl("submit", str(name_as_ref), expect=1)

    # a batch with a bad line among good ones, named after a resident too
    batch = staff / "BUDI_SANTOSO_WIBOWO_3302151708850005.jsonl"
    lines = [
        {"ref": "REG-0006", "front": str(face_file(staff, "REG-0006")), "holder": holder("REG-0006")},
        {"ref": "REG-0007", "front": str(bad_image), "holder": "BUDI SANTOSO WIBOWO", "chip": chip("REG-0006")},
    ]
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n" + '{"ref": "BUDI SANTOSO WIBOWO", ' + "\n")
    assert "Rejected jobs" in ctl("submit", "--batch", str(batch), expect=1)
    settled(ctl, "REG-0006", "done")

    # the spool: a file named after the resident, with the resident's data in it
    spool = daemon.directory / "spool"
    face_file(spool, "REG-0004")
    dropped = spool / ".incoming.tmp"
    dropped.write_text(
        json.dumps(
            {"ref": "REG-0004", "front": f"{face_file(spool, 'REG-0004').name}", "holder": holder("REG-0004")}
            | {"chip": chip("REG-0004"), "priority": "backlog"}
        )
    )
    dropped.rename(spool / "YOHANES_KRISTIANTO_9171012001900003.json")
    kept = spool / "done" / "YOHANES_KRISTIANTO_9171012001900003.json"
    wait_for(kept.exists, 20, "the spool file to be taken")
    settled(ctl, "REG-0004", "done")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((spool / "done").stat().st_mode) == 0o700

    # one held and canceled, so that every job has ended
    ctl("printers", "pause", PRINTER)
    ctl("submit", str(job_file("REG-0005")))
    ctl("hold", "REG-0005")
    ctl("cancel", "REG-0005")

    # everything staff look at, for people and as JSON
    views = [("status",), ("stock",), ("jobs", "--limit", "100"), ("spoiled",)]
    views += [("job", ref) for ref in RESIDENTS]
    for view in views:
        ctl(*view)
        ctl.json(*view)
    ctl("job", "REG-0099", expect=1)

    store = daemon.open_store()
    try:
        assert_ledger_consistent(store)
        balance = store.balance()
        db_events = json.dumps(store.ledger_events()) + json.dumps(
            [store.job_history(store.get_job(ref).id) for ref in RESIDENTS]
        )
    finally:
        store.close()
    truth, _ = daemon.physical_truth(PRINTER)
    assert truth.balanced and truth.cards_fed == balance.issued + balance.spoiled + balance.in_doubt
    assert (truth.cards_fed, truth.in_reject_box, balance.spoiled, balance.in_doubt) == (7, 1, 2, 0)

    assert daemon.stop() == 0
    log = daemon.log_path.read_text()
    reports = "".join(p.read_text() for p in (spool / "rejected").glob("*.error.txt"))
    everything = {"log": log, "printctl": "\n".join(ctl.seen), "ledger and histories": db_events, "reports": reports}
    for where, text in everything.items():
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, f"personal data in the {where}: {leaked}"
    assert "job.printed" in log and "job.unknown" in log and "content.purged" not in log

    # Retention: restarted with a retention of a second, every ended job's content is purged at once.
    time.sleep(1.2)
    daemon.start({"retention_hours": 1 / 3600})
    wait_for(lambda: "content.purged" in daemon.log_path.read_text(), 20, "the content to be purged")
    with contextlib.closing(sqlite3.connect(f"file:{daemon.database}?mode=ro", uri=True)) as db:
        assert db.execute("SELECT count(*) FROM job_content").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM jobs").fetchone() == (len(RESIDENTS),)
    listed = ctl.json("jobs", "--limit", "100")
    assert sorted(j["ref"] for j in listed) == sorted(RESIDENTS)
    assert ctl.json("job", "REG-0001")["state"] == "done"
    purged = ctl("reprint", "REG-0001", expect=1)
    assert "job.content_purged" in purged and "submit it again under a new reference" in purged
    assert daemon.stop() == 0
    # Deleted for real: not left in the database's free pages or its write-ahead log.
    for path in daemon.directory.glob("printd.db*"):
        data = path.read_bytes()
        leaked = [secret for secret in SECRETS if secret.encode() in data]
        assert not leaked, f"{path.name} still holds {leaked}"
    final = daemon.log_path.read_text() + "\n".join(ctl.seen)
    assert not [secret for secret in SECRETS if secret in final]
