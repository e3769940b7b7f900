"""gifting_jobs.testing: the capture keeps production's ids, dedupe, validation and outcomes, and runs jobs inline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from gifting_jobs.broker.inspection import namespace_keys
from gifting_jobs.dispatch import JobOutcome, enqueue
from gifting_jobs.exceptions import PermanentJobError, ValidationError
from gifting_jobs.jobs import enqueue_product_embedding
from gifting_jobs.models import FailedJob, FailedJobReason, HeldJob
from gifting_jobs.testing import CaptureError, assert_enqueued, capture_jobs, enqueued_jobs
from tests.jobapp.models import Execution

pytestmark = pytest.mark.django_db


def record(key: str, **opts):
    return enqueue("test_record", {"key": key, "triggered_by": "manual"}, opts)


def test_capture__same_id_twice_is_deduplicated_as_in_production(jobs):
    # The test runs in a transaction: jobs go to the outbox, deduplicated there as in production.
    first, second = record("a"), record("a")

    assert first.outcome is JobOutcome.ON_COMMIT and not first.deduplicated
    assert second.deduplicated and second.message_id == first.message_id
    assert [job.id for job in jobs.enqueued_jobs()] == ["test-record:a"]


@pytest.mark.django_db(transaction=True)
def test_capture__outside_a_transaction_jobs_are_sent_and_deduplicated_by_lock(jobs):
    first, second = record("a"), record("a")

    assert first.outcome is JobOutcome.SENT
    assert second.deduplicated and second.message_id == first.message_id
    assert [(job.id, job.outcome) for job in jobs.enqueued_jobs()] == [("test-record:a", JobOutcome.SENT)]


def test_capture__validation_fails_before_anything_is_captured(jobs):
    with pytest.raises(ValidationError, match="product_id"):
        enqueue_product_embedding(0, triggered_by="manual")
    with pytest.raises(ValidationError, match="priority"):
        record("a", priority=11)
    assert jobs.enqueued_jobs() == []


def test_capture__nothing_reaches_the_redis_namespace(jobs, clean_broker):
    record("a", delay=timedelta(hours=2))
    record("b", delay=500)
    record("c")

    assert len(jobs.enqueued_jobs()) == 3
    assert namespace_keys(clean_broker) == []


def test_capture__outbox_jobs_are_listed_while_their_transaction_stands(jobs):
    with transaction.atomic():
        job = record("kept")
        assert job.outcome is JobOutcome.ON_COMMIT
        try:
            with transaction.atomic():
                record("rolled-back")
                assert {j.id for j in jobs.enqueued_jobs()} == {"test-record:kept", "test-record:rolled-back"}
                raise RuntimeError("roll back the savepoint")
        except RuntimeError:
            pass

    # The test's own transaction never commits: the kept job stays in the outbox, listed.
    assert [(j.id, j.outcome) for j in jobs.enqueued_jobs()] == [("test-record:kept", JobOutcome.ON_COMMIT)]


@pytest.mark.django_db(transaction=True)
def test_capture__a_committed_outbox_job_is_sent_to_the_capture(jobs):
    with transaction.atomic():
        record("a")
    assert [(j.id, j.outcome) for j in jobs.enqueued_jobs()] == [("test-record:a", JobOutcome.SENT)]
    assert not HeldJob.objects.exists()
    assert record("a").deduplicated


def test_capture__assert_enqueued_matches_fields_options_and_delay(jobs):
    record("a", priority=2, delay=timedelta(minutes=3))
    record("b")

    jobs.assert_enqueued("test_record", key="a", priority=2, queue="testing", delay=timedelta(minutes=3))
    jobs.assert_enqueued("test_record", key="a", delay=180_500)  # Within the default tolerance of a second.
    jobs.assert_enqueued("test_record", triggered_by="manual", count=2)
    jobs.refute_enqueued("test_record", key="c")
    jobs.refute_enqueued("test_record", key="a", delay=timedelta(minutes=5))
    assert [j.physical_queue for j in jobs.enqueued_jobs("test_record")] == ["testing.urgent", "testing"]


def test_capture__a_failed_assertion_lists_what_was_enqueued(jobs):
    record("a", priority=2)

    with pytest.raises(AssertionError) as failure:
        assert_enqueued("test_record", key="b")
    message = str(failure.value)
    assert "expected a job test_record key='b', found 0 matching." in message
    assert "Enqueued:" in message and "test_record id='test-record:a' queue=testing priority=2" in message

    with pytest.raises(AssertionError, match="Nothing was enqueued"), capture_jobs() as inner:
        inner.assert_enqueued("test_record")
    with pytest.raises(AssertionError, match="expected no job test_record key='a'"):
        jobs.refute_enqueued("test_record", key="a")


def test_capture__an_unknown_job_type_is_a_clear_error(jobs):
    with pytest.raises(Exception, match="unknown job type 'test_recrod'"):
        jobs.assert_enqueued("test_recrod")


def test_capture__helpers_without_a_capture_say_how_to_get_one():
    with pytest.raises(CaptureError, match="jobs` fixture"):
        enqueued_jobs()


def test_perform_job__runs_the_work_after_a_json_round_trip(jobs):
    jobs.perform_job("test_record", key="inline", triggered_by="manual")

    execution = Execution.objects.get()
    assert (execution.key, execution.job_type, execution.job_id, execution.attempt) == (
        "inline",
        "test_record",
        "test-record:inline",
        1,
    )
    with pytest.raises(ValidationError, match="key"):
        jobs.perform_job("test_record", triggered_by="manual")
    with pytest.raises(PermanentJobError, match="never work"):
        jobs.perform_job("test_permanent", key="p", triggered_by="manual")
    assert jobs.enqueued_jobs() == []


def test_drain_jobs__runs_everything_retries_transient_failures_and_frees_ids(jobs):
    record("a")
    record("b", delay=timedelta(hours=1))
    enqueue("test_flaky", {"key": "f", "fail_times": 2, "triggered_by": "manual"}, {})

    assert jobs.drain_jobs() == {"test_record": 2, "test_flaky": 1}

    assert sorted(Execution.objects.values_list("key", "attempt")) == [("a", 1), ("b", 1), ("f", 1), ("f", 2), ("f", 3)]
    assert jobs.enqueued_jobs() == [] and not HeldJob.objects.exists()
    assert not record("a").deduplicated  # The run is over: the id is free again.


def test_drain_jobs__a_permanent_failure_becomes_a_failed_job_and_raises(jobs):
    enqueue("test_permanent", {"key": "p", "triggered_by": "manual"}, {})

    with pytest.raises(PermanentJobError):
        jobs.drain_jobs()

    failed = FailedJob.objects.get()
    assert (failed.job_id, failed.reason, failed.attempts) == ("test-permanent:p", FailedJobReason.PERMANENT, 1)


def test_drain_jobs__by_queue_and_without_scheduled(jobs):
    record("now")
    record("later", delay=timedelta(hours=1))
    enqueue("test_noop", {"key": "elsewhere", "triggered_by": "manual"}, {})

    assert jobs.drain_jobs("testing", with_scheduled=False) == {"test_record": 1}
    assert sorted(j.id for j in jobs.enqueued_jobs()) == ["test-noop:elsewhere", "test-record:later"]


@pytest.mark.django_db(transaction=True)
def test_capture__enqueue_many_is_captured_item_by_item(jobs):
    from gifting_jobs.dispatch import enqueue_many

    results = enqueue_many(
        "test_record",
        [
            ({"key": "a", "triggered_by": "manual"}, {}),
            ({"key": "a", "triggered_by": "manual"}, {}),
            ({"triggered_by": "manual"}, {}),
            ({"key": "b", "triggered_by": "manual"}, {"delay": 250}),
        ],
    )

    assert [getattr(r, "outcome", type(r).__name__) for r in results] == [
        JobOutcome.SENT,
        JobOutcome.DEDUPLICATED,
        "ValidationError",
        JobOutcome.SENT,
    ]
    jobs.assert_enqueued("test_record", key="b", delay=timedelta(milliseconds=250))
    assert len(jobs.enqueued_jobs()) == 2


@pytest.mark.django_db(transaction=True)
def test_inline_jobs__run_as_they_are_sent_and_at_commit(inline_jobs):
    record("now")
    assert list(Execution.objects.values_list("key", flat=True)) == ["now"]

    with transaction.atomic():
        record("at-commit")
        assert Execution.objects.count() == 1  # Still in the outbox.
    assert sorted(Execution.objects.values_list("key", flat=True)) == ["at-commit", "now"]

    record("much-later", delay=timedelta(days=1))  # Beyond the horizon: kept, not run.
    assert [j.id for j in inline_jobs.enqueued_jobs()] == ["test-record:much-later"]


@pytest.mark.django_db(transaction=True)
def test_inline_jobs__a_failure_reaches_the_sender_and_is_dead_lettered(inline_jobs):
    with pytest.raises(PermanentJobError):
        enqueue("test_permanent", {"key": "boom", "triggered_by": "manual"}, {})

    assert FailedJob.objects.get().job_id == "test-permanent:boom"
    assert not inline_jobs.job_pending("test-permanent:boom")  # Over: its id is free again.
