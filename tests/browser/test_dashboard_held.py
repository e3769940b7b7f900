"""The Held jobs page in a real browser: counts by reason and type, the next due rows, a stuck relay, live refresh."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from gifting_jobs.models import HeldJob, HeldJobReason
from tests.browser.conftest import PAGE_TIMEOUT

PATH = "/admin/gifting_jobs/dashboard/held/"


def hold(job_id: str, job_type: str, queue: str, reason: HeldJobReason, due_in: timedelta, **extra: Any) -> HeldJob:
    return HeldJob.objects.create(
        job_id=job_id,
        message_id=f"m-{job_id}",
        job_type=job_type,
        queue=queue,
        message={},
        lock_ttl_ms=60_000,
        reason=reason,
        due_at=timezone.now() + due_in,
        **extra,
    )


def cell_texts(browser: Any, selector: str) -> list[str]:
    return [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_held_page__shows_held_jobs_by_reason_and_the_stuck_relay(admin_browser, wait_for, page_screenshot):
    # Given jobs held for every reason; the broker-down ones have waited minutes (no worker runs)
    refused = "Error 111 connecting to 127.0.0.1:6379. Connection refused."
    for n in range(3):
        hold(
            f"product-embedding:{n}:9f3a",
            "product_embedding",
            "catalog",
            HeldJobReason.BROKER_DOWN,
            -timedelta(minutes=4, seconds=n),
            relay_attempts=12 - n,
            last_error=refused,
        )
    hold(
        "taste-profile-embedding:41", "taste_profile_embedding", "profiles", HeldJobReason.OUTBOX, timedelta(seconds=20)
    )
    hold(
        "curated-collections:home:2026-12-24:6x12",
        "curated_collections",
        "collections",
        HeldJobReason.DELAYED,
        timedelta(days=2),
    )
    hold("reminder-dispatch:7731", "reminder_dispatch", "reminders", HeldJobReason.SNOOZED, timedelta(minutes=25))

    admin_browser.get(admin_browser.base_url + PATH)
    wait_for("#held-reasons")

    # Then the counts per reason, due now and later, show
    assert cell_texts(admin_browser, "#held-reasons tr[data-reason='broker_down'] td")[1:] == ["3", "0", "3"]
    assert cell_texts(admin_browser, "#held-reasons tr[data-reason='delayed'] td")[1:] == ["0", "1", "1"]
    assert cell_texts(admin_browser, "#held-reasons tfoot th") == ["All reasons", "3", "3", "6"]
    # ...and the stuck relay is flagged
    backlog = wait_for("#held-backlog.held-backlog-stale")
    assert "The oldest due job has waited 4 min" in backlog.text and "The relay tries and fails" in backlog.text
    # ...and the next due rows come first-due first, linked to their admin pages
    ids = cell_texts(admin_browser, "#held-next td.held-job-id")
    assert ids[:3] == ["product-embedding:2:9f3a", "product-embedding:1:9f3a", "product-embedding:0:9f3a"]
    assert ids[3:] == [
        "taste-profile-embedding:41",
        "reminder-dispatch:7731",
        "curated-collections:home:2026-12-24:6x12",
    ]
    page_screenshot("held")

    link = admin_browser.find_element(By.LINK_TEXT, "reminder-dispatch:7731")
    link.click()
    wait_for("fieldset")
    assert (
        "/admin/gifting_jobs/heldjob/" in admin_browser.current_url
        and "reminder-dispatch:7731" in admin_browser.page_source
    )


def test_held_page__refreshes_itself_when_a_job_is_held(admin_browser, wait_for):
    admin_browser.get(admin_browser.base_url + PATH)
    wait_for("#held-reasons")
    assert "Nothing is due" in admin_browser.find_element(By.ID, "held-backlog").text

    # When a job gets held while the page is open
    hold("product-enrichment:5:v3", "product_enrichment", "catalog", HeldJobReason.BROKER_DOWN, -timedelta(seconds=1))

    # Then the page shows it without a reload
    WebDriverWait(admin_browser, PAGE_TIMEOUT).until(
        lambda browser: "product-enrichment:5:v3" in cell_texts(browser, "#held-next td.held-job-id")
    )
    assert cell_texts(admin_browser, "#held-reasons tr[data-reason='broker_down'] td")[1:] == ["1", "0", "1"]
