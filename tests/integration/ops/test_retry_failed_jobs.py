"""`manage.py retry_failed_jobs`: filters, dry run, bad input, and what reaches the broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from gifting_jobs.management.commands.retry_failed_jobs import parse_since
from gifting_jobs.models import FailedJob, FailedJobStatus

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("retry_failed_jobs", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def statuses() -> dict[int, str]:
    return dict(FailedJob.objects.values_list("pk", "status"))


def reminder_dead_letter(make_failed_job) -> FailedJob:
    return make_failed_job(
        job_id="reminder-dispatch:1",
        job_type="reminder_dispatch",
        queue="reminders",
        payload={
            "schedule_id": 1,
            "user_id": 1,
            "channel": "EMAIL",
            "payload": {"title": "Soon", "body": "A birthday"},
            "scheduled_for": "2026-12-01T09:00:00+00:00",
            "triggered_by": "scheduler",
        },
    )


def queue_length(broker, queue_name: str) -> int:
    return broker.client.llen(f"{broker.namespace}:{queue_name}")


def test_retry_failed_jobs__type_filter(transactional_db, clean_broker, make_failed_job):
    embeddings = [make_failed_job(), make_failed_job()]
    reminder = reminder_dead_letter(make_failed_job)
    retried_before = make_failed_job(status=FailedJobStatus.RETRIED)

    out, _ = run("--type", "product_embedding")

    assert out.strip() == (
        "retried 2 of 2 open dead letters (2 sent, 0 deduplicated: an equal job was already pending)"
    )
    assert statuses() == {
        embeddings[0].pk: "retried",
        embeddings[1].pk: "retried",
        reminder.pk: "open",
        retried_before.pk: "retried",
    }
    assert queue_length(clean_broker, "catalog") == 2
    assert queue_length(clean_broker, "reminders") == 0


def test_retry_failed_jobs__several_types(transactional_db, clean_broker, make_failed_job):
    make_failed_job()
    reminder_dead_letter(make_failed_job)

    out, _ = run("--type", "product_embedding", "--type", "reminder_dispatch")

    assert out.startswith("retried 2 of 2 open dead letters")
    assert set(statuses().values()) == {"retried"}
    # Each goes back to its own queue, in the band of its original priority.
    assert queue_length(clean_broker, "catalog") == 1
    assert queue_length(clean_broker, "reminders") == 1


def test_retry_failed_jobs__since_filter(transactional_db, clean_broker, make_failed_job):
    now = timezone.now()
    old = make_failed_job(last_failed_at=now - timedelta(hours=3))
    recent = make_failed_job(last_failed_at=now - timedelta(minutes=10))

    out, _ = run("--since", "2h")

    assert out.startswith("retried 1 of 1 open dead letters")
    assert statuses() == {old.pk: "open", recent.pk: "retried"}


def test_retry_failed_jobs__since_an_iso_date(transactional_db, clean_broker, make_failed_job):
    first = make_failed_job(last_failed_at=datetime(2026, 11, 1, 23, 59, tzinfo=UTC))
    second = make_failed_job(last_failed_at=datetime(2026, 11, 2, 0, 0, tzinfo=UTC))

    run("--since", "2026-11-02")

    assert statuses() == {first.pk: "open", second.pk: "retried"}


def test_retry_failed_jobs__dry_run_changes_nothing(transactional_db, clean_broker, make_failed_job):
    make_failed_job()
    make_failed_job()
    reminder_dead_letter(make_failed_job)

    out, _ = run("--dry-run")

    assert out.splitlines() == [
        "dry run: would retry 3 open dead letters",
        "  product_embedding: 2",
        "  reminder_dispatch: 1",
    ]
    assert set(statuses().values()) == {"open"}
    assert queue_length(clean_broker, "catalog") == 0


def test_retry_failed_jobs__twice_sends_once(transactional_db, clean_broker, make_failed_job):
    failed = make_failed_job()
    run()
    # The retried job failed again before running: a new open dead letter with the same id.
    make_failed_job(job_id=failed.job_id)

    out, _ = run()

    assert out.strip() == "retried 1 of 1 open dead letters (0 sent, 1 deduplicated: an equal job was already pending)"
    assert queue_length(clean_broker, "catalog") == 1


def test_retry_failed_jobs__unretriable_rows_are_reported_and_stay_open(
    transactional_db, clean_broker, make_failed_job
):
    retired = make_failed_job(job_type="retired_job_type")
    broken = make_failed_job(payload={"product_id": "not-a-number", "triggered_by": "manual"})
    fine = make_failed_job()

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="2 dead letters could not be retried"):
        call_command("retry_failed_jobs", stdout=out, stderr=err)

    assert out.getvalue().startswith("retried 1 of 3 open dead letters")
    assert f"FailedJob {retired.pk} (retired_job_type" in err.getvalue()
    assert f"FailedJob {broken.pk} (product_embedding" in err.getvalue()
    assert statuses() == {retired.pk: "open", broken.pk: "open", fine.pk: "retried"}


@pytest.mark.django_db
def test_retry_failed_jobs__unknown_type_names_the_valid_ones(make_failed_job):
    make_failed_job()

    with pytest.raises(CommandError) as caught:
        run("--type", "product_embeddings")

    message = str(caught.value)
    assert "unknown job type(s) 'product_embeddings'" in message
    assert "product_embedding, product_enrichment" in message
    assert set(statuses().values()) == {"open"}


@pytest.mark.django_db
@pytest.mark.parametrize("since", ["yesterday", "2h30m", "-3d", "2026-13-01", "3y"])
def test_retry_failed_jobs__bad_since_is_an_error(make_failed_job, since):
    make_failed_job()

    with pytest.raises(CommandError, match="is neither an ISO date/datetime"):
        run(f"--since={since}")

    assert set(statuses().values()) == {"open"}


@pytest.mark.django_db
def test_retry_failed_jobs__future_since_is_an_error():
    with pytest.raises(CommandError, match="is in the future"):
        run("--since", (timezone.now() + timedelta(days=1)).date().isoformat())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("45s", NOW - timedelta(seconds=45)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("3d", NOW - timedelta(days=3)),
        ("1w", NOW - timedelta(weeks=1)),
        ("2026-11-02", datetime(2026, 11, 2, tzinfo=UTC)),
        ("2026-11-02T08:30:00", datetime(2026, 11, 2, 8, 30, tzinfo=UTC)),
        ("2026-11-02T08:30:00+01:00", datetime(2026, 11, 2, 7, 30, tzinfo=UTC)),
    ],
)
def test_parse_since__accepted_forms(value, expected):
    assert parse_since(value, now=NOW) == expected


def test_retry_failed_jobs__fingerprint_filter(transactional_db, clean_broker, make_failed_job):
    group = [make_failed_job(error_class="LookupError", error_message=f"product {n} not found") for n in (11, 12)]
    other = make_failed_job()

    out, _ = run("--fingerprint", group[0].fingerprint)

    assert out.strip() == "retried 2 of 2 open dead letters (2 sent, 0 deduplicated: an equal job was already pending)"
    assert statuses() == {group[0].pk: "retried", group[1].pk: "retried", other.pk: "open"}


def test_retry_failed_jobs__bad_fingerprint_is_a_clear_error(db):
    with pytest.raises(CommandError, match="--fingerprint: fingerprint 'XYZ' is not 16 lowercase hex characters"):
        run("--fingerprint", "XYZ")
