"""The Dramatiq Redis broker, extended with atomic deduplicated sends.

Bare Dramatiq never deduplicates. Here one Lua script takes the job's
idempotency lock and pushes the message in a single round trip, so a job id is
sent at most once while it is pending, even under concurrent enqueues from many
processes, at the cost of one Redis call like a plain `send`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import uuid4

import redis
from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker
from dramatiq.common import current_millis, dq_name
from dramatiq.message import Message
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from gifting_jobs.queues import band_queues

#: redis-py retries a failed command; one quick retry keeps enqueue bounded when Redis is down.
CLIENT_RETRIES = 1
CLIENT_RETRY_CAP_SECONDS = 0.2

# KEYS: lock, queue list, queue messages hash. ARGV: owner, ttl_ms, redis message id, data, mode.
# mode "send": take a free lock and push. "hold": take a free lock as "held:<owner>",
# push nothing (the job waits in Postgres). "relay": push if the lock is free or held
# for this owner; if the owner already sent it, or another job owns it, push nothing.
# Returns nil when pushed (or held), else the current owner of the lock.
_SEND_UNIQUE = """
local current = redis.call('get', KEYS[1])
local mode = ARGV[5]
if current then
  if not (mode == 'relay' and current == 'held:' .. ARGV[1]) then
    return current
  end
end
if mode == 'hold' then
  redis.call('set', KEYS[1], 'held:' .. ARGV[1], 'PX', ARGV[2])
  return false
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('hset', KEYS[3], ARGV[3], ARGV[4])
redis.call('rpush', KEYS[2], ARGV[3])
return false
"""

# A job is done (succeeded or dead-lettered): forget its deliveries and free its
# id, unless a later job owns the id by now. KEYS: lock, deliveries. ARGV: owner.
_FINISH = """
redis.call('del', KEYS[2])
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  return 1
end
return 0
"""

#: How long a delivery counter outlives its message's last delivery.
DELIVERIES_TTL_MS = 7 * 24 * 3600 * 1000


class SendMode(StrEnum):
    SEND = "send"
    HOLD = "hold"
    RELAY = "relay"


class RedisBroker(DramatiqRedisBroker):
    """Dramatiq's RedisBroker with bounded timeouts, priority bands and `send_unique`."""

    def __init__(
        self,
        *,
        url: str | None = None,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 1.0,
        **options: Any,
    ) -> None:
        if url:
            # Dramatiq builds its pool from the URL alone; timeouts and a short
            # retry keep an enqueue against a dead Redis from hanging.
            options["connection_pool"] = redis.ConnectionPool.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_connect_timeout,
                retry=Retry(ExponentialBackoff(cap=CLIENT_RETRY_CAP_SECONDS), CLIENT_RETRIES),
            )
        super().__init__(**options)
        self._send_unique = self.client.register_script(_SEND_UNIQUE)
        self._finish = self.client.register_script(_FINISH)

    def declare_queue(self, queue_name: str) -> None:
        """Declare a logical queue's priority bands along with it."""
        if queue_name.endswith((".DQ", ".XQ")):
            super().declare_queue(queue_name)
            return
        for name in band_queues(queue_name):
            super().declare_queue(name)

    def key(self, *parts: str) -> str:
        """A key of gifting_jobs' own state, inside the broker's namespace."""
        return ":".join((self.namespace, "gj", *parts))

    def lock_key(self, job_id: str) -> str:
        return self.key("lock", job_id)

    def send_unique(
        self,
        message: Message,
        *,
        lock_ttl_ms: int,
        delay_ms: int | None = None,
        mode: SendMode = SendMode.SEND,
    ) -> str | None:
        """Take `message`'s job lock and enqueue it atomically.

        Returns None when the message was enqueued (or, with HOLD, the lock
        taken), else the message id that owns the lock: an equal job is pending.
        Raises `redis.RedisError` when Redis cannot be reached.
        """
        queue_name = message.queue_name
        message = message.copy(options={"redis_message_id": str(uuid4())})
        if delay_ms is not None:
            queue_name = dq_name(queue_name)
            message = message.copy(queue_name=queue_name, options={"eta": current_millis() + delay_ms})
        queue_key = f"{self.namespace}:{queue_name}"
        if mode is not SendMode.HOLD:
            self.emit_before("enqueue", message, delay_ms)
        owner = self._send_unique(
            keys=[self.lock_key(message.options["job_id"]), queue_key, queue_key + ".msgs"],
            args=[message.message_id, lock_ttl_ms, message.options["redis_message_id"], message.encode(), mode.value],
        )
        if owner is not None:
            return owner.decode() if isinstance(owner, bytes) else str(owner)
        if mode is not SendMode.HOLD:
            self.emit_after("enqueue", message, delay_ms)
        return None

    def record_delivery(self, message_id: str) -> int:
        """Count one more delivery of a message; returns the count, this one included."""
        key = self.key("deliveries", message_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.pexpire(key, DELIVERIES_TTL_MS)
        return int(pipe.execute()[0])

    def finish(self, job_id: str, message_id: str) -> bool:
        """The job is over: drop its delivery count and free its id if it still holds it."""
        return bool(self._finish(keys=[self.lock_key(job_id), self.key("deliveries", message_id)], args=[message_id]))

    def record_durations(self, durations: dict[str, list[float]], *, window: int) -> None:
        """Append recent job durations (ms) per job type, keeping the last `window`."""
        pipe = self.client.pipeline(transaction=False)
        for job_type, values in durations.items():
            key = self.key("durations", job_type)
            pipe.lpush(key, *values)
            pipe.ltrim(key, 0, window - 1)
        pipe.execute()

    def recent_durations(self, job_type: str) -> list[float]:
        return [float(v) for v in self.client.lrange(self.key("durations", job_type), 0, -1)]
