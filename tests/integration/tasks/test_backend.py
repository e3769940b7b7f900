"""`SpineTaskBackend` on the spine: transactions, dead letters and admin retry, states, dedupe, delays, pruning."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.tasks import TaskResultStatus, default_task_backend
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from gifting_jobs.broker.bands import physical_queue
from gifting_jobs.catalog import DJANGO_TASK
from gifting_jobs.dead_letters import retry_failed_job
from gifting_jobs.dispatch import enqueue
from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus, HeldJob, HeldJobReason, TaskResultRecord
from gifting_jobs.scheduling.pruning import prune_old_records
from gifting_jobs.tasks.backend import KEYED_JOB_ID_PREFIX, spine_priority
from tests.conftest import wait_until
from tests.integration.tasks import tasks as test_tasks
from tests.integration.tasks.test_conformance import finished, run_until_finished

pytestmark = pytest.mark.django_db(transaction=True)

#: Scales the django_task backoff (5 s first) to 0.5-1 s: long enough to see READY between attempts.
OBSERVABLE_BACKOFF_SCALE = 0.2


def status_of(result_id: str) -> tuple[str, int, int]:
    """(status, attempts, errors) as `get_result` reads them now."""
    result = default_task_backend.get_result(result_id)
    return result.status, result.attempts, len(result.errors)


def test_enqueue__priority_and_queue_pick_the_band_queue(queued):
    report = test_tasks.urgent_report.enqueue("q")  # priority 60 on "reports": urgent band
    bulk = test_tasks.noop_task.using(priority=-80).enqueue()

    [message] = queued(physical_queue("reports", 3))
    assert message.args[0]["result_id"] == report.id and message.actor_name == DJANGO_TASK
    assert message.options["priority"] == spine_priority(60)
    assert queued("default.bulk")[0].args[0]["result_id"] == bulk.id


def test_enqueue__inside_a_rolled_back_transaction_never_runs(start_worker, signals):
    # Given a task enqueued in a transaction that rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        rolled_back = test_tasks.calculate_meaning_of_life.enqueue()
        assert default_task_backend.get_result(rolled_back.id).status == TaskResultStatus.READY
        raise RuntimeError("the view failed")
    # And one in a transaction that commits
    with transaction.atomic():
        committed = test_tasks.echo.enqueue("committed")
        assert signals == []  # task_enqueued waits for the commit

    # When a worker runs everything there is
    run_until_finished(start_worker, committed)

    # Then only the committed task ran; the rolled-back one left nothing behind
    assert committed.return_value == {"args": ["committed"], "kwargs": {}}
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(rolled_back.id)
    assert not HeldJob.objects.exists() and TaskResultRecord.objects.count() == 1
    assert [(name, rid) for name, rid, _ in signals if name == "enqueued"] == [("enqueued", committed.id)]


def test_failed_task__lands_in_failed_job_and_the_admin_retry_runs_it_again(start_worker, admin_client, release):
    # Given a task that fails for good
    result = test_tasks.fails_until_released.enqueue("report-1")
    run_until_finished(start_worker, result)
    assert result.status == TaskResultStatus.FAILED

    # The dead letter is written by the middleware just after the work recorded FAILED.
    failed = wait_until(lambda: FailedJob.objects.first(), what="the dead letter")
    assert (failed.job_type, failed.entity_id, failed.reason) == (DJANGO_TASK, result.id, FailedJobReason.PERMANENT)
    assert failed.error_class == "gifting_jobs.exceptions.PermanentJobError"
    assert failed.payload["task_path"] == "tests.integration.tasks.tasks.fails_until_released"

    # When its cause is fixed and support retries it from the admin
    release("report-1")
    response = admin_client.post(
        reverse("admin:gifting_jobs_failedjob_changelist"),
        {"action": "retry_selected", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert response.status_code == 200

    # Then the same result runs again and succeeds, keeping the first attempt's error
    wait_until(lambda: finished(result) and result.attempts == 2, what="the retried task to finish")
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, "report-1 done")
    assert result.attempts == 2 and len(result.errors) == 1
    failed.refresh_from_db()
    assert failed.status == FailedJobStatus.RETRIED


def test_get_result__shows_every_state_transition(start_worker, release):
    # Given a task whose first attempt fails transiently and whose second succeeds, each blocking till released;
    # backoffs scaled to 0.5-1 s, so the READY between the attempts is seen
    result = test_tasks.blocks_each_attempt.enqueue("states", fail_attempts=1)
    assert status_of(result.id) == (TaskResultStatus.READY, 0, 0)

    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "RETRY_BACKOFF_SCALE": OBSERVABLE_BACKOFF_SCALE}):
        start_worker()
        wait_until(lambda: status_of(result.id) == (TaskResultStatus.RUNNING, 1, 0), what="attempt 1 RUNNING")
        running = default_task_backend.get_result(result.id)
        assert running.started_at is not None and running.finished_at is None

        # When attempt 1 fails, the result is READY again (a retry is due), with its error
        release("states:1")
        wait_until(lambda: status_of(result.id)[2] == 1, what="attempt 1 to fail")
        assert status_of(result.id) == (TaskResultStatus.READY, 1, 1)

        # Then attempt 2 runs, and succeeds
        wait_until(lambda: status_of(result.id) == (TaskResultStatus.RUNNING, 2, 1), what="attempt 2 RUNNING")
        assert default_task_backend.get_result(result.id).last_attempted_at > running.last_attempted_at
        release("states:2")
        wait_until(lambda: status_of(result.id) == (TaskResultStatus.SUCCESSFUL, 2, 1), what="SUCCESSFUL")

    final = default_task_backend.get_result(result.id)
    assert final.return_value == 2 and final.started_at == running.started_at and final.finished_at is not None


def test_idempotency_key__a_pending_task_with_the_key_is_not_enqueued_twice(queued):
    first = test_tasks.nightly_digest.enqueue()
    second = test_tasks.nightly_digest.enqueue()
    keyed = test_tasks.echo.using(idempotency_key="welcome:7")
    third, fourth = keyed.enqueue(1), keyed.enqueue(2)

    assert second.id == first.id and fourth.id == third.id and fourth.args == [1]
    assert TaskResultRecord.objects.count() == 2 and len(queued("default")) == 2
    assert default_task_backend.get_result(third.id).task.idempotency_key == "welcome:7"
    with pytest.raises(InvalidTask, match="idempotency_key"):
        test_tasks.echo.using(idempotency_key="no spaces allowed")


def test_idempotency_key__the_key_is_free_again_once_the_task_ran(start_worker, broker):
    first = test_tasks.nightly_digest.enqueue()
    run_until_finished(start_worker, first)
    # The result is SUCCESSFUL inside the work; the key is freed by the ack a moment later.
    wait_until(lambda: not broker.job_pending(KEYED_JOB_ID_PREFIX + "nightly-digest"), what="the key freed")

    again = test_tasks.nightly_digest.enqueue()
    assert again.id != first.id
    run_until_finished(start_worker, again)
    assert again.return_value == "digest"


def test_run_after__beyond_the_delay_horizon_is_held_in_postgres(queued):
    result = test_tasks.noop_task.using(run_after=timezone.now() + timedelta(days=3)).enqueue()

    held = HeldJob.objects.get()
    assert (held.reason, held.job_type) == (HeldJobReason.DELAYED, DJANGO_TASK)
    assert held.message["args"][0]["result_id"] == result.id
    assert abs(held.due_at - result.task.run_after) < timedelta(seconds=1)
    assert queued("default") == [] and queued("default.DQ") == []


def test_run_after__a_short_delay_goes_through_the_broker_delay_queue(queued):
    result = test_tasks.noop_task.using(run_after=timezone.now() + timedelta(minutes=2)).enqueue()

    [message] = queued("default.DQ")
    assert message.args[0]["result_id"] == result.id and not HeldJob.objects.exists()


def test_enqueue__while_redis_is_down_the_task_is_held_and_runs_later(stoppable_redis, swap_broker, start_worker):
    from tests.integration.spine.conftest import make_broker

    broker = swap_broker(make_broker(stoppable_redis.url))
    stoppable_redis.stop()

    result = test_tasks.calculate_meaning_of_life.enqueue()

    held = HeldJob.objects.get()
    assert held.reason == HeldJobReason.BROKER_DOWN and held.message["args"][0]["result_id"] == result.id
    stoppable_redis.start()
    start_worker(broker=broker)  # Its relay hands the held job over, then it runs.
    wait_until(lambda: finished(result), what="the held task to run")
    assert result.return_value == 42


def test_pruning__old_finished_results_go_with_the_retention_duty():
    old, recent = timezone.now() - timedelta(days=40), timezone.now() - timedelta(days=5)
    results = {
        name: test_tasks.noop_task.enqueue(name).id
        for name in ("old-ok", "old-failed", "recent-ok", "old-running", "old-ready", "old-ready-due-later")
    }
    rows = TaskResultRecord.objects
    rows.filter(pk=results["old-ok"]).update(status="SUCCESSFUL", finished_at=old)
    rows.filter(pk=results["old-failed"]).update(status="FAILED", finished_at=old)
    rows.filter(pk=results["recent-ok"]).update(status="SUCCESSFUL", finished_at=recent)
    rows.filter(pk=results["old-running"]).update(status="RUNNING", enqueued_at=old)
    rows.filter(pk=results["old-ready"]).update(enqueued_at=old)
    rows.filter(pk=results["old-ready-due-later"]).update(enqueued_at=old, run_after=timezone.now() + timedelta(days=1))

    assert prune_old_records().task_results == 3

    assert set(rows.values_list("pk", flat=True)) == {
        results["recent-ok"],
        results["old-running"],
        results["old-ready-due-later"],
    }


def test_run__a_task_that_cannot_be_imported_any_more_fails_for_good(start_worker):
    # Given a queued task whose function was since moved away (its path no longer imports), its row pruned
    enqueue(
        DJANGO_TASK,
        {"result_id": "b" * 32, "task_path": "tests.integration.tasks.tasks.gone", "backend": "default"},
        {},
    )

    # When a worker takes it, it is dead-lettered at once as permanent, its result row FAILED
    start_worker()
    failed = wait_until(lambda: FailedJob.objects.filter(entity_id="b" * 32).first(), what="the dead letter")
    assert failed.reason == FailedJobReason.PERMANENT and "cannot run task" in failed.error_message
    record = TaskResultRecord.objects.get(pk="b" * 32)
    assert record.status == "FAILED" and record.errors[0]["exception_class_path"].endswith("PermanentJobError")


def test_failed_task__is_retried_on_the_queue_it_was_sent_to(queued):
    # Given a dead letter of a task sent to the "reports" queue (its urgent band)
    failed = FailedJob.objects.create(
        job_id="django-task:" + "c" * 32,
        message_id="m-1",
        job_type=DJANGO_TASK,
        queue="reports.urgent",
        entity_id="c" * 32,
        payload={
            "result_id": "c" * 32,
            "task_path": "tests.integration.tasks.tasks.urgent_report",
            "backend": "default",
            "args": ["q"],
            "kwargs": {},
            "triggered_by": "manual",
        },
        options={"priority": 3, "attempts": 3},
        reason=FailedJobReason.EXHAUSTED,
        first_failed_at=timezone.now(),
        last_failed_at=timezone.now(),
    )

    # When support retries it, it goes back to that queue and band
    retry_failed_job(failed)

    [message] = queued("reports.urgent")
    assert message.args[0]["result_id"] == "c" * 32 and message.options["retry_of"] == failed.pk


@pytest.mark.slow
def test_rundramatiq__runs_tasks_of_every_configured_queue(worker_processes):
    # Given tasks on both queues of TASKS, enqueued before any worker exists
    default = test_tasks.echo.enqueue("from another process")
    report = test_tasks.urgent_report.enqueue("q4")

    # When `manage.py rundramatiq` starts (it declares the TASKS queues at start-up)
    worker = worker_processes()

    # Then it runs both, in its own process
    for result in (default, report):
        wait_until(lambda r=result: finished(r), timeout=60, what=f"{result.task.name} in rundramatiq")
    assert (default.status, report.status) == (TaskResultStatus.SUCCESSFUL, TaskResultStatus.SUCCESSFUL), (
        worker.output()
    )
    assert report.return_value == "report q4"
    # Worker ids are host:pid of the worker process (rundramatiq's child), never this test's process.
    assert all(r.worker_ids[0].rpartition(":")[2] not in ("", str(os.getpid())) for r in (default, report))
