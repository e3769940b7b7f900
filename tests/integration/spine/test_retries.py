"""Guarantee 6 and 7: retries with backoff by error class, and dead letters."""

from __future__ import annotations

import itertools

from gifting_jobs.dead_letters import retry_failed_job
from gifting_jobs.dispatch import JobOutcome, enqueue
from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus
from tests.conftest import wait_until
from tests.jobapp.jobs import FAST
from tests.jobapp.models import Execution


def executions(key: str) -> list[Execution]:
    return list(Execution.objects.filter(key=key).order_by("started_at"))


def test_retries__transient_errors_are_retried_with_backoff(clean_broker, start_worker):
    start_worker()
    job = enqueue("test_flaky", {"key": "flaky", "fail_times": 2, "triggered_by": "manual"}, {})
    wait_until(lambda: not clean_broker.client.exists(clean_broker.lock_key(job.id)), what="job finished")
    runs = executions("flaky")
    assert [r.attempt for r in runs] == [1, 2, 3]
    assert not FailedJob.objects.exists()
    # Backoff: at least half the ceiling (min_backoff * 2**(n-1)) between attempts.
    for n, (before, after) in enumerate(itertools.pairwise(runs), start=1):
        floor_ms = FAST.min_backoff.total_seconds() * 1000 * 2 ** (n - 1) / 2
        assert (after.started_at - before.started_at).total_seconds() * 1000 >= floor_ms


def test_retries__exhausted_attempts_become_a_dead_letter(clean_broker, start_worker):
    start_worker()
    job = enqueue("test_flaky", {"key": "never", "fail_times": 99, "triggered_by": "manual"}, {"attempts": 2})
    failed = wait_until(lambda: FailedJob.objects.filter(job_id=job.id).first())
    assert len(executions("never")) == 2
    assert failed.reason == FailedJobReason.EXHAUSTED and failed.attempts == 2
    assert failed.error_class == "gifting_jobs.exceptions.TransientJobError"
    assert "flaky failure 2" in failed.error_message and "TransientJobError" in failed.traceback
    assert failed.payload["key"] == "never" and failed.entity_id == "never" and failed.status == FailedJobStatus.OPEN
    assert failed.first_failed_at <= failed.last_failed_at


def test_retries__permanent_error_is_dead_lettered_after_one_attempt(clean_broker, start_worker):
    start_worker()
    job = enqueue("test_permanent", {"key": "perm", "triggered_by": "manual"}, {})
    failed = wait_until(lambda: FailedJob.objects.filter(job_id=job.id).first())
    assert failed.reason == FailedJobReason.PERMANENT and failed.attempts == 1
    assert len(executions("perm")) == 1
    wait_until(lambda: not clean_broker.client.exists(clean_broker.lock_key(job.id)), what="id freed")


def test_dead_letters__retry_gets_fresh_attempts_and_links_back(clean_broker, start_worker):
    start_worker()
    job = enqueue("test_flaky", {"key": "again", "fail_times": 2, "triggered_by": "manual"}, {"attempts": 2})
    failed = wait_until(lambda: FailedJob.objects.filter(job_id=job.id).first())

    # When support retries it (fresh attempt budget of the type: 3), it succeeds on its third try
    result = retry_failed_job(failed)
    assert result.job.outcome is JobOutcome.SENT and result.job.payload.triggered_by == "retry"
    failed.refresh_from_db()
    assert failed.status == FailedJobStatus.RETRIED and failed.retry_job_id == job.id
    wait_until(lambda: len(executions("again")) == 3)
    wait_until(lambda: not clean_broker.client.exists(clean_broker.lock_key(job.id)), what="retry finished")
    assert FailedJob.objects.count() == 1


def test_dead_letters__a_retry_that_fails_again_links_to_the_first(clean_broker, start_worker):
    start_worker()
    job = enqueue("test_permanent", {"key": "twice", "triggered_by": "manual"}, {})
    first = wait_until(lambda: FailedJob.objects.filter(job_id=job.id).first())
    retry_failed_job(first)
    second = wait_until(lambda: FailedJob.objects.filter(job_id=job.id, status=FailedJobStatus.OPEN).first())
    assert second.pk != first.pk and second.retry_of_id == first.pk


def test_dead_letters__only_open_ones_can_be_retried(db, clean_broker):
    import pytest
    from django.utils import timezone

    now = timezone.now()
    done = FailedJob.objects.create(
        job_id="x",
        job_type="test_record",
        payload={"key": "x"},
        reason=FailedJobReason.PERMANENT,
        status=FailedJobStatus.DISCARDED,
        first_failed_at=now,
        last_failed_at=now,
    )
    with pytest.raises(ValueError, match="only open ones"):
        retry_failed_job(done)
    assert clean_broker.client.llen(f"{clean_broker.namespace}:testing") == 0


def test_dead_letters__unsendable_held_job_is_recorded(clean_broker, start_worker):
    from django.utils import timezone

    from gifting_jobs.models import HeldJob, HeldJobReason

    HeldJob.objects.create(
        job_id="ghost:1",
        message_id="m-1",
        job_type="no_such_type",
        queue="testing",
        message={
            "queue_name": "testing",
            "actor_name": "no_such_type",
            "args": [{}],
            "kwargs": {},
            "options": {"job_id": "ghost:1"},
            "message_id": "m-1",
            "message_timestamp": 0,
        },
        lock_ttl_ms=60_000,
        reason=HeldJobReason.BROKER_DOWN,
        due_at=timezone.now(),
    )
    start_worker()
    failed = wait_until(lambda: FailedJob.objects.filter(job_id="ghost:1").first())
    assert failed.reason == FailedJobReason.UNSENDABLE and "no_such_type" in failed.error_message
    wait_until(lambda: not HeldJob.objects.exists(), what="row removed")
