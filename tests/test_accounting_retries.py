"""Accounting under retries and races, over the real daemon and printctl: deliveries booked once, write-offs that
leave the blanks in printers alone, QC spoils that name their card, and jobs named without guessing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.errors import PrintdError
from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, Printctl, SimSpec, settled, wait_for

PRINTER = "loket-1"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path / "station", [SimSpec(PRINTER, cards=50, seconds_per_card=0.2)])
    d.directory.mkdir()
    d.start()
    yield d
    if d.process is not None:
        d.stop()  # a card in hand finishes first
    check_books_against_the_printer(d)


@pytest.fixture
def ctl(daemon: DaemonProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Printctl:
    monkeypatch.setenv("COLUMNS", "250")
    return Printctl(daemon.socket, capsys)


def check_books_against_the_printer(daemon: DaemonProcess) -> None:
    """The ledger's invariant, and its issued and spoiled blanks where the simulated printer put its cards."""
    store = daemon.open_store()
    try:
        assert_ledger_consistent(store)
        balance = store.balance()
        truth, _ = daemon.physical_truth(PRINTER)
        assert truth.balanced
        assert truth.in_printer == 0 and balance.in_doubt == 0
        # a card rejected at inspection left the hopper through a person's hands: it is counted as spoiled
        qc = sum(1 for e in store.ledger_events() if e["kind"] == "spoiled" and e["from_issued"])
        assert balance.issued == truth.in_hopper - qc
        assert balance.spoiled == truth.in_reject_box + qc
    finally:
        store.close()


def submit(ctl: Printctl, folder: Path, ref: str) -> int:
    face = folder / f"{ref}.png"
    face.write_bytes(card_png(ref))
    job = folder / f"{ref}.json"
    job.write_text(f'{{"ref": "{ref}", "front": "{face}"}}')
    return int(ctl.json("submit", str(job))["id"])


def test_a_retried_delivery_is_booked_once(ctl: Printctl, daemon: DaemonProcess) -> None:
    for _ in range(3):
        ctl("stock", "receive", "100", "--ref", "DO-1", "--serials", "KTP000101-KTP000200")
    assert "already booked" in ctl("stock", "receive", "100", "--ref", "DO-1", "--serials", "KTP000101-KTP000200")
    assert ctl.json("stock")["on_hand"] == 100
    refused = ctl.json("stock", "receive", "120", "--ref", "DO-1", expect=1)
    assert refused["error"]["code"] == "stock.ref_conflict"
    refused = ctl.json("stock", "receive", "100", "--ref", "DO-2", "--serials", "KTP000151-KTP000250", expect=1)
    assert refused["error"]["code"] == "stock.serials_overlap"
    assert ctl.json("stock")["on_hand"] == 100

    # staff at two desks book the same delivery note at once
    replies: list[object] = []

    def receive() -> None:
        with daemon.client() as client:
            replies.append(client.call("stock.receive", {"count": 50, "ref": "DO-3"}))

    desks = [threading.Thread(target=receive) for _ in range(8)]
    for desk in desks:
        desk.start()
    for desk in desks:
        desk.join()
    assert len({reply["event_id"] for reply in replies if isinstance(reply, dict)}) == 1
    assert ctl.json("stock")["on_hand"] == 150


def test_a_write_off_leaves_the_blank_in_the_printer_alone(
    ctl: Printctl, daemon: DaemonProcess, tmp_path: Path
) -> None:
    ctl("stock", "receive", "1", "--ref", "DO-1")
    ctl("printers", "pause", PRINTER)
    submit(ctl, tmp_path, "A")
    daemon.stop()
    daemon.printers = [SimSpec(PRINTER, cards=50, seconds_per_card=3.0)]  # the card stays in the printer a while
    daemon.start()
    ctl("printers", "resume", PRINTER)
    wait_for(lambda: ctl.json("job", "A")["state"] == "printing", 10, "the card to be in the printer")
    refused = ctl.json("stock", "adjust", "-1", "--reason", "miscount", expect=1)
    assert refused["error"]["code"] == "stock.insufficient" and refused["error"]["details"]["in_flight"] == 1
    settled(ctl, "A", "done")
    stock = ctl.json("stock")
    assert (stock["on_hand"], stock["issued"], stock["adjusted"]) == (0, 1, 0)


def test_a_qc_spoil_names_its_card_and_a_retry_books_nothing(ctl: Printctl, tmp_path: Path) -> None:
    ctl("stock", "receive", "10", "--ref", "DO-1")
    submit(ctl, tmp_path, "A1")
    settled(ctl, "A1", "done")
    [card] = ctl.json("job", "A1")["cards"]
    assert card["fate"] == "issued" and card["chip_uid"]
    assert f"{card['attempt']}" in ctl("job", "A1")  # the card is listed for the operator to name
    first = ctl.json("spoil", "A1", "--attempt", str(card["attempt"]), "--category", "damaged", "--detail", "scratch")
    assert first["spoil"]["booked"] and first["spoil"]["reprint"]
    settled(ctl, "A1", "done")  # printed again on a new blank
    # the reply was lost: the operator runs the same command again
    said = ctl("spoil", "A1", "--attempt", str(card["attempt"]), "--category", "damaged", "--detail", "scratch")
    assert "already booked spoiled" in said
    cards = ctl.json("job", "A1")["cards"]
    assert [c["fate"] for c in cards] == ["spoiled", "issued"]
    assert ctl.json("stock")["spoiled"] == 1
    refused = ctl.json("spoil", "A1", "--chip", "04NOPE", "--category", "damaged", "--detail", "x", expect=1)
    assert refused["error"]["code"] == "job.card_not_found"


def test_a_card_found_damaged_after_the_purge_is_booked_spoiled(
    ctl: Printctl, daemon: DaemonProcess, tmp_path: Path
) -> None:
    ctl("stock", "receive", "10", "--ref", "DO-1")
    submit(ctl, tmp_path, "P1")
    settled(ctl, "P1", "done")
    [card] = ctl.json("job", "P1")["cards"]
    daemon.stop()
    time.sleep(1.2)
    daemon.start({"retention_hours": 1 / 3600})  # the purge runs at start: a second after the job ended
    wait_for(lambda: "content.purged" in daemon.log_path.read_text(), 20, "the content to be purged")
    said = ctl("spoil", "P1", "--chip", card["chip_uid"], "--category", "damaged", "--detail", "laminate peeled")
    assert "cannot print again" in said and "new reference" in said
    job = ctl.json("job", "P1")
    assert job["state"] == "failed" and [c["fate"] for c in job["cards"]] == ["spoiled"]
    stock = ctl.json("stock")
    assert (stock["issued"], stock["spoiled"], stock["on_hand"]) == (0, 1, 9)


def test_a_reference_made_of_digits_is_never_taken_for_an_id(ctl: Printctl, tmp_path: Path) -> None:
    ctl("printers", "pause", PRINTER)
    digits = submit(ctl, tmp_path, "2")  # job 1, ref "2"
    other = submit(ctl, tmp_path, "B")  # job 2, ref "B"
    assert (digits, other) == (1, 2)
    assert ctl.json("hold", "2")["ref"] == "2"
    assert ctl.json("job", "#2")["state"] == "queued"
    assert ctl.json("cancel", "--id", "2")["ref"] == "B"
    assert ctl.json("job", "2")["state"] == "held" and ctl.json("job", "B")["state"] == "canceled"
    for key in ("3", "#3"):
        assert ctl.json("release", key, expect=1)["error"]["code"] == "job.not_found"


def test_escape_sequences_in_staff_text_are_shown_not_obeyed(ctl: Printctl, tmp_path: Path) -> None:
    ctl("stock", "receive", "10", "--ref", "DO-1")
    submit(ctl, tmp_path, "E1")
    settled(ctl, "E1", "done")
    [card] = ctl.json("job", "E1")["cards"]
    hidden = "ok\x1b[1A\x1b[2K\x1b]0;title\x07\u202ereversed\r\n"
    ctl("spoil", "E1", "--attempt", str(card["attempt"]), "--category", "damaged", "--detail", hidden)
    for shown in (ctl("spoiled"), ctl("job", "E1")):
        assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown and "\r" not in shown
        assert "\\u001b[1A" in shown and "\\u202e" in shown
    assert ctl.json("spoiled")[0]["detail"] == hidden  # programs get the text as it was typed


def test_a_job_key_of_the_wrong_kind_is_a_clear_error(daemon: DaemonProcess) -> None:
    with daemon.client() as client, pytest.raises(PrintdError) as info:
        client.call("jobs.get", {"job": 0})
    assert info.value.code == "params.invalid"
