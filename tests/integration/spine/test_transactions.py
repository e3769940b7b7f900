"""Guarantee 2: inside `transaction.atomic()` a job is sent after commit; a rollback sends nothing."""

from __future__ import annotations

import pytest
from django.db import transaction

from gifting_jobs.dispatch import JobOutcome, enqueue
from gifting_jobs.models import HeldJob
from tests.conftest import wait_until
from tests.jobapp.models import Execution


class Rollback(Exception):
    pass


def queue_length(broker, queue: str = "testing") -> int:
    return broker.client.llen(f"{broker.namespace}:{queue}")


@pytest.mark.django_db(transaction=True)
def test_enqueue__in_transaction_is_sent_after_commit(clean_broker):
    with transaction.atomic():
        job = enqueue("test_record", {"key": "commit", "triggered_by": "manual"}, {})
        # Until commit the job is only an outbox row of this transaction.
        assert job.outcome is JobOutcome.ON_COMMIT
        assert HeldJob.objects.filter(job_id=job.id).exists()
        assert queue_length(clean_broker) == 0
    assert queue_length(clean_broker) == 1
    assert not HeldJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_enqueue__rollback_sends_nothing(clean_broker):
    with pytest.raises(Rollback), transaction.atomic():
        enqueue("test_record", {"key": "rollback", "triggered_by": "manual"}, {})
        raise Rollback
    assert queue_length(clean_broker) == 0
    assert not HeldJob.objects.exists()
    assert not clean_broker.client.exists(clean_broker.lock_key("test-record:rollback"))


@pytest.mark.django_db(transaction=True)
def test_enqueue__twice_in_one_transaction_is_deduplicated(clean_broker):
    with transaction.atomic():
        first = enqueue("test_record", {"key": "twice", "triggered_by": "manual"}, {})
        second = enqueue("test_record", {"key": "twice", "triggered_by": "manual"}, {})
    assert second.deduplicated and second.message_id == first.message_id
    assert queue_length(clean_broker) == 1


def test_enqueue__outbox_row_left_by_a_dead_process_is_relayed(clean_broker, start_worker):
    # Given an outbox row whose process died between commit and send (no on_commit ran)
    with transaction.atomic():
        job = enqueue("test_record", {"key": "orphan", "triggered_by": "manual"}, {})
        transaction.get_connection().run_on_commit.clear()
    HeldJob.objects.filter(job_id=job.id).update(due_at=HeldJob.objects.get(job_id=job.id).created_at)
    # When a worker (and so the relay) runs, the job is sent and executed once
    start_worker()
    wait_until(lambda: Execution.objects.filter(key="orphan").exists())
    wait_until(lambda: not HeldJob.objects.exists(), what="outbox row deleted")
    assert Execution.objects.filter(key="orphan").count() == 1
