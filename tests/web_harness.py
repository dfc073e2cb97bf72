"""Test helper: a real printd-web process on a free port, against a real printd (``DaemonProcess``).

    web = WebProcess(daemon, tmp_path, web={"anonymous_viewer": True})
    web.start()                      # waits until it answers
    with web.client() as http:       # httpx, base_url = web.url; TLS checked against the test's own certificate
        web.login(http, "ani", PASSWORD)
        http.post("/actions/printers/pause", data={"printer": "p1", "csrf": csrf_of(http.get("/").text)})
    web.stop()

``[web]`` keys go in ``web`` (listen defaults to 127.0.0.1 and a free port); the configuration file is the
daemon's own with that table added (``config_path``). ``add_account`` makes a dashboard account as root does.
Browser tests and benchmarks take the same object: ``url``, ``start``/``stop``/``kill``, ``log_path``.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon_harness import ChildProcess, DaemonProcess, SimSpec, toml_value

PASSWORD = "kartu-tanda-penduduk-7"  # every test account's password: at least 10 characters, not the name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)


@dataclass
class WebProcess(ChildProcess):
    daemon: DaemonProcess
    directory: Path
    web: dict[str, Any] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    ca_file: Path | None = None  # the certificate to trust when [web] tls_cert is set
    env: dict[str, str] = field(default_factory=dict)  # more environment (NOTIFY_SOCKET...)
    log_path: Path = field(init=False)
    STOP_SECONDS = 30.0

    def __post_init__(self) -> None:
        self.log_path = self.directory / "printd-web.log"

    @property
    def config_path(self) -> Path:
        return self.directory / "printd-web.toml"

    @property
    def tls(self) -> bool:
        return "tls_cert" in self.web

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        station = self.daemon.write_config().read_text()
        table = {"listen": f"127.0.0.1:{self.port}", "language": "en"} | self.web
        lines = ["[web]"] + [f"{key} = {toml_value(value)}" for key, value in table.items()]
        self.config_path.write_text(station + "\n" + "\n".join(lines) + "\n")
        return self.config_path

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start printd-web and return at once."""
        config = self.write_config()
        return self.launch(["-m", "printd.web.server", "--config", str(config)], self.env)

    def start(self, timeout: float = 30.0) -> None:
        """Start printd-web and wait until it answers."""
        process = self.spawn()
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"printd-web did not start:\n{self.log_path.read_text()[-3000:]}")
            try:
                with self.client() as http:
                    http.get("/login")
                return
            except httpx.TransportError:
                time.sleep(0.05)

    def client(self, **options: Any) -> httpx.Client:
        """An HTTP client of this dashboard; cookies kept, redirects not followed (tests look at them)."""
        verify: Any = ssl.create_default_context(cafile=self.ca_file) if self.ca_file is not None else True
        return httpx.Client(base_url=self.url, verify=verify, timeout=30.0, **options)

    def login(self, http: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
        """Log ``http`` in as ``name``; the response to the login POST."""
        token = csrf_of(http.get("/login").text)
        return http.post("/login", data={"name": name, "password": password, "csrf": token, "next": "/"})

    def add_account(self, name: str, role: str, password: str = PASSWORD, language: str | None = None) -> None:
        params: dict[str, object] = {"name": name, "role": role, "password": password}
        if language is not None:
            params["language"] = language
        with self.daemon.client() as client:
            client.call("users.add", params)


@pytest.fixture
def web_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A printd with one quick simulated printer and 100 blanks."""
    daemon = DaemonProcess(tmp_path, [SimSpec("p1", seconds_per_card=0.2)])
    daemon.start()
    with daemon.client() as client:
        client.call("stock.receive", {"count": 100, "ref": "DO-WEB-1"})
    yield daemon
    daemon.kill()


@pytest.fixture
def web(web_daemon: DaemonProcess, tmp_path: Path) -> Iterator[WebProcess]:
    """printd-web against ``web_daemon``, read-only pages open to anonymous viewers."""
    process = WebProcess(web_daemon, tmp_path, web={"anonymous_viewer": True})
    process.start()
    yield process
    process.kill()
