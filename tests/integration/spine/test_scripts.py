"""The broker's Lua scripts survive a Redis that lost them (restart, SCRIPT FLUSH)."""

from __future__ import annotations

from gifting_jobs.dispatch import JobOutcome, enqueue, enqueue_many
from tests.integration.spine.conftest import make_broker


def test_send__reloads_the_lock_script_after_script_flush(stoppable_redis, swap_broker, transactional_db):
    broker = swap_broker(make_broker(stoppable_redis.url))
    first = enqueue("test_record", {"key": "before-flush", "triggered_by": "manual"}, {})

    broker.client.script_flush()
    second = enqueue("test_record", {"key": "after-flush", "triggered_by": "manual"}, {})
    again = enqueue("test_record", {"key": "after-flush", "triggered_by": "manual"}, {})

    assert (first.outcome, second.outcome, again.outcome) == (JobOutcome.SENT, JobOutcome.SENT, JobOutcome.DEDUPLICATED)
    assert broker.client.llen(f"{broker.namespace}:testing") == 2


def test_send_many__reloads_the_lock_script_after_script_flush(stoppable_redis, swap_broker, transactional_db):
    broker = swap_broker(make_broker(stoppable_redis.url))
    broker.client.script_flush()

    jobs = enqueue_many("test_record", [({"key": f"bulk-{n}", "triggered_by": "manual"}, {}) for n in range(3)])

    assert [job.outcome for job in jobs] == [JobOutcome.SENT] * 3
    assert broker.client.llen(f"{broker.namespace}:testing") == 3
