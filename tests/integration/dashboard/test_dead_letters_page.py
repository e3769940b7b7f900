"""The dashboard's dead letters page: groups, filters, history, and the bulk actions through their confirmation."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.messages import get_messages
from django.core import signing
from django.test import Client
from django.urls import reverse

from gifting_jobs.dashboard.dead_letters import CONFIRMATION_MAX_AGE, CONFIRMATION_SALT
from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus
from tests.integration.admin.factories import create_failed_job
from tests.integration.dashboard.conftest import staff_client

PAGE = "admin:gifting_jobs_dashboard_dead_letters"
RETRY = "admin:gifting_jobs_dashboard_dead_letters_retry"
DISCARD = "admin:gifting_jobs_dashboard_dead_letters_discard"
CHAIN = "admin:gifting_jobs_dashboard_dead_letters_chain"
NOT_FOUND = "gifting_jobs.exceptions.EntityNotFound"


@pytest.fixture
def operator(db: None) -> Client:
    """Staff who may view the dashboard and retry or discard dead letters."""
    return staff_client("retrier", "view_dashboard", "retry_failedjob")


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def group_rows(html: str) -> dict[str, str]:
    """Each error group's row HTML, by fingerprint."""
    return dict(re.findall(r'<tr class="dead-letter-group" data-fingerprint="(\w+)">(.*?)</tr>', html, re.S))


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def not_found_jobs(count: int, **fields) -> list[FailedJob]:
    return [
        create_failed_job(
            error_class=NOT_FOUND,
            error_message=f"product {4000 + n} not found",
            reason=FailedJobReason.PERMANENT,
            **fields,
        )
        for n in range(count)
    ]


# --- the list ----------------------------------------------------------------------------------


def test_page__groups_by_fingerprint_with_counts_sample_and_links(dashboard_client):
    missing = not_found_jobs(3)
    FailedJob.objects.filter(pk=missing[0].pk).update(status=FailedJobStatus.DISCARDED)
    timeouts = [create_failed_job() for _ in range(2)]

    response = dashboard_client.get(reverse(PAGE))

    assert response.status_code == 200
    html = response.content.decode()
    rows = group_rows(html)
    assert set(rows) == {missing[0].fingerprint, timeouts[0].fingerprint}
    missing_row = rows[missing[0].fingerprint]
    assert "EntityNotFound" in missing_row and "product &lt;n&gt; not found" in missing_row
    assert re.search(r"product 400\d not found", missing_row)
    assert re.findall(r'<td class="number">(\d+)</td>', missing_row) == ["3", "2"]
    assert f"?fingerprint={missing[0].fingerprint}" in missing_row
    assert reverse("admin:gifting_jobs_failedjob_changelist") + f"?fingerprint={missing[0].fingerprint}" in missing_row
    assert 'data-refresh-seconds="0"' in html
    # Without the retry permission: no bulk buttons.
    assert 'id="retry-all"' not in html and 'id="discard-all"' not in html


def test_page__filters_and_search_narrow_groups_and_history(dashboard_client):
    wanted = create_failed_job(entity_id="4242")
    create_failed_job(entity_id="77")
    create_failed_job(job_type="reminder_dispatch", queue="reminders", payload={"schedule_id": 3})

    by_search = dashboard_client.get(reverse(PAGE), {"q": "4242"}).content.decode()
    by_type = dashboard_client.get(reverse(PAGE), {"job_type": "reminder_dispatch", "status": "open"}).content.decode()

    assert re.findall(r'data-chain="(\d+)"', by_search) == [str(wanted.pk)]
    assert "<strong>1</strong> dead letter matches (search &quot;4242&quot;)" in by_search
    assert 'value="4242"' in by_search
    assert "job type reminder_dispatch, status open" in by_type
    assert '<option value="reminder_dispatch" selected>' in by_type


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "bogus"}, "unknown status &#x27;bogus&#x27;"),
        ({"job_type": "<script>"}, "unknown job_type &#x27;&lt;script&gt;&#x27;"),
        ({"fingerprint": "zz"}, "is not 16 lowercase hex characters"),
    ],
)
def test_page__unknown_filter_values_get_a_clear_400(dashboard_client, params, named):
    create_failed_job()

    response = dashboard_client.get(reverse(PAGE), params)

    assert response.status_code == 400
    html = response.content.decode()
    assert "Unknown filter:" in html and named in html
    assert "<script>" not in html


def test_page__a_retry_chain_is_one_history_line_and_its_detail_is_in_order(dashboard_client):
    root = create_failed_job(status=FailedJobStatus.RETRIED, attempts=5)
    second = create_failed_job(
        job_id=root.job_id, status=FailedJobStatus.RETRIED, retry_of=root, chain_root=root, attempts=5
    )
    third = create_failed_job(job_id=root.job_id, retry_of=second, chain_root=root, attempts=2)
    alone = create_failed_job(attempts=1)

    html = dashboard_client.get(reverse(PAGE)).content.decode()

    chains = dict(re.findall(r'<tr class="dead-letter-chain" data-chain="(\d+)">(.*?)</tr>', html, re.S))
    assert set(chains) == {str(root.pk), str(alone.pk)}
    assert re.findall(r'<td class="number">(\d+)</td>', chains[str(root.pk)]) == ["3", "12"]
    assert reverse(CHAIN, args=[root.pk]) in chains[str(root.pk)]
    assert "history" not in chains[str(alone.pk)]

    detail = dashboard_client.get(reverse(CHAIN, args=[third.pk]))
    assert detail.status_code == 200
    body = detail.content.decode()
    assert re.findall(r'class="chain-member" data-id="(\d+)"', body) == [str(root.pk), str(second.pk), str(third.pk)]
    assert "3 failures, 12 attempts in all" in body
    assert dashboard_client.get(reverse(CHAIN, args=[999999])).status_code == 404


def test_admin__filters_by_fingerprint_and_links_the_chain(admin_client):
    missing = not_found_jobs(2)
    create_failed_job()
    changelist = reverse("admin:gifting_jobs_failedjob_changelist")

    response = admin_client.get(changelist, {"fingerprint": missing[0].fingerprint})

    assert sorted(o.pk for o in response.context["cl"].result_list) == sorted(m.pk for m in missing)
    assert "By error group" in response.content.decode()
    later = create_failed_job(retry_of=missing[0], chain_root=missing[0])
    change = admin_client.get(reverse("admin:gifting_jobs_failedjob_change", args=[later.pk])).content.decode()
    assert reverse(CHAIN, args=[missing[0].pk]) in change


# --- Retry all matching / Discard all matching ------------------------------------------------


def test_bulk__buttons_link_the_confirmation_with_the_current_filter(operator):
    not_found_jobs(2)

    html = operator.get(reverse(PAGE), {"reason": "permanent"}).content.decode()

    assert f'id="retry-all" href="{reverse(RETRY)}?reason=permanent"' in html
    assert f'id="discard-all" href="{reverse(DISCARD)}?reason=permanent"' in html


def test_bulk_retry__confirmation_states_the_count_then_post_retries_exactly_those(
    operator, transactional_db, clean_broker, queued
):
    missing = not_found_jobs(3)
    other = create_failed_job()

    confirm = operator.get(reverse(RETRY), {"fingerprint": missing[0].fingerprint})

    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Retry 3 dead letters?" in html
    assert f"error group {missing[0].fingerprint}" in html
    assert f"{NOT_FOUND}: product &lt;n&gt; not found" in html
    # A dead letter of the group failing after the confirmation is not part of it.
    late = not_found_jobs(1)[0]

    done = operator.post(reverse(RETRY), {"token": token_of(html)}, follow=True)

    assert done.status_code == 200
    assert texts(done) == [f"Retried 3 of the 3 dead letters you confirmed (error group {missing[0].fingerprint})."]
    statuses = dict(FailedJob.objects.values_list("pk", "status"))
    assert [statuses[m.pk] for m in missing] == [FailedJobStatus.RETRIED] * 3
    assert (statuses[other.pk], statuses[late.pk]) == (FailedJobStatus.OPEN, FailedJobStatus.OPEN)
    assert sorted(m.options["retry_of"] for m in queued("catalog")) == sorted(m.pk for m in missing)

    # The same confirmation posted again (a double submit) sends nothing twice.
    again = operator.post(reverse(RETRY), {"token": token_of(html)}, follow=True)
    assert texts(again) == [
        f"Retried 0 of the 3 dead letters you confirmed (error group {missing[0].fingerprint}); "
        "3 had been retried or discarded meanwhile (by someone else, or an earlier click)."
    ]
    assert len(queued("catalog")) == 3


def test_bulk_discard__through_its_confirmation(operator):
    rows = not_found_jobs(2)
    html = operator.get(reverse(DISCARD), {"q": "not found"}).content.decode()
    assert "Discard 2 dead letters?" in html

    response = operator.post(reverse(DISCARD), {"token": token_of(html)})

    assert response.status_code == 302
    assert response["Location"] == reverse(PAGE) + "?q=not+found"
    assert set(FailedJob.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)) == {
        FailedJobStatus.DISCARDED
    }


def test_bulk__nothing_open_says_so(operator):
    create_failed_job(status=FailedJobStatus.RETRIED)

    html = operator.get(reverse(RETRY)).content.decode()

    assert "No open dead letters match (all dead letters): nothing to retry." in html
    assert 'name="token"' not in html


def test_bulk__without_the_retry_permission_get_and_post_are_403(dashboard_client, plain_staff_client):
    row = create_failed_job()

    for client in (dashboard_client, plain_staff_client):
        assert client.get(reverse(RETRY)).status_code == 403
        assert client.post(reverse(RETRY), {"token": "x"}).status_code == 403
        assert client.post(reverse(DISCARD), {"token": "x"}).status_code == 403
    assert FailedJob.objects.get(pk=row.pk).status == FailedJobStatus.OPEN


def test_bulk__a_tampered_or_foreign_token_is_refused_with_400(operator):
    row = create_failed_job()
    token = token_of(operator.get(reverse(RETRY)).content.decode())
    payload, _, signature = token.rpartition(":")

    tampered = operator.post(reverse(RETRY), {"token": payload.replace("1", "9") + ":" + signature})
    missing = operator.post(reverse(RETRY), {})
    foreign = operator.post(reverse(DISCARD), {"token": token})

    for response in (tampered, missing):
        assert response.status_code == 400
        assert "this confirmation is not valid (changed or cut): confirm again" in response.content.decode()
    assert foreign.status_code == 400
    assert "this confirmation was for &#x27;retry&#x27;, not &#x27;discard&#x27;" in foreign.content.decode()
    assert FailedJob.objects.get(pk=row.pk).status == FailedJobStatus.OPEN


def test_bulk__bad_filter_on_the_confirmation_is_400(operator):
    response = operator.get(reverse(RETRY), {"reason": "nope"})

    assert response.status_code == 400
    assert "Retry refused: unknown reason &#x27;nope&#x27;" in response.content.decode()


def test_bulk__post_needs_the_csrf_token(db):
    create_failed_job()
    client = staff_client("csrf-operator", "view_dashboard", "retry_failedjob")
    client.handler.enforce_csrf_checks = True
    token = token_of(client.get(reverse(RETRY)).content.decode())

    assert client.post(reverse(RETRY), {"token": token}).status_code == 403
    assert FailedJob.objects.get().status == FailedJobStatus.OPEN


def test_bulk__other_methods_are_405(operator):
    assert operator.put(reverse(RETRY)).status_code == 405


def test_bulk__an_expired_confirmation_is_refused(operator):
    row = create_failed_job()

    class AnHourAndAMinuteAgo(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - CONFIRMATION_MAX_AGE - 60)

    old = AnHourAndAMinuteAgo(salt=CONFIRMATION_SALT).sign_object(
        {"action": "retry", "params": {}, "up_to_id": row.pk, "count": 1}
    )

    response = operator.post(reverse(RETRY), {"token": old})

    assert response.status_code == 400
    assert "this confirmation is older than 60 minutes: confirm again" in response.content.decode()
    assert FailedJob.objects.get(pk=row.pk).status == FailedJobStatus.OPEN
