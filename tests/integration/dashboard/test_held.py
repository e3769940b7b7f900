"""The Held jobs page: Postgres-held jobs by reason and type, due now and later, the next due, a stuck relay."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gifting_jobs.jobs import enqueue_product_embedding, enqueue_product_enrichment
from gifting_jobs.models import HeldJob, HeldJobReason
from gifting_jobs.relay import relay_due_jobs
from tests.integration.dashboard.tables import table_rows
from tests.integration.spine.conftest import make_broker

URL = reverse("admin:gifting_jobs_dashboard_held")


def hold(
    job_id: str,
    reason: HeldJobReason,
    due_in: timedelta,
    *,
    job_type: str = "product_embedding",
    queue: str = "catalog",
    relay_attempts: int = 0,
    last_error: str = "",
) -> HeldJob:
    return HeldJob.objects.create(
        job_id=job_id,
        message_id=f"m-{job_id}",
        job_type=job_type,
        queue=queue,
        message={},
        lock_ttl_ms=60_000,
        reason=reason,
        due_at=timezone.now() + due_in,
        relay_attempts=relay_attempts,
        last_error=last_error,
    )


def counts_by(html: str, table_id: str, *keys: str) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Body rows of a count table keyed by their data attributes, valued by their cells after the keys."""
    rows = [row for row in table_rows(html, table_id) if all(f"data-{key}" in row.attrs for key in keys)]
    return {tuple(row.attrs[f"data-{key}"] for key in keys): tuple(row.cells[len(keys) :]) for row in rows}


@pytest.mark.django_db
def test_held_page__groups_rows_by_reason_and_type_due_now_and_later(dashboard_client: Client) -> None:
    # Given held jobs of every reason, some due, some later
    hold("embed:1", HeldJobReason.BROKER_DOWN, -timedelta(seconds=5), relay_attempts=2, last_error="Connection refused")
    hold("embed:2", HeldJobReason.BROKER_DOWN, -timedelta(seconds=3))
    hold("enrich:3", HeldJobReason.BROKER_DOWN, -timedelta(seconds=1), job_type="product_enrichment")
    hold("embed:4", HeldJobReason.DELAYED, timedelta(hours=2))
    hold("remind:5", HeldJobReason.SNOOZED, timedelta(minutes=30), job_type="reminder_dispatch", queue="reminders")
    hold("embed:6", HeldJobReason.OUTBOX, timedelta(seconds=30))

    html = dashboard_client.get(URL).content.decode()

    # Then each reason has its due-now / later / total counts, zeros included
    assert counts_by(html, "held-reasons", "reason") == {
        ("outbox",): ("0", "1", "1"),
        ("broker_down",): ("3", "0", "3"),
        ("delayed",): ("0", "1", "1"),
        ("snoozed",): ("0", "1", "1"),
    }
    assert table_rows(html, "held-reasons")[-1].cells == ["All reasons", "3", "3", "6"]
    # ...and each (reason, job type) that holds rows has its own counts
    assert counts_by(html, "held-types", "reason", "job-type") == {
        ("outbox", "product_embedding"): ("0", "1"),
        ("broker_down", "product_embedding"): ("2", "0"),
        ("broker_down", "product_enrichment"): ("1", "0"),
        ("delayed", "product_embedding"): ("0", "1"),
        ("snoozed", "reminder_dispatch"): ("0", "1"),
    }
    # ...and the next due rows come in the relay's order, each linked to its admin page
    rows = [row for row in table_rows(html, "held-next") if "data-job-id" in row.attrs]
    assert [row.attrs["data-job-id"] for row in rows] == [
        "embed:1",
        "embed:2",
        "enrich:3",
        "embed:6",
        "remind:5",
        "embed:4",
    ]
    first = rows[0].cells
    assert first[:4] == ["product_embedding", "embed:1", "catalog", "broker_down"]
    assert "ago" in first[4] and first[5] == "2" and first[6] == "Connection refused"
    for job in HeldJob.objects.all():
        assert f'href="{reverse("admin:gifting_jobs_heldjob_change", args=[job.pk])}"' in html
    assert f'href="{reverse("admin:gifting_jobs_heldjob_changelist")}?reason__exact=snoozed"' in html


@pytest.mark.django_db
def test_held_page__without_held_jobs_says_so(dashboard_client: Client) -> None:
    html = dashboard_client.get(URL).content.decode()

    assert "Nothing is due: the relay has no backlog." in html
    assert "No job is held in Postgres." in html
    assert table_rows(html, "held-reasons")[-1].cells == ["All reasons", "0", "0", "0"]


@pytest.mark.django_db
def test_held_page__a_fresh_due_row_is_not_flagged(dashboard_client: Client) -> None:
    hold("embed:1", HeldJobReason.BROKER_DOWN, -timedelta(seconds=10))

    html = dashboard_client.get(URL).content.decode()

    assert re.search(r"Oldest due job: waiting 1\d s", html)
    assert "held-backlog-stale" not in html


@pytest.mark.django_db
def test_held_page__a_due_row_the_relay_left_for_minutes_is_flagged(dashboard_client: Client) -> None:
    # Given a row due 5 minutes ago that no relay ever tried (no worker runs)
    hold("embed:1", HeldJobReason.BROKER_DOWN, -timedelta(minutes=5, seconds=1))
    hold("embed:2", HeldJobReason.DELAYED, timedelta(hours=1))

    html = dashboard_client.get(URL).content.decode()

    assert "held-backlog-stale" in html
    assert "The oldest due job has waited 5 min" in html and "(over 1 min)" in html
    assert "No relay is sending" in html and "rundramatiq" in html


@pytest.mark.django_db(transaction=True)
def test_held_page__a_relay_that_fails_shows_its_attempts_and_error(
    dashboard_client: Client, stoppable_redis, swap_broker
) -> None:
    # Given a job held because the broker was down at enqueue, two minutes ago
    broker = swap_broker(make_broker(stoppable_redis.url))
    stoppable_redis.stop()
    job = enqueue_product_embedding(1, triggered_by="manual")
    HeldJob.objects.filter(job_id=job.id).update(due_at=timezone.now() - timedelta(minutes=2))

    # When the relay tries twice
    for _ in range(2):
        assert relay_due_jobs(broker, batch_size=10).broker_down

    # Then the row counts the attempts and keeps the error, and the page says the relay fails
    row = HeldJob.objects.get(job_id=job.id)
    assert row.reason == HeldJobReason.BROKER_DOWN and row.relay_attempts == 2 and row.last_error
    html = dashboard_client.get(URL).content.decode()
    cells = next(r.cells for r in table_rows(html, "held-next") if r.attrs.get("data-job-id") == job.id)
    assert cells[5] == "2" and cells[6] == row.last_error[:160].strip()
    assert "The relay tries and fails" in html


def test_held_page__jobs_held_by_the_enqueue_api_show_with_their_reason(
    dashboard_client: Client, clean_broker, transactional_db
) -> None:
    # Given a long delay (held until due) and an enqueue inside a transaction that is still open
    enqueue_product_embedding(6, triggered_by="manual", delay=timedelta(hours=2))
    with transaction.atomic():
        enqueue_product_enrichment(7, triggered_by="manual")

        # Then, before the commit, the page shows the outbox row next to the delayed one
        html = dashboard_client.get(URL).content.decode()
        assert counts_by(html, "held-types", "reason", "job-type") == {
            ("outbox", "product_enrichment"): ("0", "1"),
            ("delayed", "product_embedding"): ("0", "1"),
        }
    # ...and after it the outbox row is gone (sent on commit)
    html = dashboard_client.get(URL).content.decode()
    assert counts_by(html, "held-types", "reason", "job-type") == {("delayed", "product_embedding"): ("0", "1")}


@pytest.mark.django_db
def test_held_page__only_answers_get(dashboard_client: Client) -> None:
    assert dashboard_client.post(URL, {"reason": "outbox"}).status_code == 405
