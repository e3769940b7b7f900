"""Pausing and resuming logical queues by name, checked against the known queues: what the dashboard and commands call.

The state lives in Redis (see `gifting_jobs.broker.pausing` for what workers do
with a paused queue); a name that is not a known logical queue is refused with
the list of those that are, so a typo never pauses nothing silently.
"""

from __future__ import annotations

import logging

from gifting_jobs.broker import RedisBroker, get_broker
from gifting_jobs.exceptions import GiftingJobsError
from gifting_jobs.status import reported_queues

logger = logging.getLogger(__name__)


class UnknownQueueError(GiftingJobsError, ValueError):
    """The name is not one of the logical queues (of the catalog's job types or declared on the broker)."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown queue {name!r}: the queues are {', '.join(known)}")
        self.name = name
        self.known = known


def check_queue(name: str, broker: RedisBroker) -> None:
    """Raise `UnknownQueueError` unless `name` is a known logical queue."""
    known = reported_queues(broker)
    if name not in known:
        raise UnknownQueueError(name, known)


def pause_queue(name: str, *, broker: RedisBroker | None = None) -> bool:
    """Pause a known logical queue; returns False if it was paused already. Raises `UnknownQueueError`."""
    broker = broker or get_broker()
    check_queue(name, broker)
    changed = broker.pause_queue(name)
    logger.info("queue %s paused", name, extra={"queue": name, "changed": changed})
    return changed


def resume_queue(name: str, *, broker: RedisBroker | None = None) -> bool:
    """Resume a known logical queue; returns False if it was not paused. Raises `UnknownQueueError`."""
    broker = broker or get_broker()
    check_queue(name, broker)
    changed = broker.resume_queue(name)
    logger.info("queue %s resumed", name, extra={"queue": name, "changed": changed})
    return changed
