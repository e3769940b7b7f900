"""Read-only queries of the broker's state, for `jobs_status`, metrics and dashboards.

Each query is a few pipelined round trips; ack sets are found with SCAN
(never KEYS, which blocks Redis). A worker that died keeps its ack sets until
maintenance requeues them: they count as in flight until then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from dramatiq.errors import DecodeError
from dramatiq.message import Message

from gifting_jobs.broker import scripts
from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import DELAY_SUFFIX, glob_escape, is_auxiliary_queue
from gifting_jobs.broker.redis_broker import RedisBroker
from gifting_jobs.broker.registry import WorkerRecord
from gifting_jobs.broker.wakeups import READY_AT

#: Keys asked of SCAN per round trip.
SCAN_COUNT = 1000


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """What Redis holds for one physical queue."""

    ready: int
    #: Delayed messages still in Redis (not yet fetched by a worker).
    delayed: int
    #: Dramatiq's own dead letters of the queue.
    dead: int
    #: Since when (ms) the message at the head of the ready list (the next fetched) is ready; None when empty.
    oldest_ready_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AckCounts:
    """Members of every worker's ack sets, per physical queue."""

    in_flight: dict[str, int]
    #: Delayed messages a worker has fetched and keeps in memory until their eta.
    delayed_in_workers: dict[str, int]


def declared_logical_queues(broker: RedisBroker) -> set[str]:
    """The logical queues declared on this broker (bands, delay and dead queues folded in)."""
    return {logical_queue(name) for name in broker.get_declared_queues() if not is_auxiliary_queue(name)}


def queue_depths(broker: RedisBroker, physical_queues: Iterable[str]) -> dict[str, QueueDepth]:
    """Ready, delayed and dead counts of each physical queue, and its oldest ready message, in one pipeline.

    (redis-py checks first that the heads script is loaded: a second, tiny round trip.)
    """
    names = list(physical_queues)
    if not names:
        return {}
    keys = broker.keys
    heads = broker.client.register_script(scripts.READY_HEADS)
    pipe = broker.client.pipeline(transaction=False)
    pipe.scripts.add(heads)
    for name in names:
        pipe.llen(keys.queue(name))
        pipe.llen(keys.delay_queue(name))
        pipe.zcard(keys.dead_queue(name))
    head_keys = [key for name in names for key in (keys.queue(name), keys.messages(name))]
    pipe.evalsha(heads.sha, len(head_keys), *head_keys)
    *counts, head_data = pipe.execute()
    return {
        name: QueueDepth(ready=int(ready), delayed=int(delayed), dead=int(dead), oldest_ready_at_ms=ready_since(data))
        for name, ready, delayed, dead, data in zip(
            names, counts[0::3], counts[1::3], counts[2::3], head_data, strict=True
        )
    }


def ready_since(data: bytes | None) -> int | None:
    """Since when (ms) an encoded message is ready: its enqueue, or when its delay or retry came due.

    None for no message, or one that cannot be decoded.
    """
    if data is None:
        return None
    try:
        message = Message.decode(data)
    except DecodeError:
        return None
    options = message.options
    return max(int(message.message_timestamp), int(options.get("eta") or 0), int(options.get(READY_AT) or 0))


def ack_counts(broker: RedisBroker) -> AckCounts:
    """Sizes of every worker's ack sets, summed per physical queue."""
    keys = broker.keys
    found = [
        key.decode() if isinstance(key, bytes) else key
        for key in broker.client.scan_iter(match=glob_escape(keys.acks_prefix) + "*", count=SCAN_COUNT)
    ]
    pipe = broker.client.pipeline(transaction=False)
    for key in found:
        pipe.scard(key)
    in_flight: dict[str, int] = defaultdict(int)
    delayed: dict[str, int] = defaultdict(int)
    for key, size in zip(found, pipe.execute() if found else [], strict=True):
        queue = keys.ack_queue(key)
        if queue.endswith(DELAY_SUFFIX):
            delayed[queue.removesuffix(DELAY_SUFFIX)] += int(size)
        else:
            in_flight[queue] += int(size)
    return AckCounts(in_flight=dict(in_flight), delayed_in_workers=dict(delayed))


def namespace_keys(broker: RedisBroker) -> list[str]:
    """Every key in the broker's namespace (tests prove with it that nothing reached Redis)."""
    return sorted(
        key.decode() if isinstance(key, bytes) else key
        for key in broker.client.scan_iter(match=glob_escape(broker.namespace) + ":*", count=SCAN_COUNT)
    )


def live_workers(broker: RedisBroker) -> list[WorkerRecord]:
    """The registry records of the live worker processes, by host and pid (two round trips).

    A record expires a heartbeat timeout after its worker's last beat, so a
    dead worker is gone from here when its heartbeat times out.
    """
    keys = broker.keys
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in broker.client.zrange(keys.workers, 0, -1)]
    if not ids:
        return []
    records = []
    for data in broker.client.mget([keys.worker(i) for i in ids]):
        if data is None:  # Expired: the worker died (its index entry is pruned by the next live worker).
            continue
        try:
            records.append(WorkerRecord.decode(data))
        except (ValueError, KeyError, TypeError):
            continue  # A record of another gifting_jobs version: not this page's to show.
    return sorted(records, key=lambda r: (r.host, r.pid, r.started_at_ms))
