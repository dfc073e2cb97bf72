"""printd-web's pages beyond the station over HTTP: jobs and a job, spoiled blanks, stock, reports and their
downloads, charts, /metrics, the Host check and a pause with its reason; a real printd-web against a real printd.

One station serves every test: a printer whose second card is spoiled, cards printed for holders whose names and
NIKs must never show, and a second station registered on the same database ("van") whose jobs wait here unprinted,
so the jobs page has queued and held jobs to filter and the stock page a station to transfer to.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from printd.config import ConfigError, WebConfig, parse_config
from printd.control.client import ControlClient
from printd.store.engines import open_store
from printd.web.scrape import allowed, networks
from printd.web.security import allowed_hosts, host_of
from tests.conftest import card_png
from tests.daemon_harness import DaemonProcess, SimSpec, wait_for
from tests.web_harness import WebProcess, csrf_of

HOLDER = "BAIQ NURUL HIDAYATI"
NIK = "5271016009880002"  # a made-up NIK in the shape of Mataram's
SECRETS = (HOLDER, "BAIQ", "HIDAYATI", NIK)
STATION = "loket-pages"
HANDOVER = "BA/07/2026"


class Station:
    def __init__(self, daemon: DaemonProcess, web: WebProcess, directory: Path) -> None:
        self.daemon = daemon
        self.web = web
        self.face = directory / "face.png"
        self.face.write_bytes(card_png("PAGES"))

    def call(self, method: str, params: dict[str, object] | None = None) -> object:
        with ControlClient(self.daemon.socket, timeout=30) as client:
            return client.call(method, params)

    def submit(self, ref: str, **extra: object) -> None:
        job = {"ref": ref, "front": str(self.face), "holder": HOLDER, "chip": f"NIK={NIK};NAMA={HOLDER}"}
        self.call("jobs.submit", {"job": job | extra})

    def state(self, ref: str) -> str:
        job = self.call("jobs.get", {"job": ref})
        assert isinstance(job, dict)
        return str(job["state"])

    def printer(self, name: str) -> dict[str, object]:
        status = self.call("status")
        assert isinstance(status, dict)
        return next(p for p in status["printers"] if p["name"] == name)


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    directory = tmp_path_factory.mktemp("web-pages")
    printer = SimSpec("p1", seconds_per_card=0.05, faults=["card 2: encode fails"])
    daemon = DaemonProcess(directory, [printer], station=STATION)
    web = WebProcess(
        daemon,
        directory,
        web={
            "anonymous_viewer": True,
            "login_attempts": 50,
            "metrics_from": ["127.0.0.1/32", "::1/128"],  # not 127.0.0.2: the refused address of the tests
            "hostnames": ["printd.kantor.lan"],
        },
    )
    try:
        daemon.start()
        van = open_store(daemon.database, station="van")  # another station on the database, as its printd would
        van.register_station(["v1"], "van-pc", 4242)
        van.close()
        web.start()
        found = Station(daemon, web, directory)
        found.call("stock.receive", {"count": 300, "ref": "DO-PAGES-1", "serials": "000001-000300"})
        for name, role in (("ani", "operator"), ("vera", "viewer"), ("sri", "supervisor")):
            web.add_account(name, role)
        for n in range(4):
            found.submit(f"PAGES-{n:03d}")
        # jobs bound to the van wait here: never printed by this station
        found.submit("VAN-WALKIN", station="van", priority="walk_in")
        found.submit("VAN-BACKLOG", station="van", priority="backlog")
        found.submit("VAN-HELD", station="van")
        found.call("jobs.hold", {"job": "VAN-HELD"})
        wait_for(lambda: all(found.state(f"PAGES-{n:03d}") == "done" for n in range(4)), 30, "the cards to print")
        officer = {"name": "Kepala Bidang PIAK", "nip": "198001012005011001"}
        found.call("spoiled.handover", {"kind": "destroyed", "number": HANDOVER, "officers": [officer]})
        found.submit("PAGES-LATE")  # spoiled after the berita acara: pending
        wait_for(lambda: found.state("PAGES-LATE") == "done", 30, "the late card")
        found.call("jobs.spoil", {"job": "PAGES-LATE", "attempt": _attempt(found, "PAGES-LATE"), "category": "damaged"})
        yield found
    finally:
        web.kill()
        daemon.kill()


def _attempt(station: Station, ref: str) -> int:
    job = station.call("jobs.get", {"job": ref})
    assert isinstance(job, dict)
    return int(job["cards"][-1]["attempt"])


@contextlib.contextmanager
def logged_in(station: Station, name: str) -> Iterator[httpx.Client]:
    with station.web.client() as http:
        assert station.web.login(http, name).status_code == 303
        yield http


def pdf_text(data: bytes, directory: Path) -> str:
    path = directory / "document.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_every_page_renders_for_a_viewer_without_personal_data(station: Station) -> None:
    paths = ["/jobs", "/jobs?state=queued", "/jobs/PAGES-000", "/jobs/resolve?job=PAGES-001", "/spoiled", "/stock"]
    paths += ["/reports", "/charts", "/stock?kind=received"]
    shown = []
    with station.web.client() as http:
        for path in paths:
            response = http.get(path)
            assert response.status_code == 200, path
            assert "/actions/" not in response.text, path  # an anonymous viewer gets no form that acts
            shown.append(response.text)
        indonesian = http.get("/stock", headers={"Accept-Language": "id"}).text
    assert "PAGES-000" in shown[0] and "VAN-WALKIN" in shown[1]
    assert "Blangko tersedia" in indonesian and "Receipts, adjustments and transfers" not in indonesian
    everything = "\n".join([*shown, indonesian, station.web.log_path.read_text()])
    for secret in SECRETS:
        assert secret not in everything


def test_the_jobs_filter_find_by_reference_and_page(station: Station) -> None:
    with station.web.client() as http:
        held = http.get("/jobs", params={"state": "held"}).text
        assert "VAN-HELD" in held and "VAN-WALKIN" not in held and "PAGES-000" not in held
        walk_ins = http.get("/jobs", params={"priority": "walk_in"}).text
        assert "VAN-WALKIN" in walk_ins and "VAN-BACKLOG" not in walk_ins
        bound = http.get("/jobs", params={"station": "van", "state": "queued"}).text
        assert "VAN-WALKIN" in bound and "VAN-BACKLOG" in bound and "PAGES-000" not in bound
        assert bound.index("VAN-WALKIN") < bound.index("VAN-BACKLOG")  # in a state: the order they print
        unknown = http.get("/jobs", params={"state": "nonsense"})  # not a state: no filter
        assert unknown.status_code == 200 and "PAGES-000" in unknown.text
        found = http.get("/jobs", params={"ref": "PAGES-002"})
        assert found.status_code == 303 and found.headers["location"] == "/jobs/PAGES-002"
        missing = http.get("/jobs", params={"ref": "NO-SUCH-REF"})
        assert missing.status_code == 404 and "NO-SUCH-REF" in missing.text
        first = http.get("/jobs", params={"limit": "2"}).text
        assert first.count('href="/jobs/') == 2 and "/jobs?limit=102" in first
        job = http.get("/jobs/PAGES-001").text
        assert "Cards" in job and "History" in job and "Submitted" in job


def test_a_jobs_actions_follow_its_state_and_the_role(station: Station) -> None:
    with station.web.client() as anonymous:
        assert "/actions/jobs/release" not in anonymous.get("/jobs/VAN-HELD").text
    with logged_in(station, "vera") as viewer:
        page = viewer.get("/jobs/VAN-HELD").text
        assert "/actions/" not in page and "Log in as an operator" in page
    with logged_in(station, "ani") as http:
        held = http.get("/jobs/VAN-HELD").text
        assert 'formaction="/actions/jobs/release"' in held and 'formaction="/actions/jobs/cancel"' in held
        assert 'formaction="/actions/jobs/hold"' not in held and 'formaction="/actions/jobs/reprint"' not in held
        done = http.get("/jobs/PAGES-000").text
        assert 'formaction="/actions/jobs/reprint"' in done and "/actions/jobs/spoil" in done
        data = {"job": "VAN-HELD", "csrf": csrf_of(held), "next": "/jobs/VAN-HELD"}
        released = http.post("/actions/jobs/release", data=data)
        assert released.status_code == 303 and released.headers["location"] == "/jobs/VAN-HELD"
        page = http.get("/jobs/VAN-HELD").text
        assert "Job VAN-HELD is back in the queue." in page and "web:ani" in page
        assert 'formaction="/actions/jobs/hold"' in page  # queued now: it may be held again
        assert http.post("/actions/jobs/hold", data=data).status_code == 303
    assert station.state("VAN-HELD") == "held"


def test_the_spoiled_blanks_the_pending_ones_and_the_berita_acara(station: Station, tmp_path: Path) -> None:
    with station.web.client() as http:
        page = http.get("/spoiled").text
        assert "PAGES-001" in page and "Chip encoding failed" in page  # the card spoiled by the printer
        assert "PAGES-LATE" in page and "Physically damaged" in page  # the one rejected at inspection
        assert HANDOVER in page and "/reports/berita-acara.pdf" not in page  # listed, not for viewers
        damaged = http.get("/spoiled", params={"category": "damaged"}).text
        assert "PAGES-LATE" in damaged and "PAGES-001" not in damaged
        later = http.get("/spoiled", params={"since": "2999-01-01"}).text
        assert "No blank spoiled since" in later
        pending = page[page.index("Waiting for a berita acara") :]
        assert "PAGES-LATE" in pending and "PAGES-001" not in pending  # PAGES-001 left under the berita acara
    with logged_in(station, "ani") as operator:
        refused = operator.get("/reports/berita-acara.pdf", params={"number": HANDOVER})
        assert refused.status_code == 403 and "Only a supervisor" in refused.text
    with logged_in(station, "sri") as supervisor:
        assert "/reports/berita-acara.pdf?number=BA/07/2026" in supervisor.get("/spoiled").text
        document = supervisor.get("/reports/berita-acara.pdf", params={"number": HANDOVER})
        assert document.status_code == 200 and document.content.startswith(b"%PDF")
        disposition = document.headers["content-disposition"]
        assert disposition == f'attachment; filename="berita-acara_{STATION}_BA-07-2026.pdf"'
        assert "BA/07/2026" in pdf_text(document.content, tmp_path).replace(" ", "")
        annex = list(csv.reader(io.StringIO(supervisor.get("/reports/berita-acara.csv?number=BA/07/2026").text)))
        assert annex[0][:2] == ["Nomor berita acara", "Jenis"] and annex[1][1] == "Pemusnahan"
        assert [row[9] for row in annex[1:]] == ["PAGES-001"]
        assert supervisor.get("/reports/berita-acara.pdf", params={"number": "BA-NONE"}).status_code == 400


def test_the_stock_page_its_history_and_the_supervisors_forms(station: Station) -> None:
    with logged_in(station, "ani") as operator:
        page = operator.get("/stock").text
        assert "/actions/stock/" not in page  # an operator books no stock
        assert "DO-PAGES-1" in page and "000001-000300" in page  # the receipt in the history
        assert "Forecast" in page and "On hand by station" in page and "van" in page
    with logged_in(station, "sri") as http:
        page = http.get("/stock").text
        token = csrf_of(page)
        assert 'action="/actions/stock/adjust"' in page and 'action="/actions/stock/transfer"' in page
        adjust = {"count": "-2", "reason": "two blanks bent in the box", "printer": "p1", "csrf": token}
        adjust["next"] = "/stock"
        assert http.post("/actions/stock/adjust", data=adjust).status_code == 303
        transfer = {"count": "20", "to": "van", "ref": "TR-PAGES-1", "csrf": token, "next": "/stock"}
        assert http.post("/actions/stock/transfer", data=transfer).status_code == 303
        page = http.get("/stock").text
        assert "20 blanks moved to station van under TR-PAGES-1." in page
        history = page[page.index("Receipts, adjustments and transfers") :]
        assert history.index("TR-PAGES-1") < history.index("two blanks bent in the box") < history.index("DO-PAGES-1")
        assert "\u22122" in history and f"{STATION} → van" in history
        received = http.get("/stock", params={"kind": "received"}).text
        assert "DO-PAGES-1" in received and "TR-PAGES-1" not in received.split("Receipts, adjustments")[1]
        zero = http.post("/actions/stock/adjust", data=adjust | {"count": "0"})
        assert zero.status_code == 303 and "not 0" in http.get("/stock").text
    events = station.call("stock.history", {"limit": 3})
    assert isinstance(events, list)
    assert [(e["kind"], e["count"], e["actor"]) for e in events[:2]] == [
        ("transferred", 20, "web:sri"),
        ("adjusted", -2, "web:sri"),
    ]


def test_the_reports_download_as_csv_and_pdf(station: Station, tmp_path: Path) -> None:
    with station.web.client() as http:
        page = http.get("/reports").text
        today = page.split('name="date" value="')[1][:10]
        daily = http.get("/reports/daily.csv", params={"date": today})
        assert daily.status_code == 200 and daily.headers["content-type"].startswith("text/csv")
        assert daily.headers["content-disposition"] == f'attachment; filename="laporan-harian_{STATION}_{today}.csv"'
        rows = list(csv.reader(io.StringIO(daily.text)))
        assert rows[0][:4] == ["date", "scope", "name", "Stok awal"]
        assert rows[1][:3] == [today, "station", STATION] and rows[1][4] == "300"  # Diterima
        pdf = http.get("/reports/daily.pdf")  # no date: today
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert STATION in pdf_text(pdf.content, tmp_path)
        monthly = http.get("/reports/monthly.csv", params={"month": today[:7]})
        assert monthly.status_code == 200 and list(csv.reader(io.StringIO(monthly.text)))[-1][0] == "Jumlah"
        for path in ("/reports/monthly.pdf", "/reports/notice.pdf", "/reports/request.pdf?quantity=500"):
            document = http.get(path)
            assert document.status_code == 200 and document.content.startswith(b"%PDF"), path
        assert "500 (lima ratus)" in pdf_text(document.content, tmp_path)
        wrong = http.get("/reports/daily.csv", params={"date": "7 Desember"})
        assert wrong.status_code == 400 and "YYYY-MM-DD" in wrong.text
        assert http.get("/reports/daily.docx").status_code == 404


def test_the_charts_draw_the_last_30_days_and_give_the_figures(station: Station) -> None:
    with station.web.client() as http:
        page = http.get("/charts").text
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
    assert 'class="issued"' in page and 'class="on-hand"' in page and " style=" not in page
    figures = page[page.index("The figures") :]
    assert figures.count('<th scope="row">') == 30  # a row a day, today first
    issued = station.call("reports.daily", {})
    assert isinstance(issued, dict)
    first = figures[figures.index("<tbody>") : figures.index("</tr>", figures.index("<tbody>"))]
    assert f"<td>{issued['issued']}</td>" in first


def test_metrics_for_the_allowed_addresses_only(station: Station) -> None:
    with station.web.client() as http:
        scraped = http.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "printd_up 1.0" in scraped.text and 'printd_printer_state{printer="p1",state="ready"}' in scraped.text
    assert "printd_cards_total" in scraped.text and "PAGES-" not in scraped.text
    other = httpx.Client(base_url=station.web.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with other:
        refused = other.get("/metrics")
        assert refused.status_code == 403 and "metrics_from" in refused.text
        assert other.get("/stock").status_code == 200  # the pages are not limited by it
    loopback = networks(WebConfig().metrics_from)
    assert allowed("127.0.0.1", loopback) and allowed("::1", loopback) and allowed("::ffff:127.0.0.5", loopback)
    assert not allowed("192.168.1.20", loopback) and not allowed(None, loopback) and not allowed("x", loopback)
    assert allowed("192.168.1.20", networks(["192.168.1.0/24"]))


def test_a_request_naming_another_host_is_refused(station: Station) -> None:
    port = station.web.port
    with station.web.client() as http:
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", ""):
            response = http.get("/login", headers={"Host": host})
            assert response.status_code == 400, host
            assert response.headers["x-frame-options"] == "DENY"
        for host in (f"localhost:{port}", f"[::1]:{port}", "printd.kantor.lan", f"PRINTD.kantor.lan.:{port}"):
            assert http.get("/login", headers={"Host": host}).status_code == 200, host
    assert host_of("[::1]:8631") == "::1" and host_of("PC-1.:8631") == "pc-1" and host_of("pc-1") == "pc-1"
    lan = allowed_hosts(WebConfig(listen="192.168.1.20:8631", insecure_lan=True), machine=["kantor-pc"])
    assert lan == {"192.168.1.20", "kantor-pc"}  # beyond loopback: no localhost


def test_an_operator_pauses_a_printer_with_a_reason_and_the_page_shows_it(station: Station) -> None:
    with logged_in(station, "ani") as http:
        page = http.get("/").text
        assert 'name="reason"' in page and 'hx-preserve="true"' in page
        data = {"printer": "p1", "reason": "  Cleaning   the print head ", "csrf": csrf_of(page), "next": "/"}
        assert http.post("/actions/printers/pause", data=data).status_code == 303
        assert station.printer("p1")["pause_reason"] == "paused by web:ani: Cleaning the print head"
        page = http.get("/").text
        assert "Printer p1 is paused (Cleaning the print head)" in page
        assert "paused by web:ani: Cleaning the print head" in page  # the printer's card says why
        indonesian = http.get("/language/id", params={"next": "/"})
        assert indonesian.status_code == 303 and "dijeda oleh web:ani: Cleaning the print head" in http.get("/").text
        http.get("/language/en", params={"next": "/"})
        too_long = http.post("/actions/printers/pause", data=data | {"reason": "x" * 201})
        assert too_long.status_code == 303 and "at most 200 characters" in http.get("/").text
        assert http.post("/actions/printers/resume", data=data).status_code == 303
    assert station.printer("p1")["paused"] is False


def test_the_web_keys_metrics_from_and_hostnames_are_checked_at_start() -> None:
    assert parse_config("").web.metrics_from == ["127.0.0.0/8", "::1/128"]
    for line, key in (
        ('metrics_from = ["192.168.1.5/24"]', "web.metrics_from[0]"),  # host bits set: a typo for /32 or .0/24
        ('metrics_from = ["127.0.0.0/8", "kantor"]', "web.metrics_from[1]"),
        ('hostnames = ["https://printd.kantor.lan"]', "web.hostnames[0]"),
    ):
        with pytest.raises(ConfigError, match=re.escape(key)):
            parse_config(f"[web]\n{line}\n")
    fine = parse_config(
        '[web]\nmetrics_from = ["10.0.0.0/8", "fd00::/8"]\nhostnames = ["printd.kantor.lan", "10.1.2.3"]\n'
    )
    assert fine.web.hostnames == ["printd.kantor.lan", "10.1.2.3"]
