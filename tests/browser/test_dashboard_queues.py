"""The Queues page in a real browser: pause a queue, a job sent to it waits; resume it, and the job runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from gifting_jobs.broker import RedisBroker
from gifting_jobs.dispatch import enqueue
from tests.browser.conftest import PAGE_TIMEOUT
from tests.conftest import wait_until
from tests.jobapp.models import Execution

QUEUES_PATH = "/admin/gifting_jobs/dashboard/queues/"


@pytest.fixture
def resumed_after(clean_broker: RedisBroker) -> Iterator[RedisBroker]:
    yield clean_broker
    for name in clean_broker.paused_queues() | set(clean_broker.paused.names):
        clean_broker.resume_queue(name)


def click(browser: Any, selector: str) -> None:
    """Click an element of the live part, which the page's auto refresh may replace meanwhile."""

    def clicked(driver: Any) -> bool:
        driver.find_element(By.CSS_SELECTOR, selector).click()
        return True

    WebDriverWait(browser, PAGE_TIMEOUT, ignored_exceptions=[StaleElementReferenceException]).until(clicked)


def cell_text(browser: Any, selector: str) -> str:
    def text(driver: Any) -> str:
        return driver.find_element(By.CSS_SELECTOR, selector).text

    return WebDriverWait(browser, PAGE_TIMEOUT, ignored_exceptions=[StaleElementReferenceException]).until(text)


def test_queues__pause_in_the_browser_holds_a_job_and_resume_runs_it(
    admin_browser, resumed_after, worker, wait_for, page_screenshot
):
    broker = resumed_after
    admin_browser.get(admin_browser.base_url + QUEUES_PATH)
    wait_for('tbody[data-queue="testing"] .queue-badge-running')

    # When the operator pauses the queue
    click(admin_browser, 'tbody[data-queue="testing"] button.queue-pause')
    wait_for('tbody[data-queue="testing"][data-paused="1"] .queue-badge-paused')
    assert "Queue testing paused" in admin_browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert broker.paused_queues() == {"testing"}

    # Then a job sent to it waits, while the worker runs a later job of another queue
    enqueue("test_record", {"key": "held-by-pause", "triggered_by": "manual"}, {})
    noop = enqueue("test_noop", {"key": "runs-meanwhile", "triggered_by": "manual"}, {})
    wait_until(lambda: not broker.job_pending(noop.id), what="the other queue's job ran")
    assert not Execution.objects.filter(key="held-by-pause").exists()
    admin_browser.refresh()
    wait_for('tbody[data-queue="testing"][data-paused="1"]')
    assert cell_text(admin_browser, 'tbody[data-queue="testing"] tr[data-band="normal"] td.ready') == "1"
    paused_rows = admin_browser.find_element(By.CSS_SELECTOR, 'tbody[data-queue="testing"]')
    admin_browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", paused_rows)
    page_screenshot("queues")

    # When it is resumed, the job runs
    click(admin_browser, 'tbody[data-queue="testing"] button.queue-resume')
    wait_for('tbody[data-queue="testing"][data-paused="0"] .queue-badge-running')
    wait_until(lambda: Execution.objects.filter(key="held-by-pause").exists(), what="the job ran after the resume")
    assert broker.paused_queues() == set()
