"""The Workers page in a real browser: a worker shows up while it runs, with the job it is running."""

from __future__ import annotations

import os

from selenium.webdriver.common.by import By

from gifting_jobs.dispatch import enqueue
from tests.conftest import wait_until
from tests.jobapp.jobs import release_key
from tests.jobapp.models import Execution

WORKERS_PATH = "/admin/gifting_jobs/dashboard/workers/"


def test_workers__a_running_worker_and_its_job_appear(admin_browser, clean_broker, worker, wait_for, page_screenshot):
    job = enqueue("test_blocking", {"key": "seen-in-browser", "triggered_by": "manual"}, {})
    wait_until(lambda: Execution.objects.filter(key="seen-in-browser").exists(), what="the job started")

    admin_browser.get(admin_browser.base_url + WORKERS_PATH)

    # The page refreshes itself: the running job shows up without a reload.
    job_item = wait_for(f'tr.worker[data-pid="{os.getpid()}"] li.running-job[data-job-id="{job.id}"]')
    assert "test_blocking" in job_item.text
    row = admin_browser.find_element(By.CSS_SELECTOR, f'tr.worker[data-pid="{os.getpid()}"]')
    assert row.find_element(By.CSS_SELECTOR, "td.busy").text == "1 of 4"
    assert "testing" in row.find_element(By.CSS_SELECTOR, "td.queues").text
    page_screenshot("workers")

    clean_broker.client.set(release_key("seen-in-browser"), "1")
    wait_for(f'tr.worker[data-pid="{os.getpid()}"] td.running .dashboard-empty')
