"""Test helper: a headless Chromium driven by selenium, offline, for the dashboard's browser tests.

    driver = start_chromium(tmp_path / "profile")     # skipped (failed under CI=true) when Chromium is missing
    driver.get(web.url + "/login")
    wait_until(driver, lambda d: d.find_elements(By.ID, "queue"), 10, "the station page")
    shoot(driver, "station")                          # tests/screenshots/station.png
    driver.quit()

Debian's ``chromium`` and ``chromium-driver`` (``make setup``) are used from /usr/bin; selenium-manager is kept
offline, so nothing is ever downloaded. The browser's console (``goog:loggingPrefs``) is kept in ``Console``: the
tests read it for Content-Security-Policy violations.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver import Chrome, ChromeOptions
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

from tests.components import require_component

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1366, 900)  # a desktop at the counter
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

T = TypeVar("T")


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: install Debian's {package} package (make setup)"
    return None


def start_chromium(profile: Path, *, language: str = "en") -> Chrome:
    """A headless Chromium with a fresh profile in ``profile``, the window at ``WINDOW``, its console kept.

    Skips the test (fails it under CI=true) when Chromium or its driver is not installed."""
    require_component("headless Chromium", chromium_problem())
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager never reaches the network for a driver or a browser
    options = ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--lang={language}")
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    except WebDriverException as exc:
        raise RuntimeError(f"headless Chromium did not start ({CHROMIUM}, {CHROMEDRIVER}): {exc.msg}") from exc
    # --window-size counts the window's frame: grow the window until the page itself is WINDOW
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    driver.set_window_size(2 * WINDOW[0] - inner[0], 2 * WINDOW[1] - inner[1])
    return driver


def wait_until(driver: Chrome, condition: Callable[[Chrome], T], timeout: float, what: str) -> T:
    """The first truthy value of ``condition(driver)``, polled every 20 ms; a stale element is asked again."""

    def attempt(d: Chrome) -> T | bool:
        try:
            return condition(d)
        except StaleElementReferenceException:  # a live section was swapped under the test: ask again
            return False

    found = WebDriverWait(driver, timeout, poll_frequency=0.02).until(
        attempt, f"timed out after {timeout:.0f}s waiting for {what}"
    )
    return cast(T, found)


def shoot(driver: Chrome, name: str) -> Path:
    """A screenshot of the window into tests/screenshots/NAME.png (ignored by git)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise AssertionError(f"Chromium wrote no screenshot to {path}")
    return path


def publish(shot: Path, target: Path, variable: str = "PRINTD_UPDATE_SCREENSHOT") -> bool:
    """Copy ``shot`` to ``target`` (a committed file) only when ``variable`` is 1, so normal runs leave the tree."""
    if os.environ.get(variable) != "1":
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, target)
    return True


def navigation_status(driver: Chrome) -> int:
    """The HTTP status of the document now shown (the Navigation Timing entry's responseStatus)."""
    status = driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus;")
    assert isinstance(status, int), f"the browser did not report the page's status: {status!r}"
    return status


@dataclass
class Console:
    """Everything the browser's console said, read as the tests go (Chromium hands each entry out once)."""

    driver: Chrome
    entries: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        self.entries.extend(found)
        return found

    def csp_violations(self) -> list[str]:
        self.read()
        return [str(e.get("message", "")) for e in self.entries if "Content Security Policy" in str(e.get("message"))]
