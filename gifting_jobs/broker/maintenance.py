"""Crash redelivery on a timer: every worker process requeues dead workers' messages.

Dramatiq hands a dead worker's unacknowledged messages back only inside a fetch
on the same queue, with a `maintenance_chance` in a million per fetch: with the
defaults that took many minutes. Here every worker process runs that
maintenance for every declared queue at least every `maintenance_interval`, so
a message of a killed worker is back within the heartbeat timeout plus that
interval. It also hands back messages stranded in this worker's own ack sets
by a fetch whose reply was lost (a Redis restart mid-fetch). The broker adds
this middleware itself: no setting can forget it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import redis
from dramatiq.middleware import Middleware

from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import is_auxiliary_queue, quarantine_queue

if TYPE_CHECKING:
    from dramatiq.broker import Broker

logger = logging.getLogger(__name__)


class Maintenance(Middleware):
    """Starts the maintenance thread on worker boot and stops it on shutdown."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def before_worker_boot(self, broker: Broker, worker: Any) -> None:
        # A worker limited to some queues (`--queues`) consumes their quarantine lanes too,
        # else their redelivered messages would wait there forever.
        whitelist = getattr(worker, "consumer_whitelist", None)
        if whitelist:
            whitelist.update(
                quarantine_queue(logical_queue(name)) for name in list(whitelist) if not is_auxiliary_queue(name)
            )

    def after_worker_boot(self, broker: Broker, worker: object) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(broker,), name="gifting-maintenance", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, any_broker: Broker) -> None:
        # Imported here: the broker module imports this one.
        from gifting_jobs.broker.current import as_redis_broker

        broker = as_redis_broker(any_broker)
        interval = broker.maintenance_interval
        while not self._stop.is_set():
            try:
                moved = broker.requeue_dead_workers() + broker.requeue_orphans()
                if moved:
                    # Handed back without a send: wake idle consumers rather than let them wait out worker_timeout.
                    broker.wake_queues(sorted(broker.queues))
            except redis.RedisError as exc:
                # Redis is down or restarting: the consumers log that too; try again next round.
                logger.debug("maintenance could not reach Redis: %s", exc)
            else:
                if moved:
                    logger.warning(
                        "requeued %d messages of dead workers or lost fetches", moved, extra={"requeued": moved}
                    )
            self._stop.wait(interval)
