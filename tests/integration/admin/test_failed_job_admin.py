"""The dead-letter admin: list, search, escaping, Retry and Discard with their permission."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from gifting_jobs.models import FailedJob, FailedJobStatus, HeldJob

CHANGELIST = "admin:gifting_jobs_failedjob_changelist"


def change_url(failed_job: FailedJob) -> str:
    return reverse("admin:gifting_jobs_failedjob_change", args=[failed_job.pk])


def run_action(client, action: str, *failed_jobs: FailedJob):
    return client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [f.pk for f in failed_jobs]}, follow=True
    )


def run_change_form_action(client, action: str, failed_job: FailedJob):
    return client.post(
        change_url(failed_job), {"CHANGE_FORM-action": action, "_selected_action": [failed_job.pk]}, follow=True
    )


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- viewing --------------------------------------------------------------------------------


def test_failed_job_admin__changelist_renders_filters_and_search(admin_client, make_failed_job):
    timeout = make_failed_job(entity_id="4242", error_class="openai.APITimeoutError")
    other = make_failed_job(job_type="reminder_dispatch", entity_id="77", payload={"schedule_id": 77})

    page = admin_client.get(reverse(CHANGELIST))

    assert page.status_code == 200
    html = page.content.decode()
    for title in ("By job type", "By status", "By reason", "By last failed at"):
        assert title in html
    assert "APITimeoutError: provider timed out" in html
    assert 'name="q"' in html
    assert '<option value="retry_selected">' in html and '<option value="discard_selected">' in html

    found = admin_client.get(reverse(CHANGELIST), {"q": "4242"})
    assert [o.pk for o in found.context["cl"].result_list] == [timeout.pk]
    by_error = admin_client.get(reverse(CHANGELIST), {"q": "APITimeoutError"})
    assert [o.pk for o in by_error.context["cl"].result_list] == [timeout.pk]
    by_type = admin_client.get(reverse(CHANGELIST), {"job_type": "reminder_dispatch"})
    assert [o.pk for o in by_type.context["cl"].result_list] == [other.pk]


def test_failed_job_admin__traceback_and_error_are_escaped(admin_client, make_failed_job):
    failed_job = make_failed_job(
        traceback='Traceback:\n  File "<script>alert(1)</script>"\nValueError: <b>bad</b>',
        error_message="<img src=x onerror=alert(2)>",
    )

    page = admin_client.get(change_url(failed_job))
    listing = admin_client.get(reverse(CHANGELIST))

    html = page.content.decode()
    assert page.status_code == 200
    assert (
        "<pre>Traceback:\n  File &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;\nValueError: &lt;b&gt;bad&lt;/b&gt;</pre>"
        in html
    )
    assert "<script>alert(1)" not in html
    assert "<b>bad</b>" not in html
    assert "<img src=x" not in html and "<img src=x" not in listing.content.decode()
    assert "&lt;img src=x onerror=alert(2)&gt;" in listing.content.decode()


def test_failed_job_admin__everything_is_read_only(admin_client, make_failed_job):
    failed_job = make_failed_job()

    page = admin_client.get(change_url(failed_job))
    save = admin_client.post(change_url(failed_job), {"status": "discarded", "_save": "Save"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert save.status_code == 403
    assert admin_client.get(reverse("admin:gifting_jobs_failedjob_add")).status_code == 403
    assert FailedJob.objects.get().status == FailedJobStatus.OPEN


def test_failed_job_admin__links_a_retry_to_its_origin_and_later_failures(admin_client, make_failed_job):
    origin = make_failed_job(status=FailedJobStatus.RETRIED, job_id="product-embedding:9:none")
    later = make_failed_job(job_id="product-embedding:9:none", retry_of=origin)

    origin_page = admin_client.get(change_url(origin)).content.decode()
    later_page = admin_client.get(change_url(later)).content.decode()

    assert f'<a href="{change_url(later)}">dead letter {later.pk}</a> (open' in origin_page
    assert f'<a href="{change_url(origin)}">dead letter {origin.pk}</a>' in later_page


# --- Retry and Discard --------------------------------------------------------------------------


def test_failed_job_admin__retry_action_sends_a_fresh_job(
    transactional_db, clean_broker, admin_client, make_failed_job, queued
):
    failed_job = make_failed_job(attempts=5)
    already_discarded = make_failed_job(status=FailedJobStatus.DISCARDED)

    response = run_action(admin_client, "retry_selected", failed_job, already_discarded)

    assert response.status_code == 200
    assert texts(response) == [
        "Retried 1 failed job(s): 1 sent, 0 deduplicated (an equal job was already pending); 1 skipped because not open."
    ]
    failed_job.refresh_from_db()
    assert failed_job.status == FailedJobStatus.RETRIED
    assert failed_job.retry_job_id == failed_job.job_id
    assert failed_job.retried_at is not None
    (message,) = queued("catalog")
    assert message.actor_name == "product_embedding"
    assert message.args[0] == {**failed_job.payload, "triggered_by": "retry"}
    assert message.options["retry_of"] == failed_job.pk
    assert message.options["attempts"] == 5
    assert "retries" not in message.options
    assert HeldJob.objects.count() == 0
    assert FailedJob.objects.get(pk=already_discarded.pk).status == FailedJobStatus.DISCARDED


def test_failed_job_admin__retry_of_a_pending_job_is_deduplicated(
    transactional_db, clean_broker, admin_client, make_failed_job, queued
):
    first = make_failed_job(job_id="product-embedding:5:none")
    run_action(admin_client, "retry_selected", first)
    # The same job failed again meanwhile (e.g. recorded by another path) while the retry is pending.
    again = make_failed_job(job_id="product-embedding:5:none")

    response = run_action(admin_client, "retry_selected", again)

    assert texts(response) == [
        "Retried 1 failed job(s): 0 sent, 1 deduplicated (an equal job was already pending); 0 skipped because not open."
    ]
    assert len(queued("catalog")) == 1


def test_failed_job_admin__discard_action(admin_client, make_failed_job, queued, clean_broker):
    failed_jobs = [make_failed_job(), make_failed_job()]

    response = run_action(admin_client, "discard_selected", *failed_jobs)

    assert texts(response) == ["Discarded 2 failed job(s); 0 skipped because not open."]
    assert set(FailedJob.objects.values_list("status", flat=True)) == {FailedJobStatus.DISCARDED}
    assert all(f.resolved_at is not None for f in FailedJob.objects.all())
    assert queued("catalog") == []
    assert HeldJob.objects.count() == 0


def test_failed_job_admin__retry_from_the_change_page(
    transactional_db, clean_broker, admin_client, make_failed_job, queued
):
    failed_job = make_failed_job()
    page = admin_client.get(change_url(failed_job)).content.decode()
    assert 'name="CHANGE_FORM-action"' in page and '<option value="retry_selected">' in page

    response = run_change_form_action(admin_client, "retry_selected", failed_job)

    assert response.status_code == 200
    assert texts(response)[0].startswith("Retried 1 failed job(s): 1 sent")
    assert FailedJob.objects.get(pk=failed_job.pk).status == FailedJobStatus.RETRIED
    assert [m.options["retry_of"] for m in queued("catalog")] == [failed_job.pk]


def test_failed_job_admin__discard_from_the_change_page(admin_client, make_failed_job):
    failed_job = make_failed_job()

    response = run_change_form_action(admin_client, "discard_selected", failed_job)

    assert texts(response) == ["Discarded 1 failed job(s); 0 skipped because not open."]
    assert FailedJob.objects.get().status == FailedJobStatus.DISCARDED


def test_failed_job_admin__retry_of_an_unknown_type_is_reported_and_stays_open(admin_client, make_failed_job):
    failed_job = make_failed_job(job_type="retired_job_type")

    response = run_action(admin_client, "retry_selected", failed_job)

    messages = texts(response)
    assert messages[0].startswith("Retried 0 failed job(s)")
    assert messages[1].startswith(f"Could not retry 1: {failed_job.pk}: unknown job type 'retired_job_type'")
    assert FailedJob.objects.get().status == FailedJobStatus.OPEN


# --- the permission -----------------------------------------------------------------------------


def test_failed_job_admin__staff_without_permission_gets_no_actions(viewer_client, make_failed_job):
    failed_job = make_failed_job()

    listing = viewer_client.get(reverse(CHANGELIST))
    page = viewer_client.get(change_url(failed_job))

    assert listing.status_code == 200 and page.status_code == 200
    assert "retry_selected" not in listing.content.decode()
    assert "discard_selected" not in listing.content.decode()
    assert "CHANGE_FORM-action" not in page.content.decode()
    assert "provider timed out" in page.content.decode()


@pytest.mark.parametrize("action", ["retry_selected", "discard_selected"])
def test_failed_job_admin__forged_posts_without_permission_do_nothing(
    viewer_client, make_failed_job, queued, clean_broker, action
):
    failed_job = make_failed_job()

    from_list = run_action(viewer_client, action, failed_job)
    from_page = viewer_client.post(
        change_url(failed_job), {"CHANGE_FORM-action": action, "_selected_action": [failed_job.pk]}
    )

    # The actions are not offered to this user: Django ignores the POST, and the change page refuses it.
    assert from_list.status_code == 200
    assert not any(t.startswith(("Retried", "Discarded")) for t in texts(from_list))
    assert from_page.status_code == 403
    failed_job.refresh_from_db()
    assert (failed_job.status, failed_job.retry_job_id) == (FailedJobStatus.OPEN, "")
    assert queued("catalog") == []
    assert HeldJob.objects.count() == 0
