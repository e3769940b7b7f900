"""A job type declared through the public API runs on the spine like a built-in one."""

from __future__ import annotations

import pytest

from gifting_jobs import jobs
from gifting_jobs.models import FailedJob
from tests.conftest import wait_until
from tests.jobapp.models import Execution


@pytest.mark.django_db(transaction=True)
def test_host_job_type__runs_with_a_host_triggered_by(start_worker):
    job = jobs.enqueue_job("test_record", {"key": "signup-1"}, triggered_by="signup")
    assert job.id == "test-record:signup-1" and job.payload.triggered_by == "signup"
    start_worker()
    row = wait_until(lambda: Execution.objects.filter(key="signup-1").first(), what="the host job ran")
    assert row.job_type == "test_record" and row.job_id == "test-record:signup-1"


@pytest.mark.django_db(transaction=True)
def test_host_job_type__a_permanent_failure_is_a_dead_letter(start_worker):
    jobs.enqueue_job("test_permanent", {"key": "billing-1"}, triggered_by="billing.renewed")
    start_worker()
    failed = wait_until(
        lambda: FailedJob.objects.filter(job_id="test-permanent:billing-1").first(), what="the dead letter"
    )
    assert failed.job_type == "test_permanent" and failed.payload["triggered_by"] == "billing.renewed"
    assert Execution.objects.filter(key="billing-1").count() == 1
