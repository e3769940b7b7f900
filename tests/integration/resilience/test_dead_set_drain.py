"""One truth for "dead": Dramatiq's dead sets (`<queue>.XQ`) are drained into FailedJob rows."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection
from dramatiq.message import Message

from gifting_jobs.dead_letters import DEAD_SET_ERROR_CLASS, drain_dead_sets
from gifting_jobs.dispatch import enqueue
from gifting_jobs.metrics import JobsCollector
from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus
from gifting_jobs.status import collect_status
from tests.conftest import wait_until
from tests.integration.resilience.test_dead_letters_outage import break_connection

LIMIT = 100


def nack_to_dead_set(broker, key: str) -> Message:
    """A job fetched and nacked straight into Dramatiq's dead set, with no FailedJob written (as a bare nack does)."""
    job = enqueue("test_record", {"key": key, "triggered_by": "manual"}, {})
    (data,) = broker.do_fetch(job.queue, 1)
    message = Message.decode(data)
    broker.do_nack(job.queue, message.options["redis_message_id"])
    return message


def dead_set_size(broker, queue: str = "testing") -> int:
    return len(broker.dead_set_entries(limit=LIMIT).get(queue, []))


def test_drain__a_nacked_message_becomes_exactly_one_failed_job_and_leaves_the_dead_set(clean_broker, transactional_db):
    message = nack_to_dead_set(clean_broker, "lost")
    assert dead_set_size(clean_broker) == 1
    assert not FailedJob.objects.exists()

    result = drain_dead_sets(clean_broker, limit=LIMIT)

    assert (result.recorded, result.already_recorded) == (1, 0)
    failed = FailedJob.objects.get()
    assert (failed.job_id, failed.message_id, failed.job_type) == (
        "test-record:lost",
        message.message_id,
        "test_record",
    )
    assert (failed.status, failed.reason, failed.error_class) == (
        FailedJobStatus.OPEN,
        FailedJobReason.DEAD_SET,
        DEAD_SET_ERROR_CLASS,
    )
    assert "found in Dramatiq's dead set of queue testing" in failed.error_message
    assert failed.fingerprint
    assert dead_set_size(clean_broker) == 0

    # Draining again writes nothing twice.
    assert drain_dead_sets(clean_broker, limit=LIMIT).recorded == 0
    assert FailedJob.objects.count() == 1


def test_relay__drains_a_worker_failure_into_one_row_and_an_empty_dead_set(clean_broker, worker):
    # Given a worker (its relay thread drains every RELAY_INTERVAL_SECONDS) and a job that fails for good
    enqueue("test_permanent", {"key": "p1", "triggered_by": "manual"}, {})

    # Then the middleware's row is the only one, and the relay empties Dramatiq's dead set
    wait_until(lambda: FailedJob.objects.filter(job_id="test-permanent:p1").exists())
    wait_until(lambda: dead_set_size(clean_broker) == 0)
    failed = FailedJob.objects.get()
    assert (failed.reason, failed.error_message) == (FailedJobReason.PERMANENT, "this can never work")
    assert collect_status(clean_broker).dead_letters == 1


def test_relay__drains_a_bare_nack_into_a_dead_set_row(clean_broker, start_worker):
    nack_to_dead_set(clean_broker, "bare")

    start_worker()

    wait_until(lambda: FailedJob.objects.filter(job_id="test-record:bare").exists() and not dead_set_size(clean_broker))
    assert FailedJob.objects.get().reason == FailedJobReason.DEAD_SET


def test_drain__postgres_down_keeps_the_dead_set(clean_broker, transactional_db):
    nack_to_dead_set(clean_broker, "outage")

    break_connection()
    with pytest.raises(DatabaseError):
        drain_dead_sets(clean_broker, limit=LIMIT)
    connection.close()  # What the relay does after a DatabaseError.

    assert dead_set_size(clean_broker) == 1
    assert drain_dead_sets(clean_broker, limit=LIMIT).recorded == 1
    assert FailedJob.objects.count() == 1 and dead_set_size(clean_broker) == 0


def test_drain__leaves_an_entry_whose_dead_letter_waits_in_redis_for_the_flush(clean_broker, transactional_db):
    message = nack_to_dead_set(clean_broker, "kept")
    clean_broker.keep_dead_letter(
        "test-record:kept",
        {"message": message.asdict(), "reason": "exhausted", "error_class": "E", "error_message": "x", "traceback": ""},
    )

    result = drain_dead_sets(clean_broker, limit=LIMIT)

    assert (result.recorded, result.left) == (0, 1)
    assert not FailedJob.objects.exists()
    assert dead_set_size(clean_broker) == 1


def test_status__reports_open_dead_letters_as_the_dead_count(clean_broker, transactional_db):
    nack_to_dead_set(clean_broker, "counted")
    before = collect_status(clean_broker)
    assert before.dead_letters == 0
    assert sum(q.total("dead") for q in before.queues) == 1  # In the dead set, not yet drained.

    drain_dead_sets(clean_broker, limit=LIMIT)

    after = collect_status(clean_broker)
    assert after.dead_letters == 1 and after.as_dict()["dead_letters"] == 1
    assert sum(q.total("dead") for q in after.queues) == 0
    gauges = {family.name: family for family in JobsCollector(lambda: after).collect()}
    assert [sample.value for sample in gauges["gifting_jobs_dead_letters"].samples] == [1]
    out = StringIO()
    call_command("jobs_status", stdout=out)
    assert "Dead letters (FailedJob): 1 open" in out.getvalue()
    assert "dead, not yet drained" in out.getvalue()


def test_drain__an_undecodable_entry_still_becomes_a_dead_letter(clean_broker, transactional_db):
    nack_to_dead_set(clean_broker, "declare")  # Declares the queue's dead set keys as a real nack does.
    drain_dead_sets(clean_broker, limit=LIMIT)
    xq = f"{clean_broker.namespace}:testing.XQ"
    clean_broker.client.zadd(xq, {"garbled-1": 1})
    clean_broker.client.hset(xq + ".msgs", "garbled-1", b"\xff not json")

    assert drain_dead_sets(clean_broker, limit=LIMIT).recorded == 1

    garbled = FailedJob.objects.get(job_id="dead-set:garbled-1")
    assert (garbled.job_type, garbled.error_class, garbled.reason) == (
        "unknown",
        "UndecodableMessage",
        FailedJobReason.DEAD_SET,
    )
    assert "entry garbled-1 of Dramatiq's dead set of testing could not be read" in garbled.error_message
    assert dead_set_size(clean_broker) == 0
