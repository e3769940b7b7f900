"""A worker's local queue hands out urgent messages first, then normal, then bulk, each band in arrival order."""

from __future__ import annotations

from dramatiq.broker import MessageProxy
from dramatiq.message import Message
from dramatiq.worker import _WorkQueueItem

from gifting_jobs.broker.consumer import BandOrderedQueue, band_rank


def item(queue_name: str, name: str, *, actor_priority: int = 0) -> _WorkQueueItem:
    message = Message(queue_name=queue_name, actor_name=name, args=(), kwargs={}, options={})
    return _WorkQueueItem(actor_priority, MessageProxy(message))


def test_band_rank__urgent_normal_bulk():
    assert [band_rank(q) for q in ("catalog.urgent", "catalog", "catalog.bulk")] == [0, 1, 2]
    assert band_rank("bulk_imports") == 1, "a queue merely named like a band is a normal one"


def test_band_ordered_queue__band_dominates_actor_priority_then_arrival():
    queue = BandOrderedQueue()
    for queued in (
        item("q.bulk", "bulk-1"),
        item("q", "normal-1", actor_priority=100),
        item("q.bulk", "bulk-2", actor_priority=-100),
        item("q.urgent", "urgent-low-actor-priority", actor_priority=100),
        item("q", "normal-2", actor_priority=100),
        item("q.urgent", "urgent", actor_priority=0),
    ):
        queue.put(queued)

    order = [queue.get_nowait().message.actor_name for _ in range(queue.qsize())]

    assert order == ["urgent", "urgent-low-actor-priority", "normal-1", "normal-2", "bulk-2", "bulk-1"]
