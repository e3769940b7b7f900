"""`enqueue_many`: many jobs in one broker round trip, each with `enqueue`'s outcome and guarantees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from gifting_jobs.dispatch import JobOutcome, ValidationError, enqueue, enqueue_many
from gifting_jobs.models import HeldJob, HeldJobReason
from tests.conftest import wait_until
from tests.integration.spine.conftest import make_broker
from tests.jobapp.models import Execution


def fields(key: str) -> dict:
    return {"key": key, "triggered_by": "manual"}


def test_enqueue_many__each_job_gets_the_outcome_enqueue_would_give(clean_broker, queued, transactional_db):
    pending = enqueue("test_record", fields("pending"), {})

    results = enqueue_many(
        "test_record",
        [
            (fields("a"), {}),
            ({"key": 42, "triggered_by": "manual"}, {}),  # bad field: only this one is refused
            (fields("pending"), {}),  # an equal job is already queued
            (fields("a"), {}),  # the same id twice in one batch
            (fields("soon"), {"delay": timedelta(seconds=30)}),
            (fields("later"), {"delay": timedelta(hours=2)}),
            (fields("urgent"), {"priority": 1}),
            (fields("bad-option"), {"priority": 0}),
        ],
    )

    sent, bad_field, duplicate, twice, soon, later, urgent, bad_option = results
    assert sent.outcome is JobOutcome.SENT and sent.id == "test-record:a"
    assert isinstance(bad_field, ValidationError) and "key" in str(bad_field)
    assert duplicate.outcome is JobOutcome.DEDUPLICATED and duplicate.message_id == pending.message_id
    assert twice.outcome is JobOutcome.DEDUPLICATED and twice.message_id == sent.message_id
    assert soon.outcome is JobOutcome.SENT and soon.eta is not None
    assert later.outcome is JobOutcome.SCHEDULED
    assert urgent.outcome is JobOutcome.SENT and urgent.queue == "testing.urgent"
    assert isinstance(bad_option, ValidationError) and "priority" in str(bad_option)

    assert [m.args[0]["key"] for m in queued("testing")] == ["pending", "a"]
    assert [m.args[0]["key"] for m in queued("testing.DQ")] == ["soon"]
    assert [m.args[0]["key"] for m in queued("testing.urgent")] == ["urgent"]
    assert HeldJob.objects.get(job_id="test-record:later").reason == HeldJobReason.DELAYED


def test_enqueue_many__items_that_are_not_pairs_send_nothing(clean_broker, queued, transactional_db):
    with pytest.raises(ValidationError, match=r"items 1, 2 are not \(fields, opts\) pairs") as caught:
        enqueue_many("test_record", [(fields("ok"), {}), fields("no-opts"), (fields("x"), {}, {})])
    assert [e["loc"] for e in caught.value.errors] == [["jobs", 1], ["jobs", 2]]

    with pytest.raises(ValidationError, match="sequence of"):
        enqueue_many("test_record", fields("a dict, not pairs"))

    assert queued("testing") == []
    assert not HeldJob.objects.exists()


def test_enqueue_many__jobs_run_once_each(clean_broker, worker):
    keys = [f"many-{n}" for n in range(200)]

    results = enqueue_many("test_record", [(fields(key), {}) for key in keys + keys])

    assert [r.outcome for r in results] == [JobOutcome.SENT] * 200 + [JobOutcome.DEDUPLICATED] * 200
    wait_until(lambda: Execution.objects.count() >= 200, what="200 executions")
    worker.join()
    assert sorted(Execution.objects.values_list("key", flat=True)) == sorted(keys)


def test_enqueue_many__in_a_transaction_sends_on_commit_only(clean_broker, queued, transactional_db):
    with transaction.atomic():
        committed = enqueue_many("test_record", [(fields("c1"), {}), (fields("c2"), {})])
        assert [j.outcome for j in committed] == [JobOutcome.ON_COMMIT] * 2
        assert queued("testing") == []
    assert sorted(m.args[0]["key"] for m in queued("testing")) == ["c1", "c2"]

    try:
        with transaction.atomic():
            enqueue_many("test_record", [(fields("r1"), {})])
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert sorted(m.args[0]["key"] for m in queued("testing")) == ["c1", "c2"]
    assert not HeldJob.objects.exists()


def test_enqueue_many__broker_down_holds_every_job_then_sends_them(stoppable_redis, swap_broker, start_worker):
    broker = swap_broker(make_broker(stoppable_redis.url))
    stoppable_redis.stop()

    results = enqueue_many("test_record", [(fields(f"down-{n}"), {}) for n in range(5)])

    assert [r.outcome for r in results] == [JobOutcome.HELD] * 5
    assert HeldJob.objects.filter(reason=HeldJobReason.BROKER_DOWN).count() == 5
    start_worker(broker=broker)
    stoppable_redis.start()
    wait_until(lambda: Execution.objects.filter(key__startswith="down-").count() == 5, timeout=30)
    wait_until(lambda: not HeldJob.objects.exists(), what="held rows deleted")
    assert Execution.objects.filter(key__startswith="down-").count() == 5
