"""Guarantee 6 (crashes): a SIGKILLed worker's job is redelivered; a job that kills workers is cut off."""

from __future__ import annotations

import pytest

from gifting_jobs.conf import get_settings
from gifting_jobs.dispatch import enqueue
from gifting_jobs.models import FailedJob, FailedJobReason
from tests.conftest import wait_until
from tests.jobapp.jobs import release_key
from tests.jobapp.models import Execution

#: Worker restarts the crash-loop test allows before failing.
MAX_RESTARTS = 6

pytestmark = pytest.mark.slow


def test_worker_killed_mid_job__job_is_redelivered(clean_broker, worker_processes):
    # Given a worker process running a job that blocks until released
    job = enqueue("test_blocking", {"key": "killed", "triggered_by": "manual"}, {})
    first = worker_processes()
    wait_until(lambda: Execution.objects.filter(key="killed").exists(), timeout=60, what="job started")

    # When the worker is SIGKILLed mid-job and another worker comes up
    first.kill()
    worker_processes()
    # Then, after the heartbeat timeout, the job runs again on the new worker and completes
    wait_until(lambda: Execution.objects.filter(key="killed").count() == 2, timeout=60, what="redelivery")
    clean_broker.client.set(release_key("killed"), 1)
    wait_until(lambda: not clean_broker.client.exists(clean_broker.lock_key(job.id)), timeout=30, what="job done")
    assert not FailedJob.objects.exists()
    # The two runs happened in two different worker processes, and the job was not blamed.
    assert len({e.pid for e in Execution.objects.filter(key="killed")}) == 2
    assert not list(clean_broker.client.scan_iter(match=clean_broker.key("starts", "*")))


def test_job_that_kills_its_worker__is_dead_lettered_after_the_cap(clean_broker, worker_processes):
    job = enqueue("test_crash", {"key": "segfault", "triggered_by": "manual"}, {})
    for _ in range(MAX_RESTARTS):
        process = worker_processes("--queues", "crashing")
        wait_until(
            lambda: process.proc.poll() is not None or FailedJob.objects.filter(job_id=job.id).exists(),
            timeout=60,
            what="worker to die or the job to be dead-lettered",
        )
        if FailedJob.objects.filter(job_id=job.id).exists():
            break
    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.CRASHED
    # It ran 1 + MAX_WORKER_CRASHES times in all; the next delivery dead-lettered it.
    assert Execution.objects.filter(key="segfault").count() == 1 + get_settings().MAX_WORKER_CRASHES
