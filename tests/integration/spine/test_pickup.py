"""Pickup latency mechanisms: idle consumers are woken by sends, and urgent work jumps the local queue.

Timing is the bench's business (bench/pickup.py); these tests prove the
mechanisms with bounds far from any noise: a wake-up well before the timeout,
an order of execution rather than a duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import dramatiq
import pytest
from django.conf import settings
from django.db import connection

from gifting_jobs.broker import RedisBroker
from gifting_jobs.broker.consumer import WakingConsumer
from gifting_jobs.broker.inspection import ack_counts
from gifting_jobs.dispatch import enqueue
from gifting_jobs.exceptions import ConfigurationError
from tests.conftest import wait_until
from tests.integration.spine.conftest import make_broker
from tests.jobapp.jobs import release_key
from tests.jobapp.models import Execution

#: A worker timeout no test waits out: a job picked up well before it was woken, not polled.
LONG_TIMEOUT_MS = 20_000
#: The safety net's timeout: a message pushed without a wake-up is found by the next look.
SHORT_TIMEOUT_MS = 300
QUEUE = "testing"


@pytest.fixture
def own_worker(clean_broker: RedisBroker, transactional_db: None) -> Iterator[Callable[..., dramatiq.Worker]]:
    """Start an in-process worker on a broker like the configured one, with its own `worker_timeout`."""
    started: list[tuple[RedisBroker, dramatiq.Worker]] = []

    def start(*, worker_timeout: int, threads: int = 2) -> dramatiq.Worker:
        broker = make_broker(settings.REDIS_URL, worker_timeout=worker_timeout)
        worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=50, queues={QUEUE})
        worker.start()
        started.append((broker, worker))
        return worker

    yield start
    for broker, worker in started:
        worker.stop(timeout=10_000)
        broker.close()
        broker.client.connection_pool.disconnect()
    connection.close()


def idle_consumer(worker: dramatiq.Worker, queue: str = QUEUE) -> WakingConsumer | None:
    """The consumer of `queue` if it is blocked waiting for a send."""
    thread = worker.consumers.get(queue)
    consumer = thread.consumer if thread else None
    return consumer if isinstance(consumer, WakingConsumer) and consumer.waiting else None


def test_pickup__a_send_wakes_an_idle_worker_long_before_its_timeout(own_worker):
    # Given a worker whose consumers wait up to 20 s, idle
    worker = own_worker(worker_timeout=LONG_TIMEOUT_MS)
    wait_until(lambda: idle_consumer(worker), what="the consumer to wait for a send")

    # When a job is enqueued, it runs long before the wait would have timed out
    sent = time.monotonic()
    enqueue("test_record", {"key": "woken", "triggered_by": "manual"}, {})
    wait_until(lambda: Execution.objects.filter(key="woken").exists(), timeout=LONG_TIMEOUT_MS / 1000)
    waited = time.monotonic() - sent
    assert waited < LONG_TIMEOUT_MS / 1000 / 4, f"picked up after {waited:.1f}s: polled, not woken"


def test_pickup__a_stopping_worker_does_not_wait_out_its_timeout(own_worker):
    # Given an idle worker whose consumers wait up to 20 s
    worker = own_worker(worker_timeout=LONG_TIMEOUT_MS)
    wait_until(lambda: idle_consumer(worker), what="the consumer to wait for a send")

    # When it stops, its consumers are woken and it is down long before the timeout
    started = time.monotonic()
    worker.stop(timeout=LONG_TIMEOUT_MS)
    took = time.monotonic() - started
    assert took < LONG_TIMEOUT_MS / 1000 / 4, f"stop took {took:.1f}s"
    assert not any(thread.is_alive() for thread in worker.consumers.values())


def test_pickup__pausing_an_idle_worker_does_not_wait_out_its_timeout(own_worker):
    # Given an idle worker whose consumers wait up to 20 s
    worker = own_worker(worker_timeout=LONG_TIMEOUT_MS)
    wait_until(lambda: idle_consumer(worker), what="the consumer to wait for a send")

    # When it is paused, the pause returns long before the timeout
    started = time.monotonic()
    worker.pause()
    took = time.monotonic() - started
    assert took < LONG_TIMEOUT_MS / 1000 / 4, f"pause took {took:.1f}s"
    enqueue("test_record", {"key": "while-paused", "triggered_by": "manual"}, {})

    # And a job sent while it is paused runs once it is resumed
    worker.resume()
    wait_until(lambda: Execution.objects.filter(key="while-paused").exists(), timeout=LONG_TIMEOUT_MS / 1000)


def test_pickup__a_message_pushed_without_a_wake_up_is_found_after_the_timeout(clean_broker, own_worker):
    # Given a queued message whose id is taken out of the queue, and no wake-up token left
    enqueue("test_record", {"key": "unnotified", "triggered_by": "manual"}, {})
    keys, client = clean_broker.keys, clean_broker.client
    [message_id] = client.lrange(keys.queue(QUEUE), 0, -1)
    client.delete(keys.queue(QUEUE), keys.notify(QUEUE))
    worker = own_worker(worker_timeout=SHORT_TIMEOUT_MS)
    wait_until(lambda: idle_consumer(worker), what="the consumer to wait for a send")

    # When the id is pushed back without a token (as maintenance requeues a dead worker's messages)
    client.rpush(keys.queue(QUEUE), message_id)

    # Then the consumer finds it when its wait times out
    wait_until(lambda: Execution.objects.filter(key="unnotified").exists(), timeout=10)


def test_pickup__urgent_message_runs_before_prefetched_normal_and_bulk_ones(clean_broker, start_worker):
    # Given a one-thread worker busy on a job, with bulk and normal messages prefetched behind it
    start_worker(threads=1, queues={QUEUE, f"{QUEUE}.urgent", f"{QUEUE}.bulk"})
    enqueue("test_blocking", {"key": "gate", "triggered_by": "manual"}, {})
    wait_until(lambda: Execution.objects.filter(key="gate").exists(), what="the thread to be busy")
    for n in range(4):
        enqueue("test_record", {"key": f"bulk-{n}", "triggered_by": "scheduler"}, {"priority": 10})
    enqueue("test_record", {"key": "normal", "triggered_by": "manual"}, {"priority": 5})
    prefetched = lambda: ack_counts(clean_broker).in_flight  # noqa: E731
    wait_until(
        lambda: prefetched().get(f"{QUEUE}.bulk") == 2 and prefetched().get(QUEUE) == 2,
        what="bulk and normal messages prefetched",
    )

    # When an urgent message arrives and is prefetched too, then the thread frees up
    enqueue("test_record", {"key": "urgent", "triggered_by": "manual"}, {"priority": 1})
    wait_until(lambda: prefetched().get(f"{QUEUE}.urgent") == 1, what="the urgent message prefetched")
    clean_broker.client.set(release_key("gate"), 1)

    # Then it runs first, then the normal one, then the bulk ones; prefetch stayed bounded per band
    wait_until(lambda: Execution.objects.filter(key__startswith="bulk").count() == 4, what="the backlog to run")
    order = list(Execution.objects.exclude(key="gate").order_by("id").values_list("key", flat=True))
    assert order[:2] == ["urgent", "normal"], order
    assert sorted(order[2:]) == [f"bulk-{n}" for n in range(4)], order


def test_pickup__every_send_path_leaves_one_wake_up_token_and_delayed_sends_none(clean_broker):
    # Given no worker: tokens are not popped
    notify = clean_broker.keys.notify(QUEUE)

    # When jobs are sent one by one, in a batch, and through Dramatiq's own enqueue (retries)
    enqueue("test_record", {"key": "one", "triggered_by": "manual"}, {})
    assert clean_broker.client.lrange(notify, 0, -1) == [b"1"]
    clean_broker.client.delete(notify)
    actor = dramatiq.get_broker().get_actor("test_record")
    clean_broker.enqueue(actor.message({"key": "bare", "triggered_by": "manual"}))
    enqueue("test_record", {"key": "two", "triggered_by": "manual"}, {})

    # Then the notify list holds a single token (capped), whatever the number of sends
    assert clean_broker.client.lrange(notify, 0, -1) == [b"1"]
    assert clean_broker.client.llen(clean_broker.keys.queue(QUEUE)) == 3

    # And a delayed send wakes nobody: its message waits for its eta in a delay queue
    clean_broker.client.delete(notify)
    enqueue("test_record", {"key": "later", "triggered_by": "manual"}, {"delay": 5_000})
    assert not clean_broker.client.exists(notify)


@pytest.mark.parametrize("worker_timeout", [0, 9, 600_001])
def test_pickup__worker_timeout_out_of_range_is_a_configuration_error(worker_timeout):
    with pytest.raises(ConfigurationError, match="worker_timeout"):
        RedisBroker(url=settings.REDIS_URL, worker_timeout=worker_timeout)


def test_pickup__idle_consumers_survive_a_redis_restart(stoppable_redis, swap_broker, start_worker):
    # Given an idle worker blocked on a Redis that then goes away and comes back
    broker = swap_broker(make_broker(stoppable_redis.url, worker_timeout=LONG_TIMEOUT_MS))
    worker = start_worker(broker=broker, queues={QUEUE})
    wait_until(lambda: idle_consumer(worker), what="the consumer to wait for a send")
    stoppable_redis.stop()
    stoppable_redis.start()

    # When a job is sent, the consumer, reconnected, runs it without waiting out its 20 s timeout
    sent = time.monotonic()
    enqueue("test_record", {"key": "after-restart", "triggered_by": "manual"}, {})
    wait_until(lambda: Execution.objects.filter(key="after-restart").exists(), timeout=LONG_TIMEOUT_MS / 1000)
    waited = time.monotonic() - sent
    assert waited < LONG_TIMEOUT_MS / 1000 / 4, f"picked up after {waited:.1f}s"
