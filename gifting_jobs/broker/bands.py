"""Priority bands: how priorities 1..10 map onto a small fixed set of Redis queues.

Redis has no per-message priority, so each logical queue (`catalog`, `profiles`,
…) is three physical queues. A worker consumes all of them with separate
consumer threads, so a burst in the bulk band cannot starve urgent jobs:

| priority | band   | physical queue      |
|----------|--------|---------------------|
| 1-3      | urgent | `<queue>.urgent`    |
| 4-7      | normal | `<queue>`           |
| 8-10     | bulk   | `<queue>.bulk`      |
"""

from __future__ import annotations

from enum import StrEnum

from gifting_jobs.broker.keys import base_queue

#: Highest priority of each band (priorities are 1 = most urgent .. 10).
URGENT_MAX, NORMAL_MAX = 3, 7


class Band(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"
    BULK = "bulk"


#: Suffix of the physical queue of each band (the normal band is the queue itself).
BAND_SUFFIX = {Band.URGENT: ".urgent", Band.NORMAL: "", Band.BULK: ".bulk"}


def band_for(priority: int) -> Band:
    if priority <= URGENT_MAX:
        return Band.URGENT
    if priority <= NORMAL_MAX:
        return Band.NORMAL
    return Band.BULK


def physical_queue(queue: str, priority: int) -> str:
    """The Redis queue a job of this logical queue and priority goes to."""
    return queue + BAND_SUFFIX[band_for(priority)]


def band_queues(queue: str) -> list[str]:
    """Every physical queue of a logical queue, most urgent first."""
    return [queue + BAND_SUFFIX[band] for band in Band]


def logical_queue(physical: str) -> str:
    """The logical queue of a physical queue name (delay suffix removed)."""
    name = base_queue(physical)
    for suffix in BAND_SUFFIX.values():
        if suffix and name.endswith(suffix):
            return name.removesuffix(suffix)
    return name
