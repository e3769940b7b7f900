"""The dead letters page in a real browser: groups, then "Retry all matching" through its confirmation."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus
from tests.browser.conftest import WINDOW_WIDTH
from tests.integration.admin.factories import create_failed_job

NOT_FOUND = "gifting_jobs.exceptions.EntityNotFound"
PAGE = "/admin/gifting_jobs/dashboard/dead-letters/"
#: Posts a form with the given fields to a URL, as a resent confirmation would.
RESUBMIT_SCRIPT = """
const form = document.createElement('form');
form.method = 'post';
form.action = arguments[0];
for (const [name, value] of Object.entries(arguments[1])) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
}
document.body.appendChild(form);
form.submit();
"""


def seed() -> tuple[list[FailedJob], list[FailedJob]]:
    """Two error groups (three missing products, two timeouts) and a retry chain among the timeouts."""
    missing = [
        create_failed_job(
            error_class=NOT_FOUND,
            error_message=f"product {4100 + n} not found in the catalog mirror",
            reason=FailedJobReason.PERMANENT,
            attempts=1,
        )
        for n in range(3)
    ]
    root = create_failed_job(status=FailedJobStatus.RETRIED, error_message="provider timed out after 30 s")
    timeouts = [
        root,
        create_failed_job(
            job_id=root.job_id, retry_of=root, chain_root=root, error_message="provider timed out after 31 s"
        ),
    ]
    return missing, timeouts


def test_dead_letters__retry_all_matching_through_the_confirmation(
    admin_browser: Any, clean_broker: Any, queued: Any, wait_for: Any, page_screenshot: Any
) -> None:
    missing, timeouts = seed()

    # The grouped list: one line per error group, with its counts.
    admin_browser.get(admin_browser.base_url + PAGE)
    groups = wait_for(".dead-letter-groups")
    rows = groups.find_elements(By.CSS_SELECTOR, "tbody tr.dead-letter-group")
    assert {row.get_attribute("data-fingerprint") for row in rows} == {missing[0].fingerprint, timeouts[0].fingerprint}
    assert "product <n> not found in the catalog mirror" in groups.text
    assert admin_browser.execute_script("return document.documentElement.scrollWidth") <= WINDOW_WIDTH
    page_screenshot("dead_letters")

    # Narrow to the missing products' group, then ask to retry all of it.
    missing_row = next(row for row in rows if row.get_attribute("data-fingerprint") == missing[0].fingerprint)
    missing_row.find_element(By.LINK_TEXT, "only this group").click()
    wait_for(".dead-letters-summary .open-count")
    assert admin_browser.find_element(By.CSS_SELECTOR, ".open-count").text == "3"
    admin_browser.find_element(By.ID, "retry-all").click()

    question = wait_for(".confirm-question")
    assert question.text == "Retry 3 dead letters?"
    assert admin_browser.find_element(By.CSS_SELECTOR, ".confirm-summary").text == (
        f"error group {missing[0].fingerprint}"
    )
    page_screenshot("dead_letters_confirm")
    confirm_url = admin_browser.current_url.split("?")[0]
    fields = {
        name: admin_browser.find_element(By.NAME, name).get_attribute("value")
        for name in ("token", "csrfmiddlewaretoken")
    }
    admin_browser.find_element(By.ID, "confirm-button").click()

    done = wait_for(".messagelist .success")
    assert done.text == f"Retried 3 of the 3 dead letters you confirmed (error group {missing[0].fingerprint})."
    assert set(FailedJob.objects.filter(pk__in=[m.pk for m in missing]).values_list("status", flat=True)) == {
        FailedJobStatus.RETRIED
    }
    assert FailedJob.objects.get(pk=timeouts[1].pk).status == FailedJobStatus.OPEN
    sent = queued("catalog")
    assert sorted(message.options["retry_of"] for message in sent) == sorted(m.pk for m in missing)

    # The same confirmation posted again (a double submit, a resent form): nothing is sent twice.
    admin_browser.execute_script(RESUBMIT_SCRIPT, confirm_url, fields)
    again = wait_for(".messagelist .warning")
    assert again.text.startswith("Retried 0 of the 3 dead letters you confirmed")
    assert len(queued("catalog")) == 3
