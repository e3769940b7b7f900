"""The overview in headless Chromium: it refreshes by itself and shows counts and charts once jobs ran."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import PAGE_TIMEOUT
from tests.integration.ops.test_counters import run_three_jobs

#: The auto refresh runs every 5 s: a count shows within two refreshes and a page load.
REFRESH_TIMEOUT = 2 * 5 + PAGE_TIMEOUT


def processed_last_hour(browser: Any) -> int:
    return int(browser.find_element(By.CSS_SELECTOR, ".gj-totals tbody tr:first-child .gj-processed").text)


def test_overview__fills_in_by_itself_once_jobs_ran(
    admin_browser, clean_broker, start_worker, wait_for, page_screenshot
):
    # Given the overview open before any job ran
    admin_browser.get(f"{admin_browser.base_url}/admin/gifting_jobs/dashboard/")
    wait_for(".gj-overview-empty")
    assert processed_last_hour(admin_browser) == 0

    # When a worker runs a success, a retried job and a dead letter
    start_worker()
    run_three_jobs(clean_broker)

    # Then, without a reload, the page shows their counts and charts with points
    WebDriverWait(admin_browser, REFRESH_TIMEOUT).until(lambda b: processed_last_hour(b) > 0)
    assert processed_last_hour(admin_browser) == 4
    row = admin_browser.find_element(By.CSS_SELECTOR, ".gj-totals tbody tr:first-child")
    assert [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")] == ["4", "2", "1", "1"]
    assert not admin_browser.find_elements(By.CSS_SELECTOR, ".gj-overview-empty")
    charts = admin_browser.find_elements(By.CSS_SELECTOR, "svg.gj-chart")
    assert len(charts) == 2 and all(chart.size["width"] > 300 for chart in charts)
    # A point of the processed line is off the zero line, and its title says its count.
    titles = [t.get_attribute("textContent") for t in charts[0].find_elements(By.CSS_SELECTOR, "circle title")]
    assert any(title.endswith(" processed") and not title.endswith(": 0 processed") for title in titles)
    job_types = admin_browser.find_element(By.CSS_SELECTOR, ".gj-job-types").text
    assert "test_flaky" in job_types and "test_permanent" in job_types
    page_screenshot("overview")
