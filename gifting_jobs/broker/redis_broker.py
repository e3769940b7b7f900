"""The Dramatiq Redis broker, extended with atomic deduplicated sends.

Bare Dramatiq never deduplicates. Here one Lua script takes the job's
idempotency lock and pushes the message in a single round trip, so a job id is
sent at most once while it is pending, even under concurrent enqueues from many
processes, at the cost of one Redis call like a plain `send`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any
from uuid import uuid4

import redis
from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker
from dramatiq.common import current_millis, dq_name
from dramatiq.message import Message
from dramatiq.middleware import Middleware, MiddlewareError
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.retry import Retry

from gifting_jobs.broker import scripts
from gifting_jobs.broker.bands import band_queues
from gifting_jobs.broker.keys import KeyLayout, glob_escape, held_owner, is_auxiliary_queue
from gifting_jobs.broker.limits import ProviderLimits
from gifting_jobs.broker.wakeups import DEFAULT_WORKER_TIMEOUT_MS, NOTIFY_CAP, WakeUps

#: redis-py retries a failed command; one quick retry keeps enqueue bounded when Redis is down.
CLIENT_RETRIES = 1
CLIENT_RETRY_CAP_SECONDS = 0.2

#: How long delivery counters of an unacknowledged message are kept.
DELIVERIES_TTL_MS = 7 * 24 * 3600 * 1000
#: Keys asked of SCAN (and deleted) per round trip when a namespace is emptied.
NAMESPACE_SCAN_COUNT = 500
#: Where a Redis message id sits in Dramatiq's JSON encoding of a message.
_REDIS_ID_MARK = b'"redis_message_id":"'


def _redis_message_id(data: bytes) -> str:
    """A fetched message's Redis id, found without decoding the whole message.

    In Dramatiq's JSON encoding, `options` comes after the payload and string
    values are escaped, so the last unescaped mark is the message's own.
    Other encoders fall back to a full decode.
    """
    at = data.rfind(_REDIS_ID_MARK)
    if at >= 0:
        start = at + len(_REDIS_ID_MARK)
        return data[start : data.index(b'"', start)].decode()
    return str(Message.decode(data).options["redis_message_id"])


def _text(value: bytes | str) -> str:
    """A script's string reply, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


class SendMode(StrEnum):
    SEND = "send"
    HOLD = "hold"
    RELAY = "relay"


class RedisBroker(WakeUps, DramatiqRedisBroker):
    """Dramatiq's RedisBroker with bounded timeouts, priority bands, `send_unique` and wake-ups.

    `worker_timeout` (ms) is how long an idle consumer waits for a send to wake
    it before it looks at its queue anyway (see `consumer`).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 1.0,
        worker_timeout: int = DEFAULT_WORKER_TIMEOUT_MS,
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
        self.keys = KeyLayout(self.namespace)
        # Per Redis message id: times fetched (filled by consumer threads, read by workers).
        self._fetch_counts: dict[str, int] = {}
        self._finishing: dict[str, tuple[str, str]] = {}
        self._send_unique = self.client.register_script(scripts.SEND_UNIQUE)
        self._compare_and_delete = self.client.register_script(scripts.COMPARE_AND_DELETE)
        self._ack = self.client.register_script(scripts.ACK)
        self._count = self.client.register_script(scripts.COUNT)
        self._take_mark = self.client.register_script(scripts.TAKE_MARK)
        #: Provider rate limits, cooldowns and snoozes (see `gifting_jobs.ratelimits`).
        self.limits = ProviderLimits(self)
        self._init_wake_ups(worker_timeout)
        # Per signal, the middleware hooks that do something (see `_hooks`).
        self._hooked_stack: list[Middleware] = []
        self._hook_table: dict[str, list[tuple[Middleware, Callable[..., Any]]]] = {}

    # Dramatiq calls every middleware's hook for every signal (several per
    # enqueue and per job), though most hooks are the base class's no-ops. These
    # two call only the hooks a middleware overrides, in Dramatiq's order and
    # with its error handling.

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        signal = "before_" + signal
        for middleware, hook in self._hooks(signal):
            try:
                hook(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", signal, middleware, exc_info=True)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        signal = "after_" + signal
        for middleware, hook in reversed(self._hooks(signal)):
            try:
                hook(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", signal, middleware, exc_info=True)

    def _hooks(self, signal: str) -> list[tuple[Middleware, Callable[..., Any]]]:
        """The middleware whose `signal` hook is not the base no-op, in stack order."""
        if self._hooked_stack != self.middleware:  # The stack changed: rebuild lazily.
            self._hooked_stack = list(self.middleware)
            self._hook_table = {}
        hooks = self._hook_table.get(signal)
        if hooks is None:
            noop = getattr(Middleware, signal, None)
            hooks = self._hook_table[signal] = [
                (middleware, hook)
                for middleware in self._hooked_stack
                if getattr(hook := getattr(middleware, signal), "__func__", hook) is not noop
            ]
        return hooks

    def _run(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run a registered script by EVALSHA, loading it only if Redis lost it (a restart, SCRIPT FLUSH).

        What `script(keys, args)` does, without redis-py's per-call overhead
        (an import and type checks), which shows on the per-job hot paths.
        """
        try:
            return self.client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            script.sha = self.client.script_load(script.script)
            return self.client.evalsha(script.sha, len(keys), *keys, *args)

    def declare_queue(self, queue_name: str) -> None:
        """Declare a logical queue's priority bands along with it."""
        if is_auxiliary_queue(queue_name):
            super().declare_queue(queue_name)
            return
        for name in band_queues(queue_name):
            super().declare_queue(name)

    def key(self, *parts: str) -> str:
        """A key of gifting_jobs' own state, inside the broker's namespace."""
        return self.keys.own(*parts)

    def lock_key(self, job_id: str) -> str:
        return self.keys.lock(job_id)

    def send_unique(
        self,
        message: Message[Any],
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
        message, keys, args = self._unique_call(message, lock_ttl_ms, delay_ms, mode)
        if mode is not SendMode.HOLD:
            self.emit_before("enqueue", message, delay_ms)
        owner = self._run(self._send_unique, keys, args)
        if owner is not None:
            return _text(owner)
        if mode is not SendMode.HOLD:
            self.emit_after("enqueue", message, delay_ms)
        return None

    def send_unique_many(self, entries: list[tuple[Message[Any], int, int | None]]) -> list[str | None]:
        """`send_unique` for many `(message, lock_ttl_ms, delay_ms)`, pipelined in one round trip.

        Each message is deduplicated on its own; returns, per entry, None if it
        was enqueued, else the owner of its lock. Raises `redis.RedisError` when
        Redis cannot be reached (some messages may have been sent).
        """
        pipe = self.client.pipeline(transaction=False)
        # Registered once: the pipeline checks (SCRIPT EXISTS) that Redis has it before sending.
        pipe.scripts.add(self._send_unique)
        sha = self._send_unique.sha
        calls = []
        for message, lock_ttl_ms, delay_ms in entries:
            message, keys, args = self._unique_call(message, lock_ttl_ms, delay_ms, SendMode.SEND)
            self.emit_before("enqueue", message, delay_ms)
            pipe.evalsha(sha, len(keys), *keys, *args)
            calls.append((message, delay_ms))
        owners: list[str | None] = [None if owner is None else _text(owner) for owner in pipe.execute()]
        for (message, delay_ms), owner in zip(calls, owners, strict=True):
            if owner is None:
                self.emit_after("enqueue", message, delay_ms)
        return owners

    def _unique_call(
        self, message: Message[Any], lock_ttl_ms: int, delay_ms: int | None, mode: SendMode
    ) -> tuple[Message[Any], list[str], list[Any]]:
        """The message as enqueued (new Redis id, delay queue and eta) and the lock script's keys and args."""
        queue_name = message.queue_name
        message = message.copy(options={"redis_message_id": str(uuid4())})
        if delay_ms is not None:
            queue_name = dq_name(queue_name)
            message = message.copy(queue_name=queue_name, options={"eta": current_millis() + delay_ms})
        keys = [self.keys.lock(message.options["job_id"]), self.keys.queue(queue_name), self.keys.messages(queue_name)]
        args = [message.message_id, lock_ttl_ms, message.options["redis_message_id"], message.encode(), mode.value]
        keys.append(self.notify_key(queue_name))
        args.append(NOTIFY_CAP)
        return message, keys, args

    # Crash detection and job finishing ride on round trips the consumer makes
    # anyway. Each Redis message id (new for every enqueue and retry, kept when
    # Dramatiq redelivers a dead worker's messages) is counted once per fetched
    # batch. Only a message fetched before (a redelivery) pays one more round
    # trip: counting a *start*, so that messages merely prefetched by a dying
    # worker are never blamed for its death.

    def do_fetch(self, queue_name: str, prefetch: int) -> list[bytes]:
        """Dramatiq's fetch, then one call counting the fetched messages (delay queues excepted)."""
        messages: list[bytes] = self._dispatch("fetch")(queue_name, prefetch)
        if not messages or queue_name.endswith(".DQ"):
            return messages
        ids = [_redis_message_id(data) for data in messages if data is not None]
        counts = self._run(self._count, [self.keys.deliveries(rid) for rid in ids], [DELIVERIES_TTL_MS])
        self._fetch_counts.update(zip(ids, (int(c) for c in counts), strict=True))
        return messages

    def do_requeue(self, queue_name: str, *redis_message_ids: str) -> None:
        """Hand unprocessed prefetched messages back (worker shutdown), uncounting their fetch."""
        self._dispatch("requeue")(queue_name, *redis_message_ids)
        pipe = self.client.pipeline(transaction=False)
        for rid in redis_message_ids:
            self._fetch_counts.pop(rid, None)
            pipe.decr(self.keys.deliveries(rid))
        pipe.execute()

    def starts_after_crash(self, redis_message_id: str) -> int:
        """0 for a first delivery; else count this start of a redelivered message and return the count."""
        if self._fetch_counts.pop(redis_message_id, 1) <= 1:
            return 0
        key = self.keys.starts(redis_message_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.pexpire(key, DELIVERIES_TTL_MS)
        return int(pipe.execute()[0])

    def finish_on_ack(self, job_id: str, message_id: str, redis_message_id: str) -> None:
        """The job is over: free its id in the round trip that acknowledges its message."""
        self._finishing[redis_message_id] = (job_id, message_id)

    def do_ack(self, queue_name: str, redis_message_id: str) -> None:
        self._fetch_counts.pop(redis_message_id, None)
        job_id, owner = self._finishing.pop(redis_message_id, ("", ""))
        self._run(
            self._ack,
            [
                self.keys.heartbeats,
                self.keys.acks(self.broker_id, queue_name),
                self.keys.messages(queue_name),
                self.keys.deliveries(redis_message_id),
                self.keys.starts(redis_message_id),
                self.keys.lock(job_id) if job_id else "",
            ],
            [current_millis(), self.broker_id, redis_message_id, owner],
        )

    def do_nack(self, queue_name: str, redis_message_id: str) -> None:
        # Dead-lettering is rare: Dramatiq's nack, then our cleanup.
        self._fetch_counts.pop(redis_message_id, None)
        self._dispatch("nack")(queue_name, redis_message_id)
        self.client.delete(self.keys.deliveries(redis_message_id), self.keys.starts(redis_message_id))
        finishing = self._finishing.pop(redis_message_id, None)
        if finishing is not None:
            self.finish(*finishing)

    def release_hold(self, job_id: str, message_id: str) -> bool:
        """Give back a job id taken with `SendMode.HOLD` for a message that will not be held."""
        return bool(self._run(self._compare_and_delete, [self.keys.lock(job_id)], [held_owner(message_id)]))

    def finish(self, job_id: str, message_id: str) -> bool:
        """Free a job id now, if this message still holds it."""
        return bool(self._run(self._compare_and_delete, [self.keys.lock(job_id)], [message_id]))

    def record_durations(self, durations: dict[str, list[float]], *, window: int) -> None:
        """Append recent job durations (ms) per job type, keeping the last `window`."""
        pipe = self.client.pipeline(transaction=False)
        for job_type, values in durations.items():
            key = self.keys.durations(job_type)
            pipe.lpush(key, *values)
            pipe.ltrim(key, 0, window - 1)
        pipe.execute()

    def recent_durations(self, job_type: str) -> list[float]:
        return [float(v) for v in self.client.lrange(self.keys.durations(job_type), 0, -1)]

    def job_pending(self, job_id: str) -> bool:
        """Whether a job with this id is queued, delayed or running: its lock is held until it is over."""
        return bool(self.client.exists(self.keys.lock(job_id)))

    def take_mark(self, parts: tuple[str, ...], owner: str, *, ttl_ms: int) -> str | None:
        """Take the mark named by `parts` for `owner`, atomically; None if taken now, else who holds it.

        A mark is a lock with a TTL: what makes a periodic duty run once per period
        across schedulers. Raises `redis.RedisError` when Redis cannot be reached.
        """
        current = self._run(self._take_mark, [self.keys.own(*parts)], [owner, ttl_ms])
        return None if current is None else _text(current)

    def release_mark(self, parts: tuple[str, ...], owner: str) -> bool:
        """Give the mark back if `owner` still holds it (compare-and-delete, atomic)."""
        return bool(self._run(self._compare_and_delete, [self.keys.own(*parts)], [owner]))

    def delete_namespace(self) -> int:
        """Delete every key of this broker's namespace (a test's own, when it ends); returns how many."""
        deleted = 0
        batch: list[bytes | str] = []
        for key in self.client.scan_iter(match=glob_escape(self.namespace) + ":*", count=NAMESPACE_SCAN_COUNT):
            batch.append(key)
            if len(batch) >= NAMESPACE_SCAN_COUNT:
                deleted += int(self.client.delete(*batch))
                batch = []
        if batch:
            deleted += int(self.client.delete(*batch))
        return deleted

    def close(self) -> None:
        """Close the broker's Redis connections (a broker made for one test)."""
        super().close()
        self.client.connection_pool.disconnect()

    def address(self) -> str:
        """Where the broker's Redis is (host:port/db or socket path), without credentials, fit to print."""
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix:{kwargs['path']} db {kwargs.get('db', 0)}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
