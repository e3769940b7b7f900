"""Guarantee 3: an enqueue while the broker is down returns promptly and loses nothing."""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from gifting_jobs.dispatch import JobOutcome, enqueue
from gifting_jobs.models import HeldJob, HeldJobReason
from tests.conftest import wait_until
from tests.integration.spine.conftest import make_broker
from tests.jobapp.models import Execution

#: Upper bound on an enqueue against a dead broker (connect timeout 1 s, one retry).
PROMPT_SECONDS = 5


def test_enqueue__broker_down_holds_in_postgres_then_sends(stoppable_redis, swap_broker, start_worker):
    broker = swap_broker(make_broker(stoppable_redis.url))
    stoppable_redis.stop()

    # When Redis is down, the call returns promptly with a clear outcome
    started = time.monotonic()
    job = enqueue("test_record", {"key": "down", "triggered_by": "manual"}, {})
    assert time.monotonic() - started < PROMPT_SECONDS
    assert job.outcome is JobOutcome.HELD
    # An equal enqueue meanwhile is deduplicated by Postgres
    assert enqueue("test_record", {"key": "down", "triggered_by": "manual"}, {}).deduplicated
    held = HeldJob.objects.get(job_id=job.id)
    assert held.reason == HeldJobReason.BROKER_DOWN

    # A worker started while Redis is down waits; once Redis answers, the relay sends the job
    start_worker(broker=broker)
    stoppable_redis.start()
    wait_until(lambda: Execution.objects.filter(key="down").exists(), timeout=30)
    wait_until(lambda: not HeldJob.objects.exists(), what="held row deleted")
    assert Execution.objects.filter(key="down").count() == 1


def test_enqueue__broker_down_at_commit_keeps_the_outbox_row(stoppable_redis, swap_broker, transactional_db):
    swap_broker(make_broker(stoppable_redis.url))
    stoppable_redis.stop()
    with transaction.atomic():
        job = enqueue("test_record", {"key": "commit-down", "triggered_by": "manual"}, {})
    held = HeldJob.objects.get(job_id=job.id)
    assert held.reason == HeldJobReason.BROKER_DOWN
    assert held.due_at <= timezone.now()
