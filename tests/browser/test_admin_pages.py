"""The dead-letter admin in a real browser at 1400 px: every column visible, nothing cut off, no dead links."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import WINDOW_WIDTH
from tests.integration.admin.factories import create_failed_job

#: A long job id (64 hex digits of a text hash) and error, as real dead letters have.
LONG_JOB_ID = "product-embedding:123456:" + "0f" * 32
LONG_ERROR = "provider timed out after 30 s waiting for a response from the embeddings endpoint; " * 3
#: Pixels of rounding a layout measurement may be off by.
TOLERANCE_PX = 1

#: The right edge of an element and of the box that would clip it, and whether that box scrolls sideways.
LAYOUT_SCRIPT = """
const element = arguments[0];
const box = element.closest('.results') || document.documentElement;
return {
    right: element.getBoundingClientRect().right,
    boxRight: box.getBoundingClientRect().right,
    boxScrolls: box.scrollWidth > box.clientWidth,
    viewport: document.documentElement.clientWidth,
};
"""


def layout(browser: Any, element: Any) -> dict[str, Any]:
    return browser.execute_script(LAYOUT_SCRIPT, element)


def assert_fully_visible(browser: Any, element: Any) -> None:
    """The element ends inside the viewport and inside its scroll box, which does not scroll sideways."""
    box = layout(browser, element)
    assert box["viewport"] <= WINDOW_WIDTH
    assert box["right"] <= box["viewport"] + TOLERANCE_PX, box
    assert box["right"] <= box["boxRight"] + TOLERANCE_PX, box
    assert not box["boxScrolls"], box


@pytest.fixture
def dead_letters(admin_browser: Any) -> list[Any]:
    return [
        create_failed_job(job_id=LONG_JOB_ID, error_message=LONG_ERROR),
        create_failed_job(job_type="reminder_dispatch", job_id="reminder-dispatch:77", payload={"schedule_id": 77}),
    ]


def test_failed_job_list__every_column_fits_at_1400px(admin_browser, dead_letters, wait_for):
    admin_browser.get(f"{admin_browser.base_url}/admin/gifting_jobs/failedjob/")
    table = wait_for("#result_list")

    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    assert "LAST FAILED AT" in headers[-1].text.upper().replace("\n", " ")
    assert_fully_visible(admin_browser, headers[-1])
    for cell in table.find_elements(By.CSS_SELECTOR, "tbody tr td:last-child"):
        assert_fully_visible(admin_browser, cell)
        assert cell.text.strip()
    # The job id column shows the whole id (wrapped, not clipped), with the type under it.
    job_cells = table.find_elements(By.CSS_SELECTOR, "tbody th.field-job")
    assert {cell.text.replace("\n", "") for cell in job_cells} == {
        LONG_JOB_ID + "product_embedding",
        "reminder-dispatch:77reminder_dispatch",
    }


def test_failed_job_detail__opens_from_the_list_and_fits(admin_browser, dead_letters, wait_for):
    admin_browser.get(f"{admin_browser.base_url}/admin/gifting_jobs/failedjob/")
    wait_for("#result_list")
    admin_browser.find_element(By.PARTIAL_LINK_TEXT, "reminder-dispatch:77").click()

    wait_for("fieldset")
    assert "/change/" in admin_browser.current_url
    page = admin_browser.find_element(By.ID, "content")
    assert "reminder-dispatch:77" in page.text
    assert admin_browser.execute_script("return document.documentElement.scrollWidth") <= WINDOW_WIDTH
    for label in ("Job id", "Last failed at", "Traceback"):
        assert label.lower() in page.text.lower()


def test_failed_job_detail__long_id_and_traceback_do_not_widen_the_page(admin_browser, dead_letters, wait_for):
    admin_browser.get(f"{admin_browser.base_url}/admin/gifting_jobs/failedjob/{dead_letters[0].pk}/change/")
    wait_for("fieldset")

    assert admin_browser.execute_script("return document.documentElement.scrollWidth") <= WINDOW_WIDTH
    job_id = admin_browser.find_element(By.CSS_SELECTOR, ".field-job_id .readonly")
    assert job_id.text.replace("\n", "") == LONG_JOB_ID
    assert_fully_visible(admin_browser, job_id)


def test_admin__no_view_site_link(admin_browser, wait_for):
    admin_browser.get(f"{admin_browser.base_url}/admin/")
    wait_for("#content-main")

    assert admin_browser.find_elements(By.LINK_TEXT, "VIEW SITE") == []
    assert admin_browser.find_elements(By.PARTIAL_LINK_TEXT, "View site") == []
    assert "Tasks" not in admin_browser.find_element(By.ID, "content-main").text
