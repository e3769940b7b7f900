"""The worker registry: each live worker process in Redis, with the jobs it is running now.

Every worker announces itself in a record (`WorkerRecord`: host, pid, threads,
queues, start, last beat, running jobs) that a thread of its own rewrites every
`registry_interval` (1 s; a quarter of a shorter heartbeat timeout), with a TTL
of the broker's heartbeat timeout: a worker that dies drops off when its
heartbeat times out, the same moment its unacknowledged messages become
eligible for redelivery. A worker that stops cleanly removes its record.

Running jobs are tracked in memory in `before_process_message` and
`after_process_message` (a dict write per job, no round trip) and written by
that thread, which in the same round trip reads the paused queues into the
process's copy (see `pausing`). The broker adds this middleware to itself, so
`rundramatiq` and in-process workers get it alike.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import redis
from dramatiq.common import current_millis
from dramatiq.middleware import Middleware

from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import is_auxiliary_queue

if TYPE_CHECKING:
    from dramatiq.broker import Broker, MessageProxy
    from dramatiq.worker import Worker

    from gifting_jobs.broker.redis_broker import RedisBroker

logger = logging.getLogger(__name__)

#: Longest time between two rewrites of a worker's record (and refreshes of its paused queues), seconds.
REGISTRY_INTERVAL_MAX = 1.0
REGISTRY_INTERVAL_MIN = 0.1
#: How long a stopping worker waits for its registry thread to end (seconds).
JOIN_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job a worker thread is running now."""

    message_id: str
    job_id: str
    job_type: str
    queue: str
    started_at_ms: int

    def running_ms(self, now_ms: int) -> int:
        return max(0, now_ms - self.started_at_ms)


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """What one live worker process says about itself (JSON in `ns:gj:worker:<id>`)."""

    worker_id: str
    #: Dramatiq's id of the broker (the member of the heartbeats zset; ack sets carry it).
    broker_id: str
    host: str
    pid: int
    threads: int
    #: Logical queues it consumes.
    queues: tuple[str, ...]
    started_at_ms: int
    beat_at_ms: int
    running: tuple[RunningJob, ...] = field(default=())
    #: The paused queues this worker obeys now (its copy of `ns:gj:paused`).
    paused: tuple[str, ...] = field(default=())

    @property
    def busy(self) -> int:
        return len(self.running)

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, data: bytes | str) -> WorkerRecord:
        raw: dict[str, Any] = json.loads(data)
        return cls(
            **{
                **raw,
                "queues": tuple(raw["queues"]),
                "running": tuple(RunningJob(**job) for job in raw["running"]),
                "paused": tuple(raw["paused"]),
            }
        )


def running_job(message: MessageProxy, started_at_ms: int) -> RunningJob:
    return RunningJob(
        message_id=message.message_id,
        job_id=str(message.options.get("job_id") or message.message_id),
        job_type=message.actor_name,
        queue=message.queue_name,
        started_at_ms=started_at_ms,
    )


def consumed_queues(worker: Worker) -> tuple[str, ...]:
    """The logical queues a worker consumes (bands folded; delay, dead and quarantine queues left out)."""
    return tuple(sorted({logical_queue(name) for name in list(worker.consumers) if not is_auxiliary_queue(name)}))


class _Registration:
    """One worker's identity and the thread that keeps its record fresh."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.worker_id = uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at_ms = current_millis()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def record(self, broker: RedisBroker, running: dict[int, tuple[MessageProxy, int]]) -> WorkerRecord:
        threads = {thread.ident for thread in self.worker.workers}
        jobs = [running_job(message, started) for ident, (message, started) in running.items() if ident in threads]
        return WorkerRecord(
            worker_id=self.worker_id,
            broker_id=broker.broker_id,
            host=self.host,
            pid=self.pid,
            threads=self.worker.worker_threads,
            queues=consumed_queues(self.worker),
            started_at_ms=self.started_at_ms,
            beat_at_ms=current_millis(),
            running=tuple(sorted(jobs, key=lambda job: job.started_at_ms)),
            paused=tuple(sorted(broker.paused.names)),
        )


class WorkerRegistry(Middleware):
    """Keeps a record of each worker booted on the broker in Redis, and its paused-queue copy fresh."""

    def __init__(self) -> None:
        # Thread ident -> the message that worker thread runs and its start (ms); single dict operations.
        self._running: dict[int, tuple[MessageProxy, int]] = {}
        self._registrations: dict[int, _Registration] = {}

    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        redis_broker = _redis_broker(broker)
        try:
            # Before any consumer starts: a worker booting while a queue is paused never fetches from it.
            redis_broker.refresh_paused()
        except redis.RedisError as exc:
            logger.warning("could not read the paused queues at boot: %s", exc)
        self._registrations[id(worker)] = _Registration(worker)

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        registration = self._registrations.get(id(worker))
        if registration is None:
            return
        registration.thread = threading.Thread(
            target=self._run, args=(_redis_broker(broker), registration), name="gifting-registry", daemon=True
        )
        registration.thread.start()

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        # After the worker threads finished: a stopping worker's last jobs still show until then.
        registration = self._registrations.pop(id(worker), None)
        if registration is None:
            return
        registration.stop.set()
        if registration.thread is not None:
            registration.thread.join(timeout=JOIN_TIMEOUT_SECONDS)
        try:
            forget(_redis_broker(broker), registration.worker_id)
        except redis.RedisError as exc:
            logger.warning("could not remove the worker's registry record (it expires by itself): %s", exc)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        # Only what is cheap on the per-job path; the registry thread reads the message.
        self._running[threading.get_ident()] = (message, current_millis())

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._running.pop(threading.get_ident(), None)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._running.pop(threading.get_ident(), None)

    def _run(self, broker: RedisBroker, registration: _Registration) -> None:
        interval = broker.registry_interval
        while not registration.stop.is_set():
            since = broker.paused.generation
            try:
                paused = beat(broker, registration.record(broker, dict(self._running)))
            except redis.RedisError as exc:
                # Redis is down: the consumers report it too; the last known paused set stays in force.
                logger.debug("registry could not reach Redis: %s", exc)
            else:
                broker.paused.update(paused, since=since)
            registration.stop.wait(interval)


def _redis_broker(broker: Broker) -> RedisBroker:
    # Imported here: the broker module imports this one.
    from gifting_jobs.broker.current import as_redis_broker

    return as_redis_broker(broker)


def beat(broker: RedisBroker, record: WorkerRecord) -> set[str]:
    """Write a worker's record (expiring after the heartbeat timeout) and read the paused queues, in one round trip."""
    keys = broker.keys
    pipe = broker.client.pipeline(transaction=False)
    pipe.set(keys.worker(record.worker_id), record.encode(), px=broker.heartbeat_timeout)
    pipe.zadd(keys.workers, {record.worker_id: record.beat_at_ms})
    # The index forgets workers whose record expired long ago (theirs died without a clean stop).
    pipe.zremrangebyscore(keys.workers, "-inf", record.beat_at_ms - 2 * broker.heartbeat_timeout)
    pipe.smembers(keys.paused)
    *_, paused = pipe.execute()
    return {m.decode() if isinstance(m, bytes) else str(m) for m in paused}


def forget(broker: RedisBroker, worker_id: str) -> None:
    """Remove a stopping worker's record."""
    pipe = broker.client.pipeline(transaction=False)
    pipe.delete(broker.keys.worker(worker_id))
    pipe.zrem(broker.keys.workers, worker_id)
    pipe.execute()
