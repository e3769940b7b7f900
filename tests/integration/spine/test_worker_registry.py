"""The worker registry: every live worker process with its running jobs; a dead one drops off at its heartbeat timeout.

The suite runs on a 2 s heartbeat (tests/settings.py); the shipped 60 s default
is checked here on the record's TTL, and its redelivery in tests/faults.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from uuid import uuid4

import pytest
from django.conf import settings

from gifting_jobs.broker import RedisBroker
from gifting_jobs.broker.inspection import live_workers
from gifting_jobs.broker.registry import REGISTRY_INTERVAL_MAX, WorkerRecord, beat
from gifting_jobs.dispatch import enqueue
from gifting_jobs.settings import DEFAULT_HEARTBEAT_TIMEOUT_MS
from tests.conftest import wait_until
from tests.jobapp.jobs import release_key
from tests.jobapp.models import Execution

#: Slack for a record expiring on Redis' clock, measured on ours (seconds).
CLOCK_SLACK_SECONDS = 0.1


def only_worker(broker: RedisBroker) -> WorkerRecord:
    (record,) = live_workers(broker)
    return record


def test_registry__an_in_process_worker_shows_itself_and_the_job_it_runs(clean_broker, start_worker):
    start_worker(threads=3)
    record = wait_until(lambda: live_workers(clean_broker), what="the worker registered")[0]
    assert (record.host, record.pid, record.threads, record.busy) == (socket.gethostname(), os.getpid(), 3, 0)
    assert {"testing", "catalog", "bench"} <= set(record.queues)
    assert not [q for q in record.queues if q.endswith((".DQ", ".XQ", ".urgent", ".bulk", ".quarantine"))]
    assert record.broker_id == clean_broker.broker_id
    assert record.started_at_ms <= record.beat_at_ms

    # When it runs a job that blocks until released
    job = enqueue("test_blocking", {"key": "shown", "triggered_by": "manual"}, {})
    wait_until(lambda: only_worker(clean_broker).busy == 1, what="the running job in the record")
    (running,) = only_worker(clean_broker).running
    assert (running.job_id, running.job_type, running.queue) == (job.id, "test_blocking", "testing")
    wait_until(lambda: only_worker(clean_broker).running[0].running_ms(int(time.time() * 1000)) > 0)

    # Then once released, the worker is idle again
    clean_broker.client.set(release_key("shown"), "1")
    wait_until(lambda: only_worker(clean_broker).busy == 0, what="the job gone from the record")
    assert Execution.objects.filter(key="shown").count() == 1


def test_registry__a_worker_that_stops_cleanly_leaves_at_once(clean_broker, start_worker):
    worker = start_worker()
    wait_until(lambda: live_workers(clean_broker), what="the worker registered")

    worker.stop(timeout=10_000)

    assert live_workers(clean_broker) == []
    assert clean_broker.client.zcard(clean_broker.keys.workers) == 0


@pytest.mark.slow
def test_registry__a_killed_worker_process_drops_off_at_its_heartbeat_timeout(clean_broker, worker_processes):
    # Given a rundramatiq process in the registry
    process = worker_processes()
    record = wait_until(lambda: live_workers(clean_broker), timeout=60, what="the worker process registered")[0]
    assert record.host == socket.gethostname()
    assert record.pid != os.getpid()

    # When it is killed without a chance to clean up
    process.kill()
    killed_at = time.monotonic()

    # Then its record stays until its heartbeat times out, and not longer
    wait_until(lambda: not live_workers(clean_broker), timeout=10, interval=0.01, what="the dead worker dropped off")
    gone_after = time.monotonic() - killed_at
    timeout = clean_broker.heartbeat_timeout / 1000
    assert gone_after >= timeout - clean_broker.registry_interval - CLOCK_SLACK_SECONDS, gone_after
    assert process.proc.returncode == -signal.SIGKILL


def test_registry__with_the_shipped_heartbeat_a_record_lives_60_s_and_is_rewritten_every_second():
    broker = RedisBroker(url=settings.REDIS_URL, namespace=f"gj-registry-{uuid4().hex[:8]}")
    try:
        assert broker.heartbeat_timeout == DEFAULT_HEARTBEAT_TIMEOUT_MS == 60_000
        assert broker.registry_interval == REGISTRY_INTERVAL_MAX == 1.0
        record = WorkerRecord(
            worker_id="w1",
            broker_id=broker.broker_id,
            host="host",
            pid=1,
            threads=8,
            queues=("catalog",),
            started_at_ms=1,
            beat_at_ms=int(time.time() * 1000),
        )
        beat(broker, record)
        ttl_ms = broker.client.pttl(broker.keys.worker("w1"))
        assert DEFAULT_HEARTBEAT_TIMEOUT_MS - 5_000 < ttl_ms <= DEFAULT_HEARTBEAT_TIMEOUT_MS
        assert live_workers(broker) == [record]
    finally:
        broker.delete_namespace()
        broker.close()
