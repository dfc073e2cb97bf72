"""printd in Indonesian and English: the Indonesian catalog is complete and compiled from its .po; printctl against a
real daemon speaks the language of LANG (tables, errors, help, argparse's own words) while --json stays the same;
the language and format rules of printd.i18n; the daemon's sentences said again from their codes (cli_errors)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from printd import i18n
from printd.cli import main as printctl_main
from printd.cli_errors import alert_text, error_text, forbidden_text, pause_reason_text, unreachable_text
from printd.cli_labels import JOB_STATES, label, reason
from tests.conftest import card_png
from tests.daemon_harness import DaemonProcess, Printctl, SimSpec, settled

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "printd" / "locale" / "id" / "LC_MESSAGES" / "printd.po"
MO = PO.with_suffix(".mo")

Key = tuple[str | None, str]


# ---- (a) the catalog -------------------------------------------------------------------------------


def extracted() -> dict[Key, str | tuple[str, ...]]:
    """Every message marked in the source, extracted as `make locale-extract` does (babel.cfg, plus N_)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    printd_dir = str(ROOT / "printd")
    found: dict[Key, str | tuple[str, ...]] = {}
    for _file, _line, message, _comments, context in extract_from_dir(
        ROOT,
        method_map,
        options_map,
        keywords=keywords,
        directory_filter=lambda path: path.startswith(printd_dir) and "__pycache__" not in path,
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found[(context, msgid)] = message
    return found


def extract_python_file(source: io.BufferedReader) -> list[tuple[int, str | tuple[str, ...], list[str], str | None]]:
    return list(extract("python", source, keywords=DEFAULT_KEYWORDS))


def placeholders(text: str) -> tuple[list[str], list[str], int]:
    """``{name}`` placeholders, ``%(name)s`` ones, and how many positional ``%s``/``%r`` (not ``%%``)."""
    brace = sorted(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    named = sorted(re.findall(r"%\((\w+)\)[sdr]", text))
    positional = len(re.findall(r"(?<!%)%[sdr]", text))
    return brace, named, positional


def test_every_marked_message_is_translated_in_the_indonesian_catalog() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f, locale="id")
    messages = extracted()
    assert len(messages) > 300  # printctl alone marks more: an empty extraction must not pass
    problems = []
    for (context, msgid), message in sorted(messages.items(), key=str):
        entry = catalog.get(msgid, context=context)
        where = f"{context + ' | ' if context else ''}{msgid!r}"
        if entry is None:
            problems.append(f"not in the catalog (run make locale-extract, then translate): {where}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings):
            problems.append(f"not translated: {where}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy (check the translation, then remove the flag): {where}")
        sources = message if isinstance(message, tuple) else (message,)
        expected = placeholders(sources[-1])
        for string in strings:
            if placeholders(string) != expected:
                problems.append(f"placeholders differ: {where} -> {string!r}")
    assert not problems, "\n".join(problems)


def test_the_compiled_catalog_is_present_and_compiled_from_the_po() -> None:
    assert MO.exists(), f"{MO.relative_to(ROOT)} is missing: run 'make locale' (make setup does)"
    with PO.open("rb") as f:
        source = read_po(f, locale="id")
    with MO.open("rb") as f:
        compiled = read_mo(f)

    def flat(value: object) -> object:  # a plural's forms: a tuple in a .po, a list in a .mo
        return tuple(value) if isinstance(value, list | tuple) else value

    wanted = {(m.context, flat(m.id)): flat(m.string) for m in source if m.id and m.string and not m.fuzzy}
    have = {(m.context, flat(m.id)): flat(m.string) for m in compiled if m.id}
    assert have == wanted, "printd.mo is older than printd.po: run 'make locale'"


def test_the_borrowed_argparse_words_are_argparses_own() -> None:
    """Each message borrowed into our catalog is one this Python's argparse looks up, word for word."""
    import argparse

    from printd.cli_argparse import BORROWED

    with open(argparse.__file__, "rb") as source:
        said = {m[1] if isinstance(m[1], str) else m[1][0] for m in extract_python_file(source)}
    assert not set(BORROWED) - said, f"argparse no longer says: {sorted(set(BORROWED) - said)}"


# ---- (b) printctl against a real daemon ------------------------------------------------------------


def speak(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    """The environment of a person at the counter: only LANG set (conftest put the suite in C)."""
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", lang)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One station (zone Asia/Makassar, WITA) with 1,200 blanks received and one job printed."""
    root = tmp_path_factory.mktemp("i18n")
    d = DaemonProcess(root, [SimSpec("evo-1")])
    d.start({"timezone": "Asia/Makassar"})
    try:
        with d.client() as client:
            client.call("stock.receive", {"count": 1200, "ref": "DO-2026-001", "serials": None})
        (root / "face.png").write_bytes(card_png("I18N"))
        (root / "job.json").write_text(json.dumps({"ref": "REG-0001", "front": str(root / "face.png")}))
        with d.client() as client:
            client.call("jobs.submit", {"job": json.loads((root / "job.json").read_text())})
        yield d
    finally:
        d.kill()


def test_status_in_indonesian_and_in_english(
    daemon: DaemonProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl = Printctl(daemon.socket, capsys)
    settled(ctl, "REG-0001", "done")
    speak(monkeypatch, "id_ID.UTF-8")
    said = ctl("status")
    for words in ("Stasiun test-station", "Antrean", "Dalam antrean", "Tersedia", "Dicetak", "siap", "Terambil"):
        assert words in said, (words, said)
    assert "1.199" in said  # on hand: 1,200 received, one card printed, written the Indonesian way
    assert "Queue" not in said and "On hand" not in said
    speak(monkeypatch, "C.UTF-8")
    said = ctl("status")
    for words in ("Station test-station", "Queue", "Queued", "On hand", "Issued", "ready", "1199"):
        assert words in said, (words, said)
    assert "Antrean" not in said and "1.199" not in said and "1,199" not in said


def test_job_times_in_the_office_zone_the_readers_way(
    daemon: DaemonProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl = Printctl(daemon.socket, capsys)
    settled(ctl, "REG-0001", "done")
    speak(monkeypatch, "id_ID.UTF-8")
    said = ctl("job", "REG-0001")
    assert re.search(
        r"\b\d{1,2} (Jan|Feb|Mar|Apr|Mei|Jun|Jul|Agu|Sep|Okt|Nov|Des) \d{4} \d{2}\.\d{2}\.\d{2} WITA", said
    )
    for words in ("Referensi", "Prioritas", "biasa", "selesai", "Riwayat", "diajukan", "dicetak"):
        assert words in said, (words, said)
    speak(monkeypatch, "C.UTF-8")
    said = ctl("job", "REG-0001")
    assert re.search(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} WITA", said)
    assert "Priority" in said and "normal" in said and "done" in said and "submit" in said


def test_json_is_the_same_in_every_language(
    daemon: DaemonProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl = Printctl(daemon.socket, capsys)
    settled(ctl, "REG-0001", "done")
    replies = {}
    for lang in ("id_ID.UTF-8", "C.UTF-8", "en_GB.UTF-8"):
        speak(monkeypatch, lang)
        replies[lang] = [ctl.run("--json", *argv)[0] for argv in (["stock"], ["job", "REG-0001"], ["jobs"])]
        replies[lang].append(ctl.run("--json", "job", "NOPE", expect=1)[0])
    assert replies["id_ID.UTF-8"] == replies["C.UTF-8"] == replies["en_GB.UTF-8"]
    assert json.loads(replies["C.UTF-8"][3])["error"]["code"] == "job.not_found"


def test_errors_in_indonesian_from_their_codes(
    daemon: DaemonProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl = Printctl(daemon.socket, capsys)
    settled(ctl, "REG-0001", "done")
    speak(monkeypatch, "id_ID.UTF-8")
    _, err = ctl.run("job", "NOPE", expect=1)
    assert "Tidak ada permintaan cetak dengan referensi 'NOPE'" in err and "[job.not_found]" in err
    _, err = ctl.run("cancel", "--id", "999999", expect=1)
    assert "Tidak ada permintaan cetak dengan id 999999" in err
    _, err = ctl.run("printers", "pause", "evo-9", expect=1)
    assert "Tidak ada printer bernama 'evo-9' di stasiun ini" in err and "[printer.not_found]" in err
    _, err = ctl.run("stock", "adjust", "-5000", "--reason", "hitung ulang", expect=1)
    assert "Hanya 1.199 blangko yang tersedia" in err and "5.000 blangko tidak dapat dihapusbukukan" in err
    _, err = ctl.run("stock", "receive", "10", "--ref", "DO-2026-001", expect=1)
    assert "Penerimaan 'DO-2026-001' sudah pernah dicatat sebanyak 1.200 blangko" in err
    assert "[stock.ref_conflict]" in err
    speak(monkeypatch, "C.UTF-8")
    _, err = ctl.run("job", "NOPE", expect=1)
    assert "no job with reference 'NOPE'" in err and "Tidak ada" not in err


def test_help_usage_and_unreachable_in_indonesian(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ctl = Printctl(str(tmp_path / "gone.sock"), capsys)
    speak(monkeypatch, "id_ID.UTF-8")
    out, _ = ctl.run("--help")
    assert out.startswith("penggunaan: printctl") and "opsi:" in out and "tampilkan bantuan ini lalu keluar" in out
    assert "Kendalikan printd" in out and "status keluar:" in out
    _, err = ctl.run("stock", "receive", "10", expect=2)
    assert "printctl stock receive: kesalahan: argumen berikut wajib diisi: --ref" in err
    _, err = ctl.run("jobs", "--limit", "0", expect=2)
    assert "harus bilangan bulat positif, bukan '0'" in err
    _, err = ctl.run("status", expect=3)
    assert f"printd tidak dapat dihubungi di {tmp_path / 'gone.sock'}: tidak ada soket di sana" in err
    speak(monkeypatch, "C.UTF-8")
    out, _ = ctl.run("--help")
    assert out.startswith("usage: printctl") and "show this help message and exit" in out
    _, err = ctl.run("stock", "receive", "10", expect=2)
    assert "error: the following arguments are required: --ref" in err
    _, err = ctl.run("status", expect=3)
    assert "cannot reach printd at" in err and "no socket there" in err


def test_a_missing_catalog_leaves_printctl_in_english(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    speak(monkeypatch, "id_ID.UTF-8")
    from printd import cli_argparse

    for module in (i18n, cli_argparse):
        monkeypatch.setattr(module, "LOCALE_DIR", tmp_path)  # no compiled catalog there
    i18n.translation.cache_clear()
    try:
        with pytest.raises(SystemExit):
            printctl_main(["--help"])
        out, err = capsys.readouterr()
        assert out.startswith("usage: printctl") and "run 'make locale'" in err and "using English" in err
    finally:
        i18n.translation.cache_clear()


# ---- (c) the rules of printd.i18n ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "en"),
        ({"LANG": "id_ID.UTF-8"}, "id"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "id_ID"}, "id"),
        ({"LANG": "id_ID.UTF-8", "LC_ALL": "C"}, "en"),
        ({"LANG": "C", "LANGUAGE": "fr:id"}, "id"),  # gettext's list: the first language printd speaks
        ({"LANG": "id_ID.UTF-8", "LANGUAGE": "en_GB:id"}, "en"),
        ({"LANG": "id_ID.UTF-8", "LANGUAGE": ""}, "id"),  # empty is unset
        ({"LANG": "id-ID"}, "id"),
    ],
)
def test_language_from_the_environment(environ: dict[str, str], language: str) -> None:
    assert i18n.from_environment(environ) == language


@pytest.mark.parametrize(
    ("environ", "plain"),
    [
        ({}, True),
        ({"LANG": "C.UTF-8"}, True),
        ({"LANG": "POSIX"}, True),
        ({"LANG": "id_ID.UTF-8"}, False),
        ({"LANG": "en_GB.UTF-8"}, False),
        ({"LANG": "id_ID.UTF-8", "LC_ALL": "C"}, True),
        ({"LANG": "C.UTF-8", "LC_ALL": "id_ID.UTF-8"}, False),
        ({"LANG": "C.UTF-8", "LANGUAGE": "id"}, True),  # messages in Indonesian, numbers as C writes them
    ],
)
def test_plain_formats_only_in_the_c_locale(environ: dict[str, str], plain: bool) -> None:
    assert i18n.plain_from_environment(environ) is plain


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "id"),
        ("", "id"),
        ("id-ID,id;q=0.9,en-US;q=0.8", "id"),
        ("en-US,en;q=0.9,id;q=0.5", "en"),
        ("fr-FR, de;q=0.8", "id"),  # nothing printd speaks: the office's default
        ("fr, en;q=0.3, id;q=0.2", "en"),
        ("id;q=0, en", "en"),  # q=0 is "not this one"
        ("en;q=abc, id", "id"),  # a weight that is not a number drops that entry only
        ("EN-gb", "en"),
    ],
)
def test_language_from_accept_language(header: str | None, language: str) -> None:
    assert i18n.from_accept_language(header) == language


def test_numbers_and_times_the_readers_way() -> None:
    moment = dt.datetime(2026, 12, 6, 1, 30, tzinfo=dt.UTC)
    wita = ZoneInfo("Asia/Makassar")
    with i18n.speaking("id"):
        assert i18n.format_number(1234567) == "1.234.567"
        assert i18n.format_number(1234.5) == "1.234,5"
        assert i18n.format_datetime(moment, tzinfo=wita) == "6 Des 2026 09.30.00"
        assert i18n.format_date(dt.date(2026, 12, 7)) == "7 Des 2026"
        assert i18n.format_number(1234567, "en") == "1,234,567"  # a language named wins
    with i18n.speaking("en"):
        assert i18n.format_number(1234567) == "1,234,567"
        assert i18n.format_datetime(moment, tzinfo=wita) == "6 Dec 2026, 09:30:00"
    with i18n.speaking("id", plain=True):
        assert i18n.format_number(1234567) == "1234567"
        assert i18n.format_datetime(moment, tzinfo=wita) == "2026-12-06 09:30:00"
        assert i18n.format_date(dt.date(2026, 12, 7)) == "2026-12-07"
        assert i18n.format_number(1234567, "id") == "1.234.567"
    assert i18n.current_language() == "en"


def test_speaking_is_for_its_block_only() -> None:
    assert i18n._("Queue") == "Queue"
    with i18n.speaking("id", plain=True):
        assert i18n._("Queue") == "Antrean"
        assert i18n.pgettext("job state", "in_doubt") == "belum pasti"
        assert i18n.ngettext("{count} blank", "{count} blanks", 5) == "{count} blangko"
        with i18n.speaking("en"):
            assert i18n._("Queue") == "Queue"
            assert i18n.format_number(1000) == "1000"  # plain kept from the block outside
        assert i18n._("Queue") == "Antrean"
    assert i18n._("Queue") == "Queue" and i18n.format_number(1000) == "1,000"
    with pytest.raises(ValueError, match="does not speak 'fr'"):
        i18n.set_language("fr")


# ---- cli_errors and cli_labels: the daemon's words said again --------------------------------------


def test_labels_are_the_machine_values_in_english() -> None:
    assert label(JOB_STATES, "in_doubt") == "in_doubt" and reason("media-empty-error") == "media-empty-error"
    with i18n.speaking("id"):
        assert label(JOB_STATES, "in_doubt") == "belum pasti"
        assert reason("media-empty-error") == "blangko di feeder habis"
        assert label(JOB_STATES, "teleported") == "teleported"  # a newer daemon's value: as it came
        assert reason("laser-misaligned-warning") == "laser-misaligned-warning"


def test_daemon_sentences_fall_back_to_the_daemon_when_unknown() -> None:
    message = "no job with reference 'X'; list jobs with 'printctl jobs'"
    assert error_text("job.not_found", message, {}, {"job_ref": "'X'"}) == message  # English: the daemon's own
    with i18n.speaking("id"):
        assert error_text("job.not_found", message, {}, {"job_ref": "'X'"}).startswith("Tidak ada permintaan cetak")
        assert error_text("job.not_found", message) == (
            "Permintaan cetak itu tidak ada; lihat daftarnya dengan 'printctl jobs'."
        )
        assert error_text("frobnicator.jammed", "the frobnicator jammed") == "the frobnicator jammed"
        # A sentence whose fact is only inside the daemon's words applies only when those words still say it.
        assert error_text("printer.not_found", "printer gone for good") == "printer gone for good"
        assert error_text("params.invalid", "jobs.list: limit must be at most 10000").startswith(
            "printd menolak permintaan: jobs.list: limit"
        )
        said = error_text(
            "server.busy",
            "budi already has 8 connections open",
            {"limit": 8, "setting": "max_clients_per_user", "user": "budi"},
        )
        assert said.startswith("budi sudah membuka 8 sambungan ke printd")
        assert "Rincian: the database" in error_text("store.full", "the database /var/lib/printd cannot grow")
        taken = "berita acara number 'BA-7' was already used on 2026-12-06T01:30:00Z for destroyed blanks; ..."
        wita = ZoneInfo("Asia/Makassar")
        assert error_text("handover.number_taken", taken, zone=lambda: wita) == (
            "Nomor berita acara 'BA-7' sudah dipakai pada 6 Des 2026 09.30.00 WITA untuk pemusnahan; setiap berita"
            " acara memerlukan nomor tersendiri."
        )
        assert "pada 6 Des 2026 01.30.00 UTC untuk" in error_text("handover.number_taken", taken)


def test_permission_denied_in_indonesian() -> None:
    refused = {"required_role": "supervisor", "role": "viewer", "user": "budi", "groups": ["printd-admin"]}
    with i18n.speaking("id"):
        assert forbidden_text(refused) == (
            "akses ditolak: tindakan ini memerlukan peran supervisor, sedangkan Anda (budi) berperan viewer."
            " Keanggotaan grup 'printd-admin' memberikan peran itu: minta administrator menjalankan"
            " 'usermod -aG printd-admin budi', lalu masuk (login) lagi."
        )
        assert "hanya root yang dapat melakukannya" in forbidden_text({"user": "budi"})
        assert "memerlukan peran lebih tinggi, sedangkan Anda (budi) tidak memiliki peran" in forbidden_text(
            {"user": "budi"}
        )


def test_alerts_and_pause_reasons_in_indonesian() -> None:
    low = {"event": "stock.low", "message": "1200 blanks on hand, below the threshold of 5000; request more blanks"}
    gap = {"event": "stock.unreconciled", "printer": "evo-1", "blanks": -3, "message": "printer evo-1: the ledger..."}
    assert alert_text(low) == low["message"]
    assert pause_reason_text("paused by rina") == "paused by rina"
    with i18n.speaking("id"):
        assert (
            alert_text(low) == "Stok tersedia 1.200 blangko, di bawah batas minimal 5.000; ajukan permintaan blangko."
        )
        said = alert_text(gap)
        assert said.startswith("Printer evo-1: pembukuan mencatat 3 blangko lebih banyak") and "adjust +3" in said
        assert alert_text({"event": "stock.new_kind", "message": "something new"}) == "something new"
        assert pause_reason_text("paused by rina") == "dijeda oleh rina"
        assert pause_reason_text("media-empty-error, cover-open-error") == (
            "blangko di feeder habis, penutup printer terbuka"
        )
        assert pause_reason_text(
            "media-jam-error, card in doubt (job 12) may be inside the printer: take it out, resolve the job"
        ).startswith("kartu macet, kartu yang belum pasti (permintaan cetak 12) mungkin masih di dalam printer")
        assert unreachable_text("/run/printd/printd.sock", "reply too large") == (
            "printd tidak dapat dihubungi di /run/printd/printd.sock: reply too large"
        )


def test_batch_rejections_shown_in_indonesian_and_sent_in_english(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A line printctl refuses itself: its sentence is English in --json (as the daemon's are), Indonesian in the
    table; the file is refused before any connection, so no daemon is needed."""
    batch = tmp_path / "batch.jsonl"
    batch.write_text("not json\n[1, 2]\n")
    from printd.cli import Output, _submit_batch
    from printd.control.client import ControlClient

    speak(monkeypatch, "id_ID.UTF-8")
    with i18n.speaking("id"):
        for as_json in (True, False):
            stream = io.StringIO()
            _submit_batch(str(batch), ControlClient(str(tmp_path / "none.sock")), Output(json=as_json, out=stream))
            shown = stream.getvalue()
            if as_json:
                rejected = json.loads(shown)["rejected"]
                assert [r["error"]["message"] for r in rejected] == [
                    "line 1: not valid JSON; each line must hold one job object",
                    "line 2: a job must be a JSON object",
                ]
            else:
                assert (
                    "baris 1: bukan JSON yang sah" in shown
                    and "baris 2: permintaan cetak harus berupa objek JSON" in shown
                )
                assert "Diterima 0 permintaan cetak; ditolak 2." in shown
