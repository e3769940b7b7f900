"""Guarantee 4: a burst of low-priority work does not starve an urgent job."""

from __future__ import annotations

from django.utils import timezone

from gifting_jobs.broker.bands import Band, band_for, physical_queue
from gifting_jobs.dispatch import enqueue
from tests.conftest import wait_until
from tests.jobapp.models import Execution

#: The backlog of the burst, and how soon the urgent job must start on a busy worker.
BACKLOG, MAX_START_SECONDS = 20_000, 2.0


def test_priorities__map_to_three_bands():
    assert [band_for(p) for p in range(1, 11)] == [Band.URGENT] * 3 + [Band.NORMAL] * 4 + [Band.BULK] * 3
    assert physical_queue("catalog", 1) == "catalog.urgent"
    assert physical_queue("catalog", 5) == "catalog"
    assert physical_queue("catalog", 10) == "catalog.bulk"


def test_priorities__urgent_job_starts_quickly_behind_a_bulk_backlog(clean_broker, start_worker):
    # Given 20,000 bulk jobs queued, and a worker busy on them
    for n in range(BACKLOG):
        enqueue("test_sleep", {"key": f"bulk-{n}", "triggered_by": "scheduler"}, {"priority": 10})
    bulk = f"{clean_broker.namespace}:testing.bulk"
    assert clean_broker.client.llen(bulk) == BACKLOG
    start_worker()
    wait_until(lambda: clean_broker.client.llen(bulk) < BACKLOG - 100, what="worker busy on the backlog")

    # When a priority-1 job is enqueued, it starts within 2 s, far ahead of the backlog
    enqueued_at = timezone.now()
    job = enqueue("test_record", {"key": "urgent", "triggered_by": "manual"}, {"priority": 1})
    assert job.queue == "testing.urgent"
    execution = wait_until(lambda: Execution.objects.filter(key="urgent").first(), timeout=10)
    waited = (execution.started_at - enqueued_at).total_seconds()
    assert waited < MAX_START_SECONDS, f"urgent job waited {waited:.2f}s"
    assert clean_broker.client.llen(bulk) > BACKLOG / 2, "the backlog was not what made it wait"
