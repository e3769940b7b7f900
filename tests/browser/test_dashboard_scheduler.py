"""The Scheduler page in a real browser: every duty with its last run, the leader while `runscheduler` runs."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from django.utils import timezone
from django_apscheduler.jobstores import DjangoJobStore
from django_apscheduler.models import DjangoJob, DjangoJobExecution
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from gifting_jobs.scheduling import DUTIES, current_holder, register_duties
from tests.browser.conftest import PAGE_TIMEOUT
from tests.conftest import ManagePyProcess, wait_until

PATH = "/admin/gifting_jobs/dashboard/scheduler/"
#: How long before "now" the caught-up runs were due (a scheduler was down that long).
MISSED_BY = timedelta(seconds=2)


def store_duties_with_a_missed_run() -> None:
    """Store the duties as a scheduler does, each with a run missed a moment ago (the next scheduler catches up)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_jobstore(DjangoJobStore(), "default")
    register_duties(scheduler)
    scheduler.start(paused=True)
    scheduler.shutdown()
    DjangoJob.objects.filter(id__in=[d.job_id for d in DUTIES]).update(next_run_time=timezone.now() - MISSED_BY)


def outcome_of(browser: Any, duty: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f"tr[data-duty='{duty}'] td.scheduler-outcome").text


@pytest.mark.slow
def test_scheduler_page__duties_their_last_runs_and_the_leader(admin_browser, wait_for, page_screenshot, clean_broker):
    # Given `runscheduler` runs, and caught up a missed run of every duty
    store_duties_with_a_missed_run()
    process = ManagePyProcess("runscheduler", "--poll-seconds", "0.5")
    try:
        name = f"runscheduler@{os.uname().nodename}:{process.proc.pid}"
        wait_until(lambda: current_holder() == name, timeout=30, what="runscheduler to lead")
        wait_until(
            lambda: DjangoJobExecution.objects.filter(status=DjangoJobExecution.SUCCESS).count() == len(DUTIES),
            timeout=30,
            what="every duty's caught-up run",
        )

        admin_browser.get(admin_browser.base_url + PATH)

        # Then the leader's host and pid show, and each duty its trigger, next run, last run and outcome
        leader = wait_for("#scheduler-leader")
        assert os.uname().nodename in leader.text and str(process.proc.pid) in leader.text
        rows = admin_browser.find_elements(By.CSS_SELECTOR, "#scheduler-duties tr[data-duty]")
        assert [row.get_attribute("data-duty") for row in rows] == [duty.name for duty in DUTIES]
        triggers = [
            t.text for t in admin_browser.find_elements(By.CSS_SELECTOR, "#scheduler-duties .scheduler-trigger")
        ]
        assert triggers == [
            "cron: daily at 02:00 UTC",
            "interval: every 60 s",
            "cron: daily at 03:30 UTC",
            "interval: every 3600 s",
        ]
        for duty in DUTIES:
            assert outcome_of(admin_browser, duty.name) == "success"
            row = admin_browser.find_element(By.CSS_SELECTOR, f"tr[data-duty='{duty.name}']")
            assert row.find_element(By.CSS_SELECTOR, "td.scheduler-next").text.splitlines()[-1].startswith("in ")
            assert row.find_element(By.CSS_SELECTOR, "td.scheduler-last").text.startswith("20")
        page_screenshot("scheduler")
    finally:
        process.stop()

    # When it stops, the page (refreshing itself) says that no scheduler runs
    WebDriverWait(admin_browser, PAGE_TIMEOUT).until(
        lambda browser: browser.find_elements(By.ID, "scheduler-no-leader")
    )
    assert "No leader: the scheduler is not running." in admin_browser.find_element(By.ID, "scheduler-no-leader").text
