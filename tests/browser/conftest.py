"""Real-browser fixtures: headless Debian Chromium driven by Selenium against pytest-django's live server.

Every test in tests/browser/ is marked `browser` (run with `make browser`).
`browser` is a fresh Chromium (own profile, 1400x900 window); `admin_browser`
is the same browser logged in to the admin as a superuser. A failing test
leaves a screenshot and the page source under `.local/browser-failures/`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ROOT

# Selenium must never fetch drivers or browsers (only loopback is reachable; Debian's are used).
os.environ.setdefault("SE_OFFLINE", "true")

#: Debian's packages (`apt-get install chromium chromium-driver`); override for other systems.
CHROMIUM_BINARY = os.environ.get("CHROMIUM_BINARY") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER_BINARY = os.environ.get("CHROMEDRIVER_BINARY") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: The width the admin must fit (issue: "Last failed at" was cut off at 1400 px), and a laptop's height.
WINDOW_WIDTH, WINDOW_HEIGHT = 1400, 900
#: Headless, and nothing that reaches the network on its own (only loopback is allowed here).
CHROMIUM_ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}",
)
#: Seconds a page or element may take to appear.
PAGE_TIMEOUT = 20
#: Where failing tests leave a screenshot and the page source (git-ignored).
FAILURE_DIR = ROOT / ".local" / "browser-failures"
#: Where `page_screenshot` writes the README's screenshots (committed), when `SAVE_SCREENSHOTS=1`.
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"
#: Credentials of the superuser `admin_browser` logs in as.
ADMIN_USERNAME, ADMIN_PASSWORD = "browser-admin", "browser-admin-password"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser/ `browser`, so `-m browser` / `-m "not browser"` select them."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _save_failure(driver: WebDriver, nodeid: str) -> Path:
    FAILURE_DIR.mkdir(parents=True, exist_ok=True)
    stem = str(FAILURE_DIR / re.sub(r"[^\w-]+", "_", nodeid))
    driver.save_screenshot(f"{stem}.png")
    Path(f"{stem}.html").write_text(driver.page_source)
    return Path(f"{stem}.png")


@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium (its own profile dir) at 1400x900; quits after the test."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM_BINARY
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER_BINARY))
    driver.set_window_size(WINDOW_WIDTH, WINDOW_HEIGHT)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        call = getattr(request.node, "report_call", None)
        if call is not None and call.failed:
            path = _save_failure(driver, request.node.nodeid)
            print(f"browser screenshot of the failure: {path}")
        driver.quit()


@pytest.fixture
def wait_for(browser: WebDriver) -> Callable[..., Any]:
    """Wait until an element matching a CSS selector is visible, and return it."""

    def wait(selector: str, *, timeout: float = PAGE_TIMEOUT) -> Any:
        return WebDriverWait(browser, timeout).until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, selector))
        )

    return wait


@pytest.fixture
def superuser(transactional_db: None, django_user_model: Any) -> Any:
    """A superuser the browser can log in as (committed: the live server is another thread)."""
    return django_user_model.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)


@pytest.fixture
def admin_browser(browser: WebDriver, live_server: Any, superuser: Any, wait_for: Callable[..., Any]) -> WebDriver:
    """The browser logged in to the admin through its login form; `browser.base_url` is the live server."""
    browser.base_url = live_server.url  # type: ignore[attr-defined]
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(ADMIN_USERNAME)
    browser.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form#login-form [type=submit]").click()
    wait_for("#logout-form")
    return browser


@pytest.fixture
def page_screenshot(browser: WebDriver) -> Callable[[str], Path | None]:
    """Save the current page as `docs/screenshots/<name>.png` when `SAVE_SCREENSHOTS=1` (`make screenshots`).

    The README shows one screenshot per dashboard page, taken by the browser
    tests themselves; a normal run leaves the committed images alone.
    """

    def save(name: str) -> Path | None:
        if os.environ.get("SAVE_SCREENSHOTS") != "1":
            return None
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        browser.save_screenshot(str(path))
        return path

    return save
