"""Issue 14.2: a Redis failure during an ack must not leak the job-id lock."""

from __future__ import annotations

import pytest
import redis
from dramatiq.message import Message

from gifting_jobs.dispatch import JobOutcome, enqueue
from tests.integration.spine.conftest import make_broker

#: How long Redis is paused (ms) while the ack runs; longer than the broker's two short tries.
PAUSE_MS = 1500


def fetched(broker, job) -> str:
    """Fetch the job's message as a worker would; returns its Redis message id."""
    (data,) = broker.do_fetch(job.queue, 1)
    return Message.decode(data).options["redis_message_id"]


def test_ack__redis_restart_during_the_ack_still_frees_the_job_id(aof_redis, swap_broker, transactional_db):
    # Given a finished job whose ack is about to free its id
    broker = swap_broker(make_broker(aof_redis.url))
    job = enqueue("test_record", {"key": "ack-restart", "triggered_by": "manual"}, {})
    assert job.outcome is JobOutcome.SENT
    rid = fetched(broker, job)
    broker.finish_on_ack(job.id, job.message_id, rid)

    # When Redis dies under the ack, Dramatiq retries it once Redis is back (AOF kept the lock)
    aof_redis.stop()
    with pytest.raises(redis.ConnectionError):
        broker.do_ack(job.queue, rid)
    aof_redis.start()
    assert broker.job_pending(job.id)
    broker.do_ack(job.queue, rid)

    # Then the retry freed the id: an equal job can be sent again
    assert not broker.job_pending(job.id)
    assert enqueue("test_record", {"key": "ack-restart", "triggered_by": "manual"}, {}).outcome is JobOutcome.SENT


def test_ack__a_timeout_is_raised_as_the_connection_error_dramatiq_retries(aof_redis, swap_broker, transactional_db):
    broker = swap_broker(make_broker(aof_redis.url, socket_timeout=0.2))
    job = enqueue("test_record", {"key": "ack-timeout", "triggered_by": "manual"}, {})
    rid = fetched(broker, job)
    broker.finish_on_ack(job.id, job.message_id, rid)

    # A Redis that stops answering (paused) times out: Dramatiq retries only connection errors
    redis.Redis(port=aof_redis.port).execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
    with pytest.raises(redis.ConnectionError):
        broker.do_ack(job.queue, rid)
    redis.Redis(port=aof_redis.port).execute_command("CLIENT", "UNPAUSE")
    broker.do_ack(job.queue, rid)
    assert not broker.job_pending(job.id)
