"""Read-only queries of the broker's state, for `jobs_status`, metrics and dashboards.

Each query is a few pipelined round trips; ack sets are found with SCAN
(never KEYS, which blocks Redis). A worker that died keeps its ack sets until
maintenance requeues them: they count as in flight until then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import DELAY_SUFFIX, glob_escape, is_auxiliary_queue
from gifting_jobs.broker.redis_broker import RedisBroker

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
    """Ready, delayed and dead counts of each physical queue, in one round trip."""
    names = list(physical_queues)
    keys = broker.keys
    pipe = broker.client.pipeline(transaction=False)
    for name in names:
        pipe.llen(keys.queue(name))
        pipe.llen(keys.delay_queue(name))
        pipe.zcard(keys.dead_queue(name))
    counts = pipe.execute() if names else []
    return {
        name: QueueDepth(ready=int(ready), delayed=int(delayed), dead=int(dead))
        for name, ready, delayed, dead in zip(names, counts[0::3], counts[1::3], counts[2::3], strict=True)
    }


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
