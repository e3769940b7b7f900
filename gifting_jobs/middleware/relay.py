"""Runs the relay in a background thread of every worker process; one is active at a time."""

from __future__ import annotations

import logging
import threading

import redis
from django.db import DatabaseError, connection
from dramatiq.broker import Broker
from dramatiq.middleware import Middleware

from gifting_jobs.broker.current import as_redis_broker
from gifting_jobs.conf import get_settings

logger = logging.getLogger(__name__)


class Relay(Middleware):
    """Starts a relay thread on worker boot and stops it on shutdown.

    The relay also writes the dead letters kept in Redis while Postgres was down,
    and drains Dramatiq's dead sets into FailedJob.

    Every worker process tries the Postgres advisory lock each interval; the
    holder relays, the others stand by and take over within one interval of
    its death (its DB session ends, which frees the lock).
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Broker, worker: object) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(broker,), name="gifting-relay", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, broker: Broker) -> None:
        # Imported here: middleware is loaded with the broker, before the app registry.
        from gifting_jobs.dead_letters import drain_dead_sets, flush_kept_dead_letters
        from gifting_jobs.relay import relay_due_jobs, release_relay_lock, try_relay_lock

        holding = False
        try:
            while not self._stop.is_set():
                settings = get_settings()
                try:
                    holding = holding or try_relay_lock()
                    if holding:
                        try:
                            flush_kept_dead_letters(as_redis_broker(broker), limit=settings.RELAY_BATCH_SIZE)
                            # After the flush: FailedJob is the one truth for "dead" (see drain_dead_sets).
                            drain_dead_sets(as_redis_broker(broker), limit=settings.RELAY_BATCH_SIZE)
                        except redis.RedisError:
                            logger.warning("relay cannot read dead letters kept in Redis; retrying", exc_info=True)
                        # Drain: keep going while full batches come back.
                        while not self._stop.is_set():
                            result = relay_due_jobs(as_redis_broker(broker), batch_size=settings.RELAY_BATCH_SIZE)
                            if result.broker_down or result.handled < settings.RELAY_BATCH_SIZE:
                                break
                except DatabaseError:
                    logger.warning("relay lost its database connection; retrying", exc_info=True)
                    holding = False
                    connection.close()
                self._stop.wait(settings.RELAY_INTERVAL_SECONDS)
        finally:
            if holding:
                try:
                    release_relay_lock()
                except DatabaseError:
                    pass  # The session is gone, and its lock with it.
            connection.close()
