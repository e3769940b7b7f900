"""Guarantee 5: short delays go through the broker; long ones wait in Postgres, not in memory."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from gifting_jobs.dispatch import JobOutcome, enqueue
from gifting_jobs.models import HeldJob, HeldJobReason
from tests.conftest import wait_until
from tests.jobapp.models import Execution

#: A horizon short enough for a test to cross it.
TEST_HORIZON_SECONDS = 1.0


def test_enqueue__short_delay_goes_through_the_broker(clean_broker, start_worker):
    job = enqueue("test_record", {"key": "short", "triggered_by": "manual"}, {"delay": 300})
    assert job.outcome is JobOutcome.SENT and job.eta is not None
    assert clean_broker.client.llen(f"{clean_broker.namespace}:testing.DQ") == 1
    assert not HeldJob.objects.exists()
    start_worker()
    execution = wait_until(lambda: Execution.objects.filter(key="short").first())
    assert execution.started_at >= job.eta - timedelta(milliseconds=50)


def test_enqueue__long_delay_is_held_in_postgres_until_due(clean_broker, start_worker):
    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "DELAY_HORIZON_SECONDS": TEST_HORIZON_SECONDS}):
        job = enqueue("test_record", {"key": "long", "triggered_by": "manual"}, {"delay": timedelta(seconds=3)})
        again = enqueue("test_record", {"key": "long", "triggered_by": "manual"}, {"delay": timedelta(seconds=3)})
        assert job.outcome is JobOutcome.SCHEDULED
        assert again.deduplicated and again.message_id == job.message_id
        held = HeldJob.objects.get(job_id=job.id)
        assert held.reason == HeldJobReason.DELAYED and held.due_at == job.eta

        start_worker()
        # Before it is due, nothing is in Redis: not queued, not in a delay queue, not in a worker's memory.
        assert timezone.now() < job.eta
        ns = clean_broker.namespace
        assert clean_broker.client.llen(f"{ns}:testing") == 0
        assert clean_broker.client.llen(f"{ns}:testing.DQ") == 0
        assert not list(clean_broker.client.scan_iter(match=f"{ns}:__acks__.*.DQ"))

        execution = wait_until(lambda: Execution.objects.filter(key="long").first(), timeout=30)
    assert execution.started_at >= job.eta
    assert Execution.objects.filter(key="long").count() == 1
    assert not HeldJob.objects.exists()


def test_enqueue__delay_options_are_validated(clean_broker, db):
    import pytest

    from gifting_jobs.exceptions import ValidationError

    for bad in ({"delay": -5}, {"delay": "soon"}, {"delay": True}, {"attempts": 0}, {"priority": 0}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            enqueue("test_record", {"key": "bad", "triggered_by": "manual"}, bad)
    assert clean_broker.client.llen(f"{clean_broker.namespace}:testing") == 0


def test_enqueue__long_delay_while_an_equal_job_is_held_keeps_the_held_one(clean_broker, start_worker):
    from gifting_jobs.catalog import get_spec
    from gifting_jobs.dispatch import build_message

    # Given an equal job held in Postgres because the broker was down at its enqueue
    spec = get_spec("test_record")
    payload = spec.payload_model.model_validate({"key": "both", "triggered_by": "manual"})
    message = build_message(spec, payload)
    HeldJob.objects.create(
        job_id=message.options["job_id"],
        message_id=message.message_id,
        job_type=spec.name,
        queue=message.queue_name,
        message=message.asdict(),
        lock_ttl_ms=60_000,
        reason=HeldJobReason.BROKER_DOWN,
        due_at=timezone.now(),
    )
    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "DELAY_HORIZON_SECONDS": TEST_HORIZON_SECONDS}):
        # When the same job is enqueued with a long delay, it is deduplicated against the held one
        job = enqueue("test_record", {"key": "both", "triggered_by": "manual"}, {"delay": timedelta(seconds=30)})
        assert job.deduplicated and job.message_id == message.message_id
        # And the held one still runs once the relay sends it
        start_worker()
        wait_until(lambda: Execution.objects.filter(key="both").exists(), timeout=30)
