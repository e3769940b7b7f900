"""Crash redelivery on a timer, and the quarantine lane that keeps bystanders of a crash from blame."""

from __future__ import annotations

import threading

from django.conf import settings
from dramatiq.broker import MessageProxy
from dramatiq.message import Message

from gifting_jobs.broker.keys import quarantine_queue
from gifting_jobs.dispatch import enqueue
from gifting_jobs.middleware import DeadLetters
from gifting_jobs.models import FailedJob
from tests.conftest import wait_until
from tests.integration.spine.conftest import make_broker
from tests.jobapp.models import Execution


def die(broker, other) -> None:
    """Make `other` look dead: its last heartbeat at the epoch (as if SIGKILLed long ago)."""
    broker.client.zadd(broker.keys.heartbeats, {other.broker_id: 0})


def test_requeue_dead_workers__hands_back_only_a_dead_workers_messages(clean_broker, queued, transactional_db):
    # Given a second worker that fetched two jobs and is still alive
    other = make_broker(settings.REDIS_URL)
    jobs = [enqueue("test_record", {"key": f"dead-{n}", "triggered_by": "manual"}, {}) for n in range(2)]
    assert len(other.do_fetch(jobs[0].queue, 10)) == 2
    assert clean_broker.requeue_dead_workers() == 0
    assert queued(jobs[0].queue) == []

    # When its heartbeat is older than the timeout, one maintenance run hands both back
    die(clean_broker, other)
    assert clean_broker.requeue_dead_workers() == 2
    assert sorted(m.message_id for m in queued(jobs[0].queue)) == sorted(j.message_id for j in jobs)
    # and the dead worker is forgotten once it has no ack set left
    assert clean_broker.client.zscore(clean_broker.keys.heartbeats, other.broker_id) is None
    assert clean_broker.requeue_dead_workers() == 0


def test_maintenance_interval__bounded_by_the_heartbeat_timeout(clean_broker):
    default = make_broker(settings.REDIS_URL, heartbeat_timeout=60_000)
    assert default.maintenance_interval == 2.0
    assert clean_broker.maintenance_interval <= clean_broker.heartbeat_timeout / 1000 / 4


def test_worker__redelivers_a_dead_workers_jobs_on_the_timer_without_maintenance_chance(clean_broker, start_worker):
    # Given Dramatiq's own chance-based maintenance switched off
    clean_broker.maintenance_chance = 0
    other = make_broker(settings.REDIS_URL)
    try:
        jobs = [enqueue("test_record", {"key": f"bystander-{n}", "triggered_by": "manual"}, {}) for n in range(3)]
        assert len(other.do_fetch(jobs[0].queue, 10)) == 3
        die(clean_broker, other)

        # When a worker runs, its maintenance thread hands the jobs back
        start_worker()
        wait_until(lambda: Execution.objects.filter(key__startswith="bystander-").count() == 3, timeout=15)
    finally:
        clean_broker.maintenance_chance = settings.DRAMATIQ_BROKER["OPTIONS"]["maintenance_chance"]

    # Then each redelivered job ran once, in the quarantine lane, and none was blamed
    wait_until(lambda: not any(clean_broker.job_pending(job.id) for job in jobs), what="job ids freed")
    runs = Execution.objects.filter(key__startswith="bystander-")
    assert sorted(runs.values_list("key", flat=True)) == ["bystander-0", "bystander-1", "bystander-2"]
    assert not FailedJob.objects.exists()
    assert clean_broker.client.llen(clean_broker.keys.queue(quarantine_queue("testing"))) == 0


def test_quarantine__a_redelivered_message_moves_with_its_origin_and_keeps_its_job_id(
    clean_broker, queued, transactional_db
):
    job = enqueue("test_record", {"key": "moved", "triggered_by": "manual"}, {})
    (data,) = clean_broker.do_fetch(job.queue, 1)
    message = Message.decode(data)

    clean_broker.quarantine(message)

    (moved,) = queued("testing.quarantine")
    assert moved.message_id == job.message_id
    assert moved.options["quarantined_from"] == job.queue
    assert moved.options["redis_message_id"] != message.options["redis_message_id"]
    assert clean_broker.job_pending(job.id)
    assert not clean_broker.client.sismember(
        clean_broker.keys.acks(clean_broker.broker_id, job.queue), message.options["redis_message_id"]
    )


def test_requeue_orphans__a_fetch_whose_reply_was_lost_is_handed_back(clean_broker, queued, transactional_db):
    # Given a message moved into this worker's ack set by a fetch whose reply never arrived
    job = enqueue("test_record", {"key": "lost-reply", "triggered_by": "manual"}, {})
    assert clean_broker._dispatch("fetch")(job.queue, 1)  # Dramatiq's script alone: nothing records it as held.
    held_job = enqueue("test_record", {"key": "held", "triggered_by": "manual"}, {})
    assert clean_broker.do_fetch(held_job.queue, 1)  # A normal fetch: held by this process.

    # When maintenance runs twice, the orphan goes back to its queue; the held message stays
    assert clean_broker.requeue_orphans() == 0
    assert clean_broker.requeue_orphans() == 1
    assert [m.message_id for m in queued(job.queue)] == [job.message_id]
    assert clean_broker.requeue_orphans() == 0


def test_requeue_orphans__a_closed_consumers_unhanded_prefetch_is_handed_back(clean_broker, queued, transactional_db):
    # Given a consumer that prefetched two messages and handed out one, then closed (a connection error)
    jobs = [enqueue("test_record", {"key": f"cache-{n}", "triggered_by": "manual"}, {}) for n in range(2)]
    consumer = clean_broker.consume(jobs[0].queue, prefetch=2, timeout=10)
    handed_out = next(consumer)
    consumer.close()

    # When maintenance runs twice, the message never handed out goes back; the handed-out one stays
    assert clean_broker.requeue_orphans() == 0
    assert clean_broker.requeue_orphans() == 1
    assert [m.message_id for m in queued(jobs[0].queue)] == [
        j.message_id for j in jobs if j.message_id != handed_out.message_id
    ]


def test_quarantine__a_job_waiting_at_the_gate_is_not_counted_as_started(clean_broker, transactional_db):
    # Given a quarantined message redelivered after its worker died (its second fetch)
    job = enqueue("test_record", {"key": "waiting", "triggered_by": "manual"}, {})
    (data,) = clean_broker.do_fetch(job.queue, 1)
    clean_broker.quarantine(Message.decode(data))
    lane = quarantine_queue(job.queue)
    other = make_broker(settings.REDIS_URL)
    assert len(other.do_fetch(lane, 1)) == 1
    die(clean_broker, other)
    assert clean_broker.requeue_dead_workers() == 1
    (data,) = clean_broker.do_fetch(lane, 1)
    message = MessageProxy(Message.decode(data))
    starts_key = clean_broker.keys.starts(message.options["redis_message_id"])

    # When it reaches the gate while another quarantined job runs alone in the process
    dead_letters = DeadLetters()
    running_alone, finish = threading.Event(), threading.Event()

    def alone() -> None:
        dead_letters.gate.enter(alone=True)
        running_alone.set()
        finish.wait(10)
        dead_letters.gate.leave()

    threading.Thread(target=alone, daemon=True).start()
    assert running_alone.wait(10)
    waiting = threading.Thread(target=dead_letters.before_process_message, args=(clean_broker, message), daemon=True)
    waiting.start()
    wait_until(lambda: dead_letters.gate._writers_waiting == 1, what="the job waiting at the gate")

    # Then no start is counted while it waits (a crash now would not blame it); its start counts once it runs
    assert clean_broker.client.get(starts_key) is None
    finish.set()
    waiting.join(10)
    assert not waiting.is_alive()
    assert int(clean_broker.client.get(starts_key)) == 1
    dead_letters.gate.leave()
