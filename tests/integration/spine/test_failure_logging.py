"""One traceback per failed job in the worker log: Dramatiq's own per-attempt line is not repeated."""

from __future__ import annotations

import pytest

from gifting_jobs.dispatch import enqueue
from gifting_jobs.models import FailedJob
from tests.conftest import wait_until
from tests.jobapp.jobs import FAST

pytestmark = pytest.mark.slow

TRACEBACK_HEADER = "Traceback (most recent call last)"


def test_worker_log__one_traceback_per_failed_job(clean_broker, worker_processes):
    # Given a job that fails permanently and one that exhausts its retries
    permanent = enqueue("test_permanent", {"key": "log-permanent", "triggered_by": "manual"}, {})
    exhausted = enqueue("test_flaky", {"key": "log-flaky", "fail_times": FAST.attempts, "triggered_by": "manual"}, {})

    # When a real worker process runs them until both are dead letters
    worker = worker_processes("--queues", "testing")
    wait_until(lambda: FailedJob.objects.filter(job_id__in=[permanent.id, exhausted.id]).count() == 2, timeout=60)
    worker.stop()

    # Then the log holds exactly one traceback per job, on its "failed for good" line,
    log = worker.output()
    assert log.count(TRACEBACK_HEADER) == 2, log
    assert log.count("PermanentJobError: this can never work") == 1
    assert log.count(f"TransientJobError: flaky failure {FAST.attempts}") == 1
    assert "with unhandled exception" not in log
    # and each earlier attempt of the retried job is one warning line without a traceback.
    assert log.count("job failed, retrying") == FAST.attempts - 1
