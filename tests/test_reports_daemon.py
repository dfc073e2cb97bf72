"""The reports through the real daemon and printctl: figures equal to the ledger's own fold, in local days."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from printd.ledger import Balance, LedgerEntry, LedgerKind, Resolution
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, Printctl, SimSpec, settled

PRINTER = "loket-1"
WITA = ZoneInfo("Asia/Makassar")
# card 2 fails to print (spoiled, printed again on card 3); the rest print
FAULTS = ["card 2: print fails"]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path / "station", [SimSpec(PRINTER, cards=200, faults=FAULTS)])
    d.directory.mkdir()
    d.start({"timezone": "Asia/Makassar"})
    yield d
    if d.process is not None:
        d.stop()
    store = d.open_store()
    try:
        assert_ledger_consistent(store)
    finally:
        store.close()


@pytest.fixture
def ctl(daemon: DaemonProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Printctl:
    monkeypatch.setenv("COLUMNS", "200")
    return Printctl(daemon.socket, capsys)


def submit(ctl: Printctl, folder: Path, refs: list[str], priority: str = "normal") -> None:
    for ref in refs:
        face = folder / f"{ref}.png"
        face.write_bytes(card_png(ref))
        job = folder / f"{ref}.json"
        job.write_text(f'{{"ref": "{ref}", "front": "{face}", "priority": "{priority}"}}')
        ctl("submit", str(job))


def print_cards(ctl: Printctl, folder: Path, refs: list[str]) -> None:
    submit(ctl, folder, refs)
    for ref in refs:
        settled(ctl, ref, "done")


def folded_on_hand(daemon: DaemonProcess, before: float) -> int:
    store = daemon.open_store()
    try:
        events = store.ledger_events()
    finally:
        store.close()
    return Balance.fold(
        LedgerEntry(
            LedgerKind(e["kind"]),
            e["count"],
            Resolution(e["resolution"]) if e["resolution"] else None,
            bool(e["from_issued"]),
        )
        for e in events
        if e["at"] < before
    ).on_hand


def test_the_days_report_is_the_ledgers_fold(ctl: Printctl, daemon: DaemonProcess, tmp_path: Path) -> None:
    ctl("stock", "receive", "100", "--ref", "DO-1")
    print_cards(ctl, tmp_path, ["A", "B", "C"])
    [card] = [c for c in ctl.json("job", "C")["cards"] if c["fate"] == "issued"]
    ctl("spoil", "C", "--attempt", str(card["attempt"]), "--category", "damaged", "--detail", "scratch")
    settled(ctl, "C", "done")
    today = dt.datetime.now(WITA).date()
    day = ctl.json("report", "daily")
    assert day["date"] == today.isoformat() and day["balanced"]
    assert (day["opening"], day["received"], day["issued"], day["in_doubt"]) == (0, 100, 3, 0)
    assert day["spoiled"] == {"print_failed": 1, "encode_failed": 0, "damaged": 1, "data_changed": 0, "test_print": 0}
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), WITA).timestamp()
    assert day["closing"] == folded_on_hand(daemon, midnight) == 95
    assert day["printers"][PRINTER]["issued"] == 3 and day["operators"]["root"]["received"] == 100

    table = ctl("report", "daily")
    assert "Stok awal" in table and "Rusak fisik" in table and "95 = 0 + 100 - 5 ✓" in table
    assert "Closing stock" in ctl("report", "daily", "--lang", "en")
    rows = list(csv.reader(io.StringIO(ctl.run("report", "daily", "--format", "csv")[0])))
    assert rows[0][:4] == ["date", "scope", "name", "Stok awal"] and rows[1][1:3] == ["station", "test-station"]
    yesterday = ctl.json("report", "daily", "--date", (today - dt.timedelta(days=1)).isoformat())
    assert (yesterday["opening"], yesterday["closing"]) == (0, 0)

    shown = ctl("job", "A")  # a person reads the station's local time; a script gets UTC
    assert " WITA" in shown and ctl.json("job", "A")["created_at"].endswith("Z")

    month = ctl.json("report", "monthly")
    assert month["month"] == today.strftime("%Y-%m") and month["total"]["closing"] == 95
    assert sum(d["issued"] for d in month["days"]) == 3


def test_forecast_and_the_reorder_alert(ctl: Printctl, daemon: DaemonProcess, tmp_path: Path) -> None:
    ctl("stock", "receive", "10", "--ref", "DO-1")
    ctl("printers", "pause", PRINTER)
    submit(ctl, tmp_path, ["Q1", "Q2", "Q3"], "backlog")
    found = ctl.json("stock", "forecast")
    keys = (
        "on_hand",
        "daily_use",
        "spoil_rate",
        "backlog",
        "backlog_blanks",
        "days_left",
        "days_left_with_backlog",
        "reorder_point",
        "request",
        "method",
    )
    assert all(key in found for key in keys)
    assert found["on_hand"] == 10 and found["backlog"]["backlog"] == 3 and found["backlog_blanks"] >= 3
    assert found["request"] % 100 == 0
    assert "Jumlah yang disarankan untuk diminta" in ctl("stock", "forecast")
    assert "Recommended request" in ctl("stock", "forecast", "--lang", "en")
    status = ctl.json("status")
    reorder = [a for a in status["alerts"] if a["event"] == "stock.reorder"]
    assert bool(reorder) == (found["on_hand"] < found["reorder_point"])


def test_spoiled_blanks_leave_under_one_berita_acara(ctl: Printctl, daemon: DaemonProcess, tmp_path: Path) -> None:
    ctl("stock", "receive", "50", "--ref", "DO-1")
    print_cards(ctl, tmp_path, ["A", "B"])
    pending = ctl.json("spoiled", "--pending")
    assert pending["count"] == 1 and pending["per_category"] == {"print_failed": 1}
    made = ctl.json(
        "spoiled", "handover", "--kind", "destroyed", "--number", "BA-01", "--officer", "Kabid", "--nip", "1980"
    )
    assert made["number"] == "BA-01" and len(made["items"]) == 1 and made["items"][0]["chip_uid"]
    assert ctl.json("spoiled", "--pending")["count"] == 0
    again = ctl.json(
        "spoiled", "handover", "--kind", "destroyed", "--number", "BA-02", "--officer", "K", "--nip", "1", expect=1
    )
    assert again["error"]["code"] == "handover.nothing_pending"
    stock = ctl.json("stock")
    assert (stock["spoiled"], stock["destroyed"], stock["on_hand"]) == (1, 1, 47)
    assert ctl.json("spoiled", "handover", "--list") == [{"number": "BA-01", "count": 1}]
    assert ctl.json("spoiled", "handover", "--show", "BA-01")["items"] == made["items"]


def pdf_text(path: Path) -> str:
    """The document's text as poppler reads it (poppler-utils is installed by make setup)."""
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def without_print_time(text: str) -> list[str]:
    return [line for line in text.splitlines() if not re.search(r"\d{2}:\d{2}", line)]


def test_documents_from_printctl(ctl: Printctl, daemon: DaemonProcess, tmp_path: Path) -> None:
    ctl("stock", "receive", "40", "--ref", "DO-1")
    print_cards(ctl, tmp_path, ["A", "B"])
    day, notice = tmp_path / "harian.pdf", tmp_path / "pengumuman.pdf"
    ctl("report", "daily", "--format", "pdf", "--output", str(day))
    text = pdf_text(day)
    assert "test-station" in text and "Halaman 1 dari" in text
    fold = ctl.json("report", "daily")  # every figure of the document is the ledger's fold
    for label, key in (
        ("Stok awal", "opening"),
        ("Diterima", "received"),
        ("Dicetak", "issued"),
        ("Stok akhir", "closing"),
    ):
        assert re.search(rf"^{label}\s+{fold[key]}$", text, re.M), label
    assert re.search(rf"^\s+Gagal cetak\s+{fold['spoiled']['print_failed']}$", text, re.M)
    assert f"{fold['closing']} = {fold['opening']} + {fold['received']} \u2212 " in text  # a minus sign
    ctl("report", "daily", "--notice", "--output", str(notice))
    assert "37" in pdf_text(notice)
    month = tmp_path / "bulanan.pdf"
    ctl("report", "monthly", "--format", "pdf", "--output", str(month), "--lang", "en")
    assert "Page 1 of" in pdf_text(month)
    letter = tmp_path / "permintaan.pdf"
    ctl("stock", "request", "--quantity", "500", "--output", str(letter))
    assert "500 (lima ratus)" in pdf_text(letter)

    ba = tmp_path / "ba.pdf"
    made = ctl.json(
        "spoiled",
        "handover",
        "--kind",
        "destroyed",
        "--number",
        "BA/01/2026",
        "--officer",
        "Baiq Nurul Aini",
        "--nip",
        "198001012005011001",
        "--rank",
        "Penata (III/c)",
        "--position",
        "Kepala Bidang Pelayanan",
        "--witness",
        "Inspektur",
        "--nip",
        "197505052000031002",
        "--output",
        str(ba),
    )
    text = pdf_text(ba)
    chip = made["items"][0]["chip_uid"]
    assert "BERITA ACARA" in text and "BA/01/2026" in text and "1 (satu) keping" in text
    assert "Penata (III/c)" in text and "Kepala Bidang Pelayanan" in text and "197505052000031002" in text
    again = tmp_path / "ba-again.pdf"
    ctl("spoiled", "handover", "--show", "BA/01/2026", "--output", str(again))
    assert pdf_text(again).replace(" ", "").count("BA/01/2026") >= 1
    assert chip is None or chip in pdf_text(again)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("reports.daily", {"date": "2026-02-30"}),
        ("reports.daily", {"date": "yesterday"}),
        ("reports.monthly", {"month": "2026-13"}),
        ("stock.request", {"quantity": 0}),
        ("spoiled.pending", {"through": "2026-1-1"}),
        ("spoiled.handover", {"kind": "burned", "number": "BA-9", "officers": [{"name": "K"}]}),
        ("spoiled.handover", {"kind": "destroyed", "number": "BA-9", "officers": []}),
        ("spoiled.handover", {"kind": "destroyed", "number": "x" * 65, "officers": [{"name": "K"}]}),
        ("spoiled.handover", {"kind": "destroyed", "number": "BA\n9", "officers": [{"name": "K"}]}),
        ("spoiled.handover", {"kind": "destroyed", "number": "BA-9", "officers": [{"name": "K", "nip": "x"}]}),
        ("spoiled.handover_get", {"number": ""}),
    ],
)
def test_bad_report_requests_are_refused_and_change_nothing(
    daemon: DaemonProcess, ctl: Printctl, tmp_path: Path, method: str, params: dict[str, object]
) -> None:
    from printd.errors import PrintdError

    ctl("stock", "receive", "10", "--ref", "DO-1")
    print_cards(ctl, tmp_path, ["A", "B"])  # card 2 spoils: one blank waits for a berita acara
    before = ctl.json("stock")
    with daemon.client() as client, pytest.raises(PrintdError) as info:
        client.call(method, params)
    assert info.value.code == "params.invalid"
    assert ctl.json("stock") == before and ctl.json("spoiled", "--pending")["count"] == 1
