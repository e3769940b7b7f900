"""A worker SIGKILLed between claiming a reminder and recording it sent: never sent twice (at-most-once)."""

from __future__ import annotations

import pytest

from gifting_jobs.models import FailedJob, FailedJobReason, NotificationSchedule, NotificationStatus
from gifting_jobs.services import process_overdue_reminders
from tests.conftest import wait_until
from tests.integration.reminders.conftest import PUSH_TOKEN, make_occasion, make_schedule, make_user

pytestmark = pytest.mark.slow

#: The sending lease the worker subprocesses run with (seconds).
SENDING_LEASE_SECONDS = 2


def test_worker_killed_while_the_provider_holds_the_push__it_is_failed_not_resent(
    worker_processes, push_server, clean_broker
):
    # Given a due push reminder, a worker that claims it, and a gateway that holds the request
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.integration.reminders.worker_settings",
        "GIFTING_TEST_PUSH_URL": push_server.url,
        "GIFTING_TEST_PUSH_TOKEN": PUSH_TOKEN,
        "GIFTING_TEST_SENDING_LEASE_SECONDS": str(SENDING_LEASE_SECONDS),
    }
    schedule = make_schedule(make_occasion(make_user()))
    push_server.block()
    first = worker_processes("--queues", "reminders.urgent", env=env)
    assert process_overdue_reminders() == 1
    wait_until(lambda: len(push_server.requests) == 1, timeout=60, what="the worker to post the push")
    assert NotificationSchedule.objects.get(pk=schedule.pk).status == NotificationStatus.SENDING

    # When the worker dies before it can record the outcome, and another worker comes up
    first.kill()
    push_server.release()  # The gateway accepted it: the user got this one.
    worker_processes("--queues", "reminders.urgent", env=env)

    # Then the redelivered dispatch fails the row as "delivery unknown" and dead-letters it, without resending
    job_id = f"reminder-dispatch:{schedule.pk}"
    wait_until(lambda: FailedJob.objects.filter(job_id=job_id).exists(), timeout=60, what="the dead letter")
    schedule.refresh_from_db()
    assert schedule.status == NotificationStatus.FAILED and "delivery unknown" in schedule.last_error
    failed = FailedJob.objects.get(job_id=job_id)
    assert failed.reason == FailedJobReason.PERMANENT and "delivery unknown" in failed.error_message
    assert len(push_server.requests) == 1
    # Nothing more is pending that could send it: the job's id is free and the sweep finds nothing to claim.
    wait_until(lambda: not clean_broker.client.exists(clean_broker.lock_key(job_id)), what="the job to be over")
    assert process_overdue_reminders() == 0
    assert len(push_server.requests) == 1
