"""The PDF documents, read back with poppler: every figure and key phrase, page x of y, embedded fonts, page 1 as PNG.

poppler-utils (pdftotext, pdffonts, pdftoppm) is required under CI=true and the tests are skipped without it
elsewhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from printd.reports.model import (
    SPOIL_CATEGORIES,
    BlankRequest,
    Forecast,
    ForecastParams,
    Handover,
    HandoverItem,
    MonthlyReport,
    MonthUsage,
    Movements,
    Office,
    Person,
    StockPeriod,
)
from printd.reports.pdf import (
    berita_acara_pdf,
    daily_report_pdf,
    format_number,
    monthly_report_pdf,
    request_letter_pdf,
    stock_notice_pdf,
    tanggal_panjang,
    terbilang,
)
from printd.reports.pdf.fonts import MissingFontsError, font_files
from printd.reports.pdf.stock import identity_line

PRINTED_AT = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)  # 17:30 in Mataram (WITA, UTC+8)
DAY = dt.date(2026, 12, 7)  # a Monday
MINUS = "\u2212"

HEAD = Person("Lalu Ahmad Zaini", "197003121995031004", "Pembina Utama Muda (IV/c)", "Kepala Dinas")
OFFICE = Office(
    name="Dinas Kependudukan dan Pencatatan Sipil Kota Mataram",
    city="Mataram",
    address="Jl. Pejanggik No. 1, Mataram",
    head=HEAD,
    timezone="Asia/Makassar",
)

SPOILS = {"print_failed": 7, "encode_failed": 5, "damaged": 3, "data_changed": 2, "test_print": 1}
COUNTER_1 = Movements(issued=400, spoiled={"print_failed": 4, "encode_failed": 3, "damaged": 2, "data_changed": 1})
COUNTER_2 = Movements(
    issued=211, spoiled={"print_failed": 3, "encode_failed": 2, "damaged": 1, "data_changed": 1, "test_print": 1}
)
DAILY = StockPeriod(
    start=DAY,
    end=DAY,
    opening=6000,
    movements=Movements(
        received=500, transferred_in=30, transferred_out=20, adjusted=-2, issued=611, spoiled=SPOILS, in_doubt=1
    ),
    closing=5878,  # 6000 + (500 + 30 - 2) - (20 + 611 + 18 + 1)
    printers={"counter-1": COUNTER_1, "counter-2": COUNTER_2},
    operators={"op-siang": COUNTER_2, "op-pagi": COUNTER_1},
)


def poppler(tool: str, *args: str) -> str:
    """Run a poppler-utils tool and return its output; under CI=true a missing tool fails the test."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed: install the Debian package poppler-utils (apt-get install poppler-utils)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([path, *args], capture_output=True, text=True, check=True, timeout=120)
    return done.stdout


def pages(pdf: bytes, tmp_path: Path, name: str = "doc") -> list[str]:
    """The text of each page, as ``pdftotext -layout`` lays it out."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    text = poppler("pdftotext", "-layout", str(path), "-")
    return text.split("\f")[:-1]


def flat(text: str) -> str:
    """The text with its line breaks and runs of spaces made single spaces, for phrases that wrap."""
    return " ".join(text.split())


def has_row(text: str, *cells: str) -> bool:
    """Whether a line starts with exactly these cells, separated by spaces only (a block beside it may follow)."""
    pattern = r"^\s*" + r"\s+".join(re.escape(c) for c in cells) + r"(\s{2,}|$)"
    return re.search(pattern, text, re.MULTILINE) is not None


def assert_numbered(texts: list[str], lang: str = "id") -> None:
    """Every page says which page it is of how many, and when it was printed in the office's local time."""
    total = len(texts)
    for i, page in enumerate(texts, 1):
        expected = f"Halaman {i} dari {total}" if lang == "id" else f"Page {i} of {total}"
        assert expected in page, f"page {i}: {expected!r} missing"
        printed = "Dicetak 07-12-2026 17:30 WITA" if lang == "id" else "Printed 2026-12-07 17:30 WITA"
        assert printed in page


# -- the small helpers -------------------------------------------------------------------------------------------


def test_numbers_dates_and_words() -> None:
    assert format_number(6000) == "6.000"
    assert format_number(1234567, "en") == "1,234,567"
    assert format_number(-2) == "-2"
    assert terbilang(34) == "tiga puluh empat"
    assert terbilang(2026) == "dua ribu dua puluh enam"
    assert terbilang(34, "en") == "thirty-four"
    assert tanggal_panjang(DAY, weekday=True) == "Senin, 7 Desember 2026"
    assert tanggal_panjang(dt.date(2027, 8, 20)) == "20 Agustus 2027"
    assert tanggal_panjang(DAY, "en", weekday=True) == "Monday, 7 December 2026"


def test_identity_line_ticks_a_balanced_period_and_crosses_one_that_is_not() -> None:
    period = StockPeriod(DAY, DAY, 6000, Movements(issued=200, spoiled={"print_failed": 4}), 5796)
    assert identity_line(period) == f"Stok akhir = stok awal + masuk {MINUS} keluar: 5.796 = 6.000 + 0 {MINUS} 204 ✓"
    assert identity_line(period, "en").startswith(f"Closing stock = opening stock + in {MINUS} out: 5,796 = ")
    off = dataclasses.replace(period, closing=5790)
    assert identity_line(off).endswith("✗ (tidak seimbang, selisih -6)")


def test_missing_fonts_name_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(MissingFontsError, match="fonts-dejavu-core"):
        font_files((tmp_path,))


def test_a_language_or_time_zone_not_known_is_refused() -> None:
    with pytest.raises(ValueError, match="'fr'"):
        daily_report_pdf(DAILY, OFFICE, "fr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="IANA"):
        daily_report_pdf(DAILY, dataclasses.replace(OFFICE, timezone="Mars/Olympus"))
    with pytest.raises(ValueError, match="aware"):
        daily_report_pdf(DAILY, OFFICE, printed_at=dt.datetime(2026, 12, 7, 9, 30))


# -- daily report and notice -------------------------------------------------------------------------------------


def test_daily_report_shows_every_movement_the_identity_and_each_printer_and_operator(tmp_path: Path) -> None:
    [page] = pages(daily_report_pdf(DAILY, OFFICE, station="dukcapil-kota", printed_at=PRINTED_AT), tmp_path)
    assert "LAPORAN HARIAN STOK BLANGKO KTP-el" in page
    assert "Senin, 7 Desember 2026" in page
    for label, count in [
        ("Stok awal", "6.000"),
        ("Diterima", "500"),
        ("Mutasi masuk", "30"),
        ("Mutasi keluar", "20"),
        ("Dicetak", "611"),
        ("Gagal cetak", "7"),
        ("Gagal encode", "5"),
        ("Rusak fisik", "3"),
        ("Perubahan elemen data", "2"),
        ("Cetak uji", "1"),
        ("Jumlah rusak/invalid", "18"),
        ("Belum pasti", "1"),
        ("Penyesuaian", "-2"),
        ("Stok akhir", "5.878"),
    ]:
        assert has_row(page, label, count), label
    assert f"Stok akhir = stok awal + masuk {MINUS} keluar: 5.878 = 6.000 + 528 {MINUS} 650 ✓" in page
    # issued, the five categories, in doubt, adjusted, used
    assert has_row(page, "counter-1", "400", "4", "3", "2", "1", "0", "0", "0", "410")
    assert has_row(page, "counter-2", "211", "3", "2", "1", "1", "1", "0", "0", "219")
    assert has_row(page, "op-pagi", "400", "4", "3", "2", "1", "0", "0", "0", "410")
    assert has_row(page, "op-siang", "211", "3", "2", "1", "1", "1", "0", "0", "219")
    assert has_row(page, "Jumlah", "611", "7", "5", "3", "2", "1", "0", "0", "629")
    assert "dukcapil-kota" in page.splitlines()[-1]
    assert_numbered([page])


def test_daily_report_in_english(tmp_path: Path) -> None:
    [page] = pages(daily_report_pdf(DAILY, OFFICE, "en", station="dukcapil-kota", printed_at=PRINTED_AT), tmp_path)
    assert "Monday, 7 December 2026" in page
    assert has_row(page, "Chip encoding failed", "5")
    assert has_row(page, "Closing stock", "5,878")
    assert f"Closing stock = opening stock + in {MINUS} out: 5,878 = 6,000 + 528 {MINUS} 650 ✓" in page
    assert_numbered([page], "en")


def test_stock_notice_is_one_page_with_the_blanks_available_the_date_and_the_free_service(tmp_path: Path) -> None:
    texts = pages(stock_notice_pdf(DAILY, OFFICE, station="dukcapil-kota", printed_at=PRINTED_AT), tmp_path)
    assert len(texts) == 1
    assert "5.878" in texts[0]
    assert "Senin, 7 Desember 2026" in texts[0]
    assert "Pelayanan KTP-el tidak dipungut biaya" in flat(texts[0])
    assert_numbered(texts)


# -- monthly report ----------------------------------------------------------------------------------------------


def month_of_days() -> MonthlyReport:
    days, stock = [], 6000
    for d in range(1, 32):
        date = dt.date(2026, 12, d)
        spoiled = {"print_failed": d % 3, "encode_failed": d % 2, "damaged": int(d % 7 == 0), "data_changed": 0}
        moves = Movements(received=2000 if d == 10 else 0, issued=150 + d, spoiled=spoiled)
        closing = stock + moves.inflow - moves.outflow
        days.append(StockPeriod(date, date, stock, moves, closing))
        stock = closing
    spoils = {c: sum(day.movements.spoiled.get(c, 0) for day in days) for c in SPOIL_CATEGORIES}
    total = Movements(received=2000, issued=sum(day.movements.issued for day in days), spoiled=spoils)
    return MonthlyReport(2026, 12, days, StockPeriod(days[0].start, days[-1].end, 6000, total, stock))


def test_monthly_report_has_a_row_a_day_the_totals_spoils_identity_and_signature(tmp_path: Path) -> None:
    report = month_of_days()
    texts = pages(monthly_report_pdf(report, OFFICE, station="dukcapil-kota", printed_at=PRINTED_AT), tmp_path)
    text = "\n".join(texts)
    assert "LAPORAN PENGGUNAAN BLANGKO KTP-el" in text
    assert "Desember 2026" in text
    for day in report.days:
        m = day.movements
        figures = [day.opening, m.received, 0, 0, m.issued, *(m.spoiled.get(c, 0) for c in SPOIL_CATEGORIES), 0, 0]
        weekday = tanggal_panjang(day.start, weekday=True)[:3]
        row = [weekday + ",", day.start.strftime("%d-%m-%Y"), *(format_number(n) for n in figures)]
        assert has_row(text, *row, format_number(day.closing)), day.start
    # 31 days of 150 + d issued; print_failed d % 3, encode_failed d % 2, damaged every 7th day
    assert has_row(text, "Jumlah", "6.000", "2.000", "0", "0", "5.146", "31", "16", "4", "0", "0", "0", "0", "2.803")
    assert f"2.803 = 6.000 + 2.000 {MINUS} 5.197 ✓" in text
    assert has_row(text, "Gagal cetak", "31", "0,6%")
    assert has_row(text, "Rusak fisik", "4", "0,1%")
    assert has_row(text, "Jumlah", "51", "1,0%")
    assert "Mataram, 7 Desember 2026" in text
    assert "Lalu Ahmad Zaini" in text and "NIP. 197003121995031004" in text
    assert_numbered(texts)


# -- request letter ----------------------------------------------------------------------------------------------

FORECAST = Forecast(
    on_hand=1234,
    daily_use=312.46,
    spoil_rate=0.017,
    backlog={"backlog": 5800, "normal": 180, "walk_in": 20},
    backlog_blanks=6102,
    days_left=3.949,
    days_left_with_backlog=0.0,
    reorder_point=7000,
    request=14000,
    method="Daily use is the average over the last 20 working days.",
    method_id="Pemakaian harian dihitung dari rata-rata 20 hari kerja terakhir.",
    params=ForecastParams(fill_ratio=0.5),
    as_of=DAY,
)
REQUEST = BlankRequest(
    station="dukcapil-kota",
    date=DAY,
    on_hand=1234,
    months=[
        MonthUsage(2026, 9, 6000, 5100, 90),
        MonthUsage(2026, 10, 0, 5400, 95),
        MonthUsage(2026, 11, 5000, 5200, 88),
        MonthUsage(2026, 12, 0, 1300, 22),
    ],
    forecast=FORECAST,
    quantity=14000,
    reason="Persiapan pelayanan jemput bola di sekolah.",
)


def test_request_letter_states_stock_use_backlog_forecast_and_the_quantity(tmp_path: Path) -> None:
    pdf = request_letter_pdf(REQUEST, OFFICE, number="470/812/Dukcapil/XII/2026", printed_at=PRINTED_AT)
    texts = pages(pdf, tmp_path)
    text, words = "\n".join(texts), flat("\n".join(texts))
    assert "Mataram, 7 Desember 2026" in text
    for label, value in [
        ("Nomor", "470/812/Dukcapil/XII/2026"),
        ("Sifat", "Segera"),  # on hand is under the reorder point
        ("Lampiran", "-"),
        ("Perihal", "Permintaan Blangko KTP-el"),
    ]:
        assert has_row(text, label, ":", value)
    assert "Yth. Direktur Jenderal Kependudukan dan Pencatatan Sipil Kementerian Dalam Negeri" in words
    assert "sebanyak 1.234 (seribu dua ratus tiga puluh empat) keping" in words
    assert has_row(text, "September", "2026", "6.000", "5.100", "90", "5.190")
    assert has_row(text, "Oktober", "2026", "0", "5.400", "95", "5.495")
    assert has_row(text, "November", "2026", "5.000", "5.200", "88", "5.288")
    assert has_row(text, "Desember", "2026", "(s.d.", "7", "Desember)", "0", "1.300", "22", "1.322")
    assert "(PRR) yang belum dicetak sebanyak 6.000 (enam ribu) data" in words
    assert "sekitar 6.102 keping blangko" in words and "tingkat kerusakan 1,7%" in words
    assert "312,5 keping per hari kerja" in words and "cukup untuk 3,9 hari kerja" in words
    assert "titik pemesanan kembali adalah 7.000 keping" in words
    assert "Metode perhitungan: Pemakaian harian dihitung dari rata-rata 20 hari kerja terakhir." in words
    assert "sebanyak 14.000 (empat belas ribu) keping" in words
    assert "Lalu Ahmad Zaini" in text and "NIP. 197003121995031004" in text
    assert_numbered(texts)


def test_request_letter_in_english_without_a_number_leaves_it_to_fill_in(tmp_path: Path) -> None:
    texts = pages(request_letter_pdf(REQUEST, OFFICE, "en", printed_at=PRINTED_AT), tmp_path)
    words = flat("\n".join(texts))
    assert "Number : ......" in words
    assert "an additional 14,000 (fourteen thousand) blanks" in words
    assert "Method: Daily use is the average over the last 20 working days." in words
    assert_numbered(texts, "en")


def test_request_letter_when_no_use_is_measured_yet(tmp_path: Path) -> None:
    unmeasured = dataclasses.replace(
        FORECAST, daily_use=0.0, backlog={}, backlog_blanks=0, days_left=None, days_left_with_backlog=None
    )
    request = dataclasses.replace(REQUEST, on_hand=9000, forecast=unmeasured, reason="")
    words = flat("\n".join(pages(request_letter_pdf(request, OFFICE, printed_at=PRINTED_AT), tmp_path)))
    assert "Sifat : Biasa" in words
    assert "sebanyak 0 (nol) data" in words
    assert "Penggunaan harian belum dapat dihitung karena belum ada pemakaian blangko yang tercatat." in words
    assert "Pertimbangan" not in words


# -- berita acara ------------------------------------------------------------------------------------------------

SPOILED_AT = dt.datetime(2026, 12, 6, 2, 15, tzinfo=dt.UTC).timestamp()  # 10:15 WITA


def handover(n: int, kind: str = "destroyed") -> Handover:
    items = [
        HandoverItem(
            ledger_id=1000 + i,
            spoiled_at=SPOILED_AT - 3600 * i,
            category=SPOIL_CATEGORIES[i % 4] if i < n - 1 else "test_print",
            chip_uid=f"04C6B1{i:08X}",
            printer=f"counter-{i % 2 + 1}",
            station="dukcapil-kota",
            job_ref=f"3171-2026-{i:06d}",
            officer="op-pagi",
        )
        for i in range(n)
    ]
    return Handover(
        number="470/45/BA-Dukcapil/XII/2026",
        kind=kind,
        at=dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC).timestamp(),
        station="dukcapil-kota",
        place="halaman Kantor Dinas Kependudukan dan Pencatatan Sipil Kota Mataram",
        through=dt.date(2026, 12, 6),
        officers=[
            Person("Baiq Nurul Aini", "198001012005012001", "Penata (III/c)", "Kepala Bidang Pelayanan"),
            Person("Made Wirawan", "198502022010011002", "Penata Muda (III/a)", "Pengelola Blangko KTP-el"),
        ],
        witnesses=[
            Person("Ahmad Fauzi", "197505052000031003", "Pembina (IV/a)", "Inspektorat Kota Mataram"),
            Person("I Ketut Suarta", position="Satpol PP Kota Mataram"),
            Person("Agus Salim", rank="Ajun Komisaris Polisi", position="Polresta Mataram"),
        ],
        items=items,
        actor="supervisor",
    )


def test_berita_acara_pemusnahan_and_its_annex_of_every_blank(tmp_path: Path) -> None:
    ba = handover(300)
    texts = pages(berita_acara_pdf(ba, OFFICE, printed_at=PRINTED_AT), tmp_path)
    text = "\n".join(texts)
    words = flat(text)
    assert "BERITA ACARA" in texts[0] and "PEMUSNAHAN BLANGKO KTP-el RUSAK DAN INVALID" in texts[0]
    assert "Nomor: 470/45/BA-Dukcapil/XII/2026" in texts[0]
    assert (
        "Pada hari ini Senin tanggal tujuh bulan Desember tahun dua ribu dua puluh enam (07-12-2026), bertempat di"
        " halaman Kantor Dinas Kependudukan dan Pencatatan Sipil Kota Mataram, berdasarkan Surat Edaran Menteri"
        " Dalam Negeri Nomor 470.13/11176/SJ" in words
    )
    for label, value in [("Nama", "Baiq Nurul Aini"), ("NIP", "198001012005012001"), ("Pangkat/Golongan", "Penata")]:
        assert re.search(rf"{re.escape(label)}\s+:\s+{re.escape(value)}", text)
    assert "sampai dengan tanggal 6 Desember 2026" in words
    for n, (category, count) in enumerate(
        [
            ("Gagal cetak", "75 (tujuh puluh lima) keping"),
            ("Gagal encode", "75 (tujuh puluh lima) keping"),
            ("Rusak fisik", "75 (tujuh puluh lima) keping"),
            ("Perubahan elemen data", "74 (tujuh puluh empat) keping"),
            ("Cetak uji", "1 (satu) keping"),
        ],
        1,
    ):
        assert has_row(texts[0], f"{n}.", category, count), category
    assert has_row(texts[0], "Jumlah", "300 (tiga ratus) keping")
    assert "dimusnahkan dengan cara dibakar" in words
    assert "Demikian Berita Acara ini dibuat dengan sebenarnya untuk dapat dipergunakan sebagaimana mestinya." in words
    assert "Disaksikan oleh:" in text
    for person in ba.officers + ba.witnesses:
        assert person.name in text
    annex = [page for page in texts if "Referensi job" in page]
    assert len(annex) >= 10
    for page in annex:  # the header row repeated on each page of the annex
        assert has_row(
            page, "No.", "Tanggal rusak", "Kategori", "UID chip", "Printer", "Stasiun", "Referensi job", "Petugas"
        )
    listed = "\n".join(annex)
    for i, item in enumerate(ba.items, 1):
        when = dt.datetime.fromtimestamp(item.spoiled_at, dt.timezone(dt.timedelta(hours=8)))
        date, time = when.strftime("%d-%m-%Y"), when.strftime("%H:%M")
        assert item.chip_uid is not None and listed.count(item.chip_uid) == 1
        assert re.search(rf"^\s*{i}\.\s+{date}\s+{time}\s+.*{item.chip_uid}\s+{item.printer}\s", listed, re.M), i
    assert has_row(texts[-1], "Jumlah", "300 (tiga ratus) keping")
    assert "10:15" in listed  # the first blank, spoiled at 02:15 UTC, in Mataram's time
    assert_numbered(texts)


def test_berita_acara_penyerahan_in_english(tmp_path: Path) -> None:
    ba = handover(12, kind="returned")
    texts = pages(berita_acara_pdf(ba, OFFICE, "en", printed_at=PRINTED_AT), tmp_path)
    words = flat("\n".join(texts))
    assert "ON THE RETURN OF SPOILED AND INVALID e-KTP BLANKS" in words
    assert "On this day, Monday, the seventh of December in the year two thousand and twenty-six" in words
    assert "3 (three) blanks" in words and "1 (one) blank" in words and "12 (twelve) blanks" in words
    assert "handed back to Direktur Jenderal" in words
    assert "Witnessed by:" in words
    assert_numbered(texts, "en")


def test_text_typed_by_staff_is_shown_with_control_characters_escaped(tmp_path: Path) -> None:
    ba = handover(2)
    item = dataclasses.replace(ba.items[0], job_ref="ref\x1b[2J\u202eevil")
    texts = pages(berita_acara_pdf(dataclasses.replace(ba, items=[item]), OFFICE, printed_at=PRINTED_AT), tmp_path)
    assert "ref\\u001b[2J\\u202eevil" in "\n".join(texts)


# -- every document ----------------------------------------------------------------------------------------------

DOCUMENTS: dict[str, Callable[[], bytes]] = {
    "daily": lambda: daily_report_pdf(DAILY, OFFICE, station="dukcapil-kota", printed_at=PRINTED_AT),
    "notice": lambda: stock_notice_pdf(DAILY, OFFICE, station="dukcapil-kota", printed_at=PRINTED_AT),
    "monthly": lambda: monthly_report_pdf(month_of_days(), OFFICE, printed_at=PRINTED_AT),
    "request": lambda: request_letter_pdf(REQUEST, OFFICE, printed_at=PRINTED_AT),
    "berita_acara": lambda: berita_acara_pdf(handover(40), OFFICE, printed_at=PRINTED_AT),
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_fonts_are_embedded_and_page_one_renders(name: str, tmp_path: Path) -> None:
    pdf = DOCUMENTS[name]()
    assert pdf == DOCUMENTS[name](), "the same data and print time make the same bytes"
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    fonts = poppler("pdffonts", str(path)).splitlines()[2:]
    assert {line.split()[0].split("+")[-1] for line in fonts} == {"DejaVuSansBook", "DejaVuSansBold"}
    for line in fonts:
        emb, sub, uni = line.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), line
    poppler("pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(tmp_path / name))
    [png] = tmp_path.glob(f"{name}-*1.png")
    with Image.open(png) as image:
        short, long = sorted(image.size)
        assert abs(short - 496) <= 1 and abs(long - 702) <= 1  # A4 at 60 dpi
        dark = sum(image.convert("L").histogram()[:128])
        assert dark > 1000, "page 1 has text and rules on it"
