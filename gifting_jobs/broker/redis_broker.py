"""The Dramatiq Redis broker, extended with atomic deduplicated sends.

Bare Dramatiq never deduplicates. Here one Lua script takes the job's
idempotency lock and pushes the message in a single round trip, so a job id is
sent at most once while it is pending, even under concurrent enqueues from many
processes, at the cost of one Redis call like a plain `send`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NamedTuple, cast

import redis
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker, _RedisConsumer
from dramatiq.common import current_millis, dq_name
from dramatiq.message import Message, get_encoder
from dramatiq.middleware import Middleware, MiddlewareError
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.retry import Retry

from gifting_jobs.broker import scripts, stats
from gifting_jobs.broker.bands import band_queues, logical_queue
from gifting_jobs.broker.breaker import DEFAULT_OPEN_SECONDS, CircuitBreaker
from gifting_jobs.broker.consumer import ReleasingConsumer, redis_message_id
from gifting_jobs.broker.direct import DirectScripts
from gifting_jobs.broker.group_commit import GroupCommit
from gifting_jobs.broker.keys import (
    DEAD_SUFFIX,
    DELAY_SUFFIX,
    MESSAGES_SUFFIX,
    KeyLayout,
    glob_escape,
    held_owner,
    is_auxiliary_queue,
    is_quarantine_queue,
    quarantine_queue,
)
from gifting_jobs.broker.limits import ProviderLimits
from gifting_jobs.broker.maintenance import Maintenance
from gifting_jobs.broker.pausing import QueuePausing
from gifting_jobs.broker.registry import REGISTRY_INTERVAL_MAX, REGISTRY_INTERVAL_MIN, WorkerRegistry
from gifting_jobs.broker.wakeups import DEFAULT_WORKER_TIMEOUT_MS, WakeUps

#: redis-py retries a failed command; one quick retry keeps enqueue bounded when Redis is down.
CLIENT_RETRIES = 1
CLIENT_RETRY_CAP_SECONDS = 0.2

#: Bounds a worker's Redis command (seconds).
DEFAULT_SOCKET_TIMEOUT_SECONDS = 5.0
#: Bounds a Redis connect: a refused or unreachable Redis is noticed at once (seconds).
DEFAULT_CONNECT_TIMEOUT_SECONDS = 1.0
#: An enqueue's whole budget against a Redis that does not answer (both tries together), seconds;
#: then the job is held in Postgres.
DEFAULT_ENQUEUE_TIMEOUT_SECONDS = 2.0
#: Dead workers' messages are requeued at least this often (seconds), and more often
#: with a short heartbeat timeout (a quarter of it), so redelivery takes at most
#: heartbeat timeout + this interval.
MAINTENANCE_INTERVAL_MAX = 2.0
MAINTENANCE_INTERVAL_MIN = 0.1
#: Option set on a message redelivered into the quarantine lane: the queue it came from.
QUARANTINED_FROM = "quarantined_from"
#: Option set on the redelivered message that was moved into quarantine (it must not free its job id).
MOVED_TO_QUARANTINE = "moved_to_quarantine"

#: How long delivery counters of an unacknowledged message are kept.
DELIVERIES_TTL_MS = 7 * 24 * 3600 * 1000
#: Keys asked of SCAN (and deleted) per round trip when a namespace is emptied.
NAMESPACE_SCAN_COUNT = 500
#: Dramatiq's message fields, in its order: what `Message.asdict` reads, without looking them up per send.
MESSAGE_FIELDS = tuple(field.name for field in dataclasses.fields(Message))


def new_redis_message_id() -> str:
    """A fresh Redis message id: 128 random bits in hex (a tenth of the cost of `str(uuid4())` per send)."""
    return os.urandom(16).hex()


def _text(value: bytes | str) -> str:
    """A script's string reply, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def _retried_by_dramatiq() -> Iterator[None]:
    """Turn a Redis timeout into the connection error on which Dramatiq retries an ack or nack."""
    try:
        yield
    except redis.TimeoutError as exc:
        raise redis.ConnectionError(str(exc)) from exc


class SendMode(StrEnum):
    SEND = "send"
    HOLD = "hold"
    RELAY = "relay"


class UniqueCall(NamedTuple):
    """One send's lock script call: the enqueued message's fields (Dramatiq's), the script's keys and args."""

    fields: dict[str, Any]
    keys: list[str]
    args: list[Any]

    def message(self) -> Message[Any]:
        """The message as enqueued (with its Redis id), for the middleware hooks of an enqueue."""
        return Message(**self.fields)


class RedisBroker(QueuePausing, WakeUps, DramatiqRedisBroker):
    """Dramatiq's RedisBroker with bounded timeouts, priority bands, `send_unique`, wake-ups and paused queues.

    `worker_timeout` (ms) is how long an idle consumer waits for a send to wake
    it before it looks at its queue anyway (see `consumer`). `counters=False`
    turns the job counters off (see `stats`); it exists for the benchmark that
    measures what they cost.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        worker_timeout: int = DEFAULT_WORKER_TIMEOUT_MS,
        enqueue_timeout: float = DEFAULT_ENQUEUE_TIMEOUT_SECONDS,
        breaker_open_seconds: float = DEFAULT_OPEN_SECONDS,
        counters: bool = True,
        **options: Any,
    ) -> None:
        enqueue_pool = None
        if url:
            # Dramatiq builds its pool from the URL alone; timeouts and a short
            # retry keep an enqueue against a dead Redis from hanging.
            options["connection_pool"] = redis.ConnectionPool.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_connect_timeout,
                retry=Retry(ExponentialBackoff(cap=CLIENT_RETRY_CAP_SECONDS), CLIENT_RETRIES),
            )
            # Enqueues (web requests, commits) get a pool of their own whose two
            # tries fit `enqueue_timeout` together; workers keep the longer timeout.
            per_try = enqueue_timeout / (1 + CLIENT_RETRIES)
            enqueue_pool = redis.ConnectionPool.from_url(
                url,
                socket_timeout=per_try,
                socket_connect_timeout=min(socket_connect_timeout, per_try),
                retry=Retry(ExponentialBackoff(cap=CLIENT_RETRY_CAP_SECONDS), CLIENT_RETRIES),
            )
        super().__init__(**options)
        self.enqueue_client = redis.Redis(connection_pool=enqueue_pool) if enqueue_pool else self.client
        # Scripts run on a connection per thread (see `direct`), with each client's settings.
        self._scripts = DirectScripts(self.client.connection_pool)
        self._enqueue_scripts = DirectScripts(enqueue_pool) if enqueue_pool else self._scripts
        self.breaker = CircuitBreaker(open_seconds=breaker_open_seconds)
        self.keys = KeyLayout(self.namespace)
        # Per physical queue sent to: its keys (see `_send_keys`); as many as `self.queues`.
        self._queue_keys: dict[str, tuple[str, str, str]] = {}
        # Per Redis message id: times fetched (filled by consumer threads, read by workers).
        self._fetch_counts: dict[str, int] = {}
        self._finishing: dict[str, tuple[str, str]] = {}
        #: Whether acks count outcomes (see `record_outcome`).
        self.counters = counters
        # Per Redis message id: how its processing ended, counted by the ack or nack that follows.
        self._outcomes: dict[str, stats.Outcome] = {}
        # The counters' keys of the current minute, and labels per (physical queue, actor), reused.
        self._count_cache: tuple[int, list[str], tuple[int, int]] = (-1, [], (0, 0))
        self._labels: dict[tuple[str, str], str] = {}
        # Redis ids of the messages this process fetched and still holds (unacked), and per
        # queue the ack-set members it did not hold at the last maintenance (see `requeue_orphans`).
        self._held: dict[str, str] = {}
        self._held_lock = threading.Lock()
        self._orphan_candidates: dict[str, set[str]] = {}
        self._send_unique = self.client.register_script(scripts.SEND_UNIQUE)
        self._compare_and_delete = self.client.register_script(scripts.COMPARE_AND_DELETE)
        self._ack_batch = self.client.register_script(scripts.ACK_BATCH)
        self._deliveries_prefix = self.keys.deliveries("")
        # ACK_BATCH's key prefixes: the queue, this worker's acks, lock, deliveries, starts, messages suffix.
        self._ack_prefixes = (
            self.keys.queue(""),
            self.keys.acks(self.broker_id, ""),
            self.keys.lock(""),
            self._deliveries_prefix,
            self.keys.starts(""),
            MESSAGES_SUFFIX,
        )
        self._acks: GroupCommit[tuple[Any, ...]] = GroupCommit(self._send_acks)
        self._nack_cleanup = self.client.register_script(scripts.NACK_CLEANUP)
        self._count = self.client.register_script(scripts.COUNT)
        self._fetch = self.client.register_script(scripts.FETCH)
        self._take_mark = self.client.register_script(scripts.TAKE_MARK)
        #: Provider rate limits, cooldowns and snoozes (see `gifting_jobs.ratelimits`).
        self.limits = ProviderLimits(self)
        self._init_wake_ups(worker_timeout)
        self._requeue_dead = self.client.register_script(scripts.REQUEUE_DEAD_WORKERS)
        self._move = self.client.register_script(scripts.MOVE)
        self._hash_compare_and_delete = self.client.register_script(scripts.HASH_COMPARE_AND_DELETE)
        # Per signal, the middleware hooks that do something (see `_hooks`).
        self._hooked_stack: list[Middleware] = []
        self._hook_table: dict[str, list[tuple[Middleware, Callable[..., Any]]]] = {}
        # Owned by the broker, not the settings: crash redelivery must not depend on configuration.
        self.add_middleware(Maintenance())
        self._init_pausing()
        # Owned by the broker too: the Workers page and paused queues must not depend on configuration.
        self.add_middleware(WorkerRegistry())

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

    def _run(self, script: Script, keys: list[str], args: list[Any], *, scripts: DirectScripts | None = None) -> Any:
        """Run a registered script by EVALSHA, loading it only if Redis lost it (a restart, SCRIPT FLUSH).

        What `script(keys, args)` does, on the calling thread's own connection
        (`DirectScripts`): the per-job and per-send hot paths skip the pool's
        per-command work.
        """
        scripts = scripts or self._scripts
        try:
            return scripts.evalsha(script.sha, keys, args)
        except NoScriptError:
            script.sha = self.client.script_load(script.script)
            return scripts.evalsha(script.sha, keys, args)

    def _run_enqueue(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """`_run` on the enqueue client, behind the circuit breaker (see `breaker`)."""
        self.breaker.check()
        try:
            result = self._run(script, keys, args, scripts=self._enqueue_scripts)
        except (redis.ConnectionError, redis.TimeoutError):
            self.breaker.trip()
            raise
        self.breaker.reset()
        return result

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return ReleasingConsumer

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        """Dramatiq's consumer; a quarantine lane's fetches one message at a time."""
        if is_quarantine_queue(queue_name):
            prefetch = 1
        return super().consume(queue_name, prefetch, timeout)

    @property
    def maintenance_interval(self) -> float:
        """Seconds between two runs of `requeue_dead_workers` in each worker process."""
        return self._quarter_heartbeat(MAINTENANCE_INTERVAL_MIN, MAINTENANCE_INTERVAL_MAX)

    @property
    def registry_interval(self) -> float:
        """Seconds between two rewrites of a worker's registry record (and refreshes of its paused queues)."""
        return self._quarter_heartbeat(REGISTRY_INTERVAL_MIN, REGISTRY_INTERVAL_MAX)

    def _quarter_heartbeat(self, lowest: float, highest: float) -> float:
        """A quarter of the heartbeat timeout in seconds, within bounds: four beats fit in one timeout."""
        quarter: float = self.heartbeat_timeout / 1000 / 4
        return max(lowest, min(highest, quarter))

    def requeue_dead_workers(self) -> int:
        """Beat this worker's heartbeat, and hand every dead worker's unacked messages back; returns how many.

        Dramatiq's maintenance for all declared queues (delay queues included) in one call.
        """
        queues = sorted(self.queues | self.delay_queues)
        return int(
            self._run(
                self._requeue_dead,
                [self.keys.heartbeats],
                [
                    current_millis(),
                    self.heartbeat_timeout,
                    self.broker_id,
                    self.keys.acks_prefix,
                    self.keys.queue(""),
                    MESSAGES_SUFFIX,
                    *queues,
                ],
            )
        )

    def quarantine(self, message: Message[Any] | MessageProxy) -> None:
        """Move a fetched, redelivered message into its logical queue's quarantine lane (instead of running it).

        It goes under a new Redis id with `quarantined_from` naming its queue;
        the caller then skips the message (the ack that follows finds nothing to do).
        """
        old_id = message.options["redis_message_id"]
        lane = quarantine_queue(logical_queue(message.queue_name))
        moved = message.copy(
            queue_name=lane,
            options={"redis_message_id": new_redis_message_id(), QUARANTINED_FROM: message.queue_name},
        )
        moved.options.pop(MOVED_TO_QUARANTINE, None)
        self._run(
            self._move,
            [
                self.keys.acks(self.broker_id, message.queue_name),
                self.keys.messages(message.queue_name),
                self.keys.queue(lane),
                self.keys.messages(lane),
            ],
            [old_id, moved.options["redis_message_id"], moved.encode()],
        )
        self._fetch_counts.pop(old_id, None)
        self._release_held(old_id)
        self.wake(lane)

    def declare_queue(self, queue_name: str) -> None:
        """Declare a logical queue's priority bands and quarantine lane along with it."""
        if is_auxiliary_queue(queue_name):
            super().declare_queue(queue_name)
            return
        for name in band_queues(queue_name):
            super().declare_queue(name)
        super().declare_queue(quarantine_queue(queue_name))

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
        call = self._unique_call(message, lock_ttl_ms, delay_ms, mode)
        enqueued = call.message() if mode is not SendMode.HOLD and self._hooks_enqueue() else None
        if enqueued is not None:
            self.emit_before("enqueue", enqueued, delay_ms)
        owner = self._run_enqueue(self._send_unique, call.keys, call.args)
        if owner is not None:
            return _text(owner)
        if enqueued is not None:
            self.emit_after("enqueue", enqueued, delay_ms)
        return None

    def send_unique_many(self, entries: list[tuple[Message[Any], int, int | None]]) -> list[str | None]:
        """`send_unique` for many `(message, lock_ttl_ms, delay_ms)`, pipelined in one round trip.

        Each message is deduplicated on its own; returns, per entry, None if it
        was enqueued, else the owner of its lock. Raises `redis.RedisError` when
        Redis cannot be reached (some messages may have been sent).
        """
        self.breaker.check()
        pipe = self.enqueue_client.pipeline(transaction=False)
        # Registered once: the pipeline checks (SCRIPT EXISTS) that Redis has it before sending.
        pipe.scripts.add(self._send_unique)
        sha = self._send_unique.sha
        hooked = self._hooks_enqueue()
        sent: list[tuple[Message[Any] | None, int | None]] = []
        for message, lock_ttl_ms, delay_ms in entries:
            call = self._unique_call(message, lock_ttl_ms, delay_ms, SendMode.SEND)
            enqueued = call.message() if hooked else None
            if enqueued is not None:
                self.emit_before("enqueue", enqueued, delay_ms)
            pipe.evalsha(sha, len(call.keys), *call.keys, *call.args)
            sent.append((enqueued, delay_ms))
        try:
            replies = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError):
            self.breaker.trip()
            raise
        self.breaker.reset()
        owners: list[str | None] = [None if owner is None else _text(owner) for owner in replies]
        for (enqueued, delay_ms), owner in zip(sent, owners, strict=True):
            if owner is None and enqueued is not None:
                self.emit_after("enqueue", enqueued, delay_ms)
        return owners

    def _hooks_enqueue(self) -> bool:
        """Whether a middleware hooks enqueues (none in the default stack): only then is the sent message built."""
        return bool(self._hooks("before_enqueue") or self._hooks("after_enqueue"))

    def _unique_call(self, message: Message[Any], lock_ttl_ms: int, delay_ms: int | None, mode: SendMode) -> UniqueCall:
        """The message as enqueued (new Redis id, delay queue and eta) and the lock script's keys and args.

        The enqueued message is encoded from its fields, as `Message.encode` does,
        without the copy Dramatiq's send makes: only enqueue hooks need that
        copy, and building it cost every send a few microseconds.
        """
        fields = {name: getattr(message, name) for name in MESSAGE_FIELDS}
        options = fields["options"] = {**message.options, "redis_message_id": new_redis_message_id()}
        queue_name = message.queue_name
        if delay_ms is not None:
            queue_name = fields["queue_name"] = dq_name(queue_name)
            options["eta"] = current_millis() + delay_ms
        queue_key, messages_key, notify_key = self._send_keys(queue_name)
        return UniqueCall(
            fields,
            [self.keys.lock(options["job_id"]), queue_key, messages_key, notify_key],
            [message.message_id, lock_ttl_ms, options["redis_message_id"], get_encoder().encode(fields), mode.value],
        )

    def _send_keys(self, physical: str) -> tuple[str, str, str]:
        """A physical queue's list, messages hash and notify list (cached: a send needs them every time)."""
        keys = self._queue_keys.get(physical)
        if keys is None:
            keys = self._queue_keys[physical] = (
                self.keys.queue(physical),
                self.keys.messages(physical),
                self.notify_key(physical),
            )
        return keys

    # Crash detection and job finishing ride on round trips the consumer makes
    # anyway. Each Redis message id (new for every enqueue and retry, kept when
    # Dramatiq redelivers a dead worker's messages) is counted once per fetched
    # batch. Only a message fetched before (a redelivery) pays one more round
    # trip: counting a *start*, so that messages merely prefetched by a dying
    # worker are never blamed for its death.

    def do_fetch(self, queue_name: str, prefetch: int) -> list[bytes]:
        """Dramatiq's fetch and one more delivery counted per fetched message (delay queues excepted), in one call.

        A fetch that Dramatiq would run its maintenance with (`maintenance_chance`
        per million) goes through Dramatiq's script instead, then counts apart.
        """
        if self._should_do_maintenance("fetch"):
            return self._fetch_with_maintenance(queue_name, prefetch)
        counted = not queue_name.endswith(DELAY_SUFFIX)
        raw_ids, messages, counts = self._run(
            self._fetch,
            [
                self.keys.heartbeats,
                self.keys.queue(queue_name),
                self.keys.acks(self.broker_id, queue_name),
                self.keys.messages(queue_name),
            ],
            [
                current_millis(),
                self.broker_id,
                min(prefetch, self._max_unpack_size()),
                self._deliveries_prefix,
                DELIVERIES_TTL_MS,
                int(counted),
            ],
        )
        if not raw_ids:
            return []
        # Messages gone from the hash come back as None; Dramatiq's consumer skips them.
        present = [i for i, data in enumerate(messages) if data is not None]
        self._hold(
            queue_name,
            [_text(raw_ids[i]) for i in present],
            [int(counts[i]) for i in present] if counted else None,
        )
        return cast(list[bytes], messages)

    def _fetch_with_maintenance(self, queue_name: str, prefetch: int) -> list[bytes]:
        """Dramatiq's fetch with its maintenance, then one call counting the fetched messages."""
        messages: list[bytes] = self._dispatch("fetch")(queue_name, prefetch)
        if not messages:
            return messages
        ids = [redis_message_id(data) for data in messages if data is not None]
        counts: list[int] | None = None
        if not queue_name.endswith(DELAY_SUFFIX):
            try:
                counts = [
                    int(c)
                    for c in self._run(self._count, [self.keys.deliveries(rid) for rid in ids], [DELIVERIES_TTL_MS])
                ]
            except redis.RedisError:
                # The messages are in this worker's ack set now: they must reach the consumer,
                # or nothing would run or ack them. Uncounted, they pass for first deliveries.
                counts = None
        self._hold(queue_name, ids, counts)
        return messages

    def _hold(self, queue_name: str, ids: list[str], counts: list[int] | None) -> None:
        """Remember fetched messages as held by this process, and how often each was fetched (None: uncounted)."""
        with self._held_lock:
            self._held.update(dict.fromkeys(ids, queue_name))
        if counts is not None:
            self._fetch_counts.update(zip(ids, counts, strict=True))

    def do_requeue(self, queue_name: str, *redis_message_ids: str) -> None:
        """Hand unprocessed prefetched messages back (worker shutdown), uncounting their fetch."""
        self._dispatch("requeue")(queue_name, *redis_message_ids)
        self._release_held(*redis_message_ids)
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

    def record_outcome(self, redis_message_id: str, outcome: stats.Outcome) -> None:
        """How a message's processing ended: counted by the ack (or nack) that follows, in its round trip."""
        if self.counters:
            self._outcomes[redis_message_id] = outcome

    def _count_keys(self, now_ms: int) -> tuple[list[str], tuple[int, int]]:
        """The counters' keys (minute bucket, hour bucket, totals) at `now_ms`, and the buckets' expiries."""
        # They change once a minute; every ack and nack in it reuses them
        # (one tuple, read and replaced whole: consumer threads ack concurrently).
        cached_minute, keys, expiries = self._count_cache
        if now_ms // stats.MINUTE_MS != cached_minute:
            minute, hour, minute_until, hour_until = stats.bucket_expiries(now_ms)
            keys = [self.keys.stats_minute(minute), self.keys.stats_hour(hour), self.keys.stats_totals]
            expiries = (minute_until, hour_until)
            self._count_cache = (minute, keys, expiries)
        return keys, expiries

    def _count_fields(self, queue_name: str, outcome: stats.Outcome | None, *, dead: bool = False) -> tuple[Any, ...]:
        """COUNT_OUTCOME's per-message arguments (counters, label, bound, duration_us); "" counters: none."""
        if outcome is None:
            return ("", "", "", 0)
        label = self._labels.get((queue_name, outcome.actor_name))
        if label is None:
            label = self._labels[queue_name, outcome.actor_name] = stats.label(queue_name, outcome.actor_name)
        counters = (*outcome.counters, stats.Counter.DEAD) if dead else outcome.counters
        return (stats.counters_argument(counters), label, outcome.bound, stats.duration_us(outcome.duration_ms))

    def do_ack(self, queue_name: str, redis_message_id: str) -> None:
        """Acknowledge, free the job id if the job is over, and count its outcome, in one script.

        Acks of a process's threads that come in while one is in flight go
        together in the next call (`group_commit`); each returns once its own
        is written. The finishing state is dropped only once the script ran:
        when Redis fails midway, Dramatiq retries the ack (the script is
        idempotent), and the retry must still free the id or it leaks until
        the lock's TTL. A timeout is raised as a connection error, which
        Dramatiq retries.
        """
        job_id, owner = self._finishing.get(redis_message_id, ("", ""))
        entry = (
            queue_name,
            redis_message_id,
            job_id,
            owner,
            *self._count_fields(queue_name, self._outcomes.get(redis_message_id)),
        )
        with _retried_by_dramatiq():
            self._acks.submit(entry)
        self._forget(redis_message_id)

    def _send_acks(self, entries: list[tuple[Any, ...]]) -> None:
        """One ACK_BATCH call acknowledging `entries` (see `do_ack`)."""
        now = current_millis()
        count_keys, expiries = self._count_keys(now)
        args: list[Any] = [now, self.broker_id, *expiries, *self._ack_prefixes]
        for entry in entries:
            args.extend(entry)
        self._run(self._ack_batch, [self.keys.heartbeats, *count_keys], args)

    def do_nack(self, queue_name: str, redis_message_id: str) -> None:
        # Dead-lettering is rare: Dramatiq's nack, then one script for our cleanup
        # and the dead-letter count. Each step is idempotent, and the finishing
        # state is kept until both succeeded (see do_ack).
        job_id, owner = self._finishing.get(redis_message_id, ("", ""))
        count_keys, expiries = self._count_keys(current_millis())
        counters, label, bound, duration_us = self._count_fields(
            queue_name, self._outcomes.get(redis_message_id), dead=True
        )
        with _retried_by_dramatiq():
            self._dispatch("nack")(queue_name, redis_message_id)
            self._run(
                self._nack_cleanup,
                [
                    self.keys.deliveries(redis_message_id),
                    self.keys.starts(redis_message_id),
                    self.keys.lock(job_id) if job_id else "",
                    *count_keys,
                ],
                [owner, counters, label, *expiries, bound, duration_us],
            )
        self._forget(redis_message_id)

    def _forget(self, redis_message_id: str) -> None:
        """Drop what this process kept about a message once it was acked or nacked."""
        self._finishing.pop(redis_message_id, None)
        self._outcomes.pop(redis_message_id, None)
        self._fetch_counts.pop(redis_message_id, None)
        self._release_held(redis_message_id)

    def _release_held(self, *redis_message_ids: str) -> None:
        with self._held_lock:
            for rid in redis_message_ids:
                self._held.pop(rid, None)

    def _release_queue(self, queue_name: str) -> None:
        with self._held_lock:
            self._held = {rid: queue for rid, queue in self._held.items() if queue != queue_name}

    def requeue_orphans(self) -> int:
        """Hand back messages in this worker's own ack sets that it does not hold; returns how many.

        A fetch whose reply was lost (Redis restarted between running the
        script and answering) leaves messages in this live worker's ack set
        that no thread will ever run or ack, and a live worker's messages are
        never requeued by the dead-worker maintenance. A member is requeued
        when two maintenance runs in a row found it unheld (a fetch in
        progress is held within milliseconds).
        """
        queues = sorted(self.queues | self.delay_queues)
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.smembers(self.keys.acks(self.broker_id, queue))
        members = pipe.execute()
        with self._held_lock:
            held = set(self._held)
        requeued = 0
        for queue, found in zip(queues, members, strict=True):
            unheld = {_text(m) for m in found} - held
            orphans = unheld & self._orphan_candidates.get(queue, set())
            if orphans:
                self._dispatch("requeue")(queue, *sorted(orphans))
                requeued += len(orphans)
            self._orphan_candidates[queue] = unheld - orphans
        return requeued

    def keep_dead_letter(self, job_id: str, record: dict[str, Any]) -> None:
        """Keep a dead letter in Redis while Postgres cannot take it (see `pending_dead_letters`)."""
        self.client.hset(self.keys.pending_dead_letters, job_id, json.dumps(record, sort_keys=True, default=str))

    def pending_dead_letters(self, *, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` kept dead letters, as `(job_id, encoded record)`; decode with `json.loads`."""
        found: list[tuple[str, str]] = []
        for job_id, data in self.client.hscan_iter(self.keys.pending_dead_letters, count=limit):
            found.append((_text(job_id), _text(data)))
            if len(found) >= limit:
                break
        return found

    def drop_dead_letter(self, job_id: str, data: str) -> bool:
        """Forget a kept dead letter written to Postgres, unless a newer one of the job replaced it."""
        return bool(self._run(self._hash_compare_and_delete, [self.keys.pending_dead_letters], [job_id, data]))

    def kept_dead_letter_ids(self, job_ids: list[str]) -> set[str]:
        """Those of `job_ids` whose dead letter is kept in Redis, waiting for Postgres."""
        if not job_ids:
            return set()
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hexists(self.keys.pending_dead_letters, job_id)
        return {job_id for job_id, kept in zip(job_ids, pipe.execute(), strict=True) if kept}

    def dead_set_entries(self, *, limit: int) -> dict[str, list[tuple[str, bytes | None]]]:
        """Up to `limit` entries of each declared queue's Dramatiq dead set (`<queue>.XQ`), oldest first.

        Per physical queue that has any (bands and quarantine lanes):
        `(redis message id, encoded message or None if its body is gone)`.
        Two pipelined round trips whatever the number of queues.
        """
        queues = sorted(self.queues)
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.zrange(self.keys.dead_queue(queue), 0, limit - 1)
        members = cast("list[list[bytes | str]]", pipe.execute() if queues else [])
        found = {queue: [_text(rid) for rid in ids] for queue, ids in zip(queues, members, strict=True) if ids}
        if not found:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for queue, ids in found.items():
            pipe.hmget(self.keys.messages(queue + DEAD_SUFFIX), ids)
        return {
            queue: [
                (rid, body.encode() if isinstance(body, str) else body) for rid, body in zip(ids, bodies, strict=True)
            ]
            for (queue, ids), bodies in zip(found.items(), pipe.execute(), strict=True)
        }

    def drop_dead_set_entries(self, physical: str, redis_message_ids: list[str]) -> int:
        """Remove entries from a queue's Dramatiq dead set (they are FailedJob rows now); returns how many."""
        if not redis_message_ids:
            return 0
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self.keys.dead_queue(physical), *redis_message_ids)
        pipe.hdel(self.keys.messages(physical + DEAD_SUFFIX), *redis_message_ids)
        return int(pipe.execute()[0])

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
        self._scripts.close()
        self._enqueue_scripts.close()

    def address(self) -> str:
        """Where the broker's Redis is (host:port/db or socket path), without credentials, fit to print."""
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix:{kwargs['path']} db {kwargs.get('db', 0)}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
