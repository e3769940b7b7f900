"""The broker's side of the wake-ups: sends that notify, waking consumers, the `worker_timeout` option.

A mixin of `RedisBroker`, kept apart so the broker module stays about sending
and acknowledging. See `consumer` for how consumers wait.
"""

from __future__ import annotations

from typing import Any

import redis
from dramatiq.broker import Consumer
from dramatiq.common import current_millis
from dramatiq.message import Message

from gifting_jobs.broker import scripts
from gifting_jobs.broker.consumer import WakingConsumer, WorkerWiring
from gifting_jobs.broker.keys import DELAY_SUFFIX, KeyLayout
from gifting_jobs.broker.pausing import PausedQueues
from gifting_jobs.exceptions import ConfigurationError

#: Default longest wait (ms) of an idle consumer for a wake-up before it looks at its queue anyway.
DEFAULT_WORKER_TIMEOUT_MS = 5000
#: Bounds of the `worker_timeout` broker option (ms).
MIN_WORKER_TIMEOUT_MS, MAX_WORKER_TIMEOUT_MS = 10, 600_000
#: Option stamped on a message enqueued without a delay (a delayed message or a retry coming due):
#: when it became ready, which queue latency counts from (Dramatiq drops its `eta` at that point).
READY_AT = "ready_at"
#: A blocking wait's socket outlives the wait by this much, so only a dead Redis times it out.
WAIT_SOCKET_MARGIN_SECONDS = 5.0


class WakeUps:
    """Notify on every send; hand out consumers that wait for it. Mixed into `RedisBroker`."""

    client: redis.Redis
    keys: KeyLayout
    paused: PausedQueues

    def _init_wake_ups(self, worker_timeout: int) -> None:
        if not MIN_WORKER_TIMEOUT_MS <= worker_timeout <= MAX_WORKER_TIMEOUT_MS:
            raise ConfigurationError(
                f"DRAMATIQ_BROKER['OPTIONS']['worker_timeout'] must be {MIN_WORKER_TIMEOUT_MS}.."
                f"{MAX_WORKER_TIMEOUT_MS} ms, got {worker_timeout!r}"
            )
        #: Longest wait (ms) of an idle consumer for a wake-up before it looks at its queue anyway.
        self.worker_timeout = worker_timeout
        self._enqueue = self.client.register_script(scripts.ENQUEUE)
        self._wake = self.client.register_script(scripts.WAKE)
        self._waiting_client: redis.Redis | None = None
        self.add_middleware(WorkerWiring())  # type: ignore[attr-defined]

    def notify_key(self, physical: str) -> str:
        """The notify list a send to `physical` pushes to; "" for a delay queue, whose consumers poll."""
        return "" if physical.endswith(DELAY_SUFFIX) else self.keys.notify(physical)

    @property
    def waiting_client(self) -> redis.Redis:
        """A client for blocking waits: its own pool, with a socket timeout longer than the wait."""
        if self._waiting_client is None:
            pool = self.client.connection_pool
            options = {
                **pool.connection_kwargs,
                "socket_timeout": self.worker_timeout / 1000 + WAIT_SOCKET_MARGIN_SECONDS,
            }
            self._waiting_client = redis.Redis(
                connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **options)
            )
        return self._waiting_client

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        """A waking consumer for a ready queue; Dramatiq's polling one for a delay queue."""
        if queue_name.endswith(DELAY_SUFFIX):
            return super().consume(queue_name, prefetch, timeout)  # type: ignore[misc,no-any-return]
        return WakingConsumer(self, queue_name, prefetch, timeout)

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """Dramatiq's enqueue; a message made ready now is stamped with the time (`READY_AT`)."""
        if delay is None:
            message = message.copy(options={READY_AT: current_millis()})
        return super().enqueue(message, delay=delay)  # type: ignore[misc,no-any-return]

    def do_enqueue(self, queue_name: str, redis_message_id: str, data: bytes) -> None:
        """Dramatiq's enqueue (retries, delayed messages coming due), waking a consumer in the same call."""
        keys = [self.keys.queue(queue_name), self.keys.messages(queue_name), self.notify_key(queue_name)]
        self._run(self._enqueue, keys, [redis_message_id, data])  # type: ignore[attr-defined]

    def wake(self, queue_name: str) -> None:
        """Wake an idle consumer of a queue (messages pushed back without a send)."""
        self._run(self._wake, [self.notify_key(queue_name)], [])  # type: ignore[attr-defined]

    def wake_queues(self, queue_names: list[str]) -> None:
        """Wake an idle consumer of each ready queue, in one round trip (messages handed back by maintenance)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.scripts.add(self._wake)
        for name in queue_names:
            if not name.endswith(DELAY_SUFFIX):
                pipe.evalsha(self._wake.sha, 1, self.notify_key(name))
        pipe.execute()

    def close(self) -> None:
        if self._waiting_client is not None:
            self._waiting_client.connection_pool.disconnect()
        super().close()  # type: ignore[misc]
