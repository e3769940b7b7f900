"""Pickup latency: idle consumers sleep until a send wakes them, and urgent work jumps the local queue.

Bare Dramatiq polls an empty queue with a back-off up to `worker_timeout`, and
keeps one local work queue for every queue a worker consumes, first come first
served within an actor priority. Here:

- every send pushes a token onto the queue's notify list in the round trip
  that sends (`scripts.NOTIFY`); an idle consumer blocks on that list (BLPOP)
  for at most the broker's `worker_timeout`, then looks at its queue anyway,
  a safety net for messages pushed without a token (requeued from a dead worker);
- a consumer whose prefetch is full waits for an ack instead of sleeping;
- the worker's local queue is ordered by band first, so the next free thread
  takes an urgent message ahead of any prefetched normal or bulk ones;
- a consumer of a paused queue (see `pausing`) does not fetch: it waits on its
  process's copy of the paused queues, which wakes it when the queue is resumed.

Prefetch stays per physical queue (Dramatiq's two messages per worker thread),
so each band has its own bound: a bulk backlog cannot use up the urgent band's.
Delay queues keep Dramatiq's polling consumer: their messages wait in memory for
their eta anyway.
"""

from __future__ import annotations

import heapq
import threading
import time
from functools import partial
from queue import PriorityQueue
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import redis
from dramatiq.broker import Broker, MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.middleware import Middleware
from dramatiq.worker import ConsumerThread, Worker, WorkerThread

from gifting_jobs.broker.bands import BAND_SUFFIX, Band
from gifting_jobs.broker.keys import DELAY_SUFFIX
from gifting_jobs.broker.pausing import pause_name

if TYPE_CHECKING:
    from gifting_jobs.broker.redis_broker import RedisBroker
    from gifting_jobs.broker.wakeups import WakeUps

#: How often a consumer of a stopping worker polls while the worker threads finish.
STOPPING_POLL_SECONDS = 0.05
#: How long a stop token waits for a consumer that already left (ms).
WAKE_TTL_MS = 60_000
#: Position of each band in a worker's local queue: urgent first.
BAND_RANK = {BAND_SUFFIX[band]: rank for rank, band in enumerate(Band)}


def band_rank(physical: str) -> int:
    """0 for an urgent queue, 1 for a normal one, 2 for a bulk one."""
    for suffix, rank in BAND_RANK.items():
        if suffix and physical.endswith(suffix):
            return rank
    return BAND_RANK[BAND_SUFFIX[Band.NORMAL]]


#: Where a Redis message id sits in Dramatiq's JSON encoding of a message.
_REDIS_ID_MARK = b'"redis_message_id":"'


def redis_message_id(data: bytes) -> str:
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


class ReleasingConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, telling the broker which fetched messages it drops when it closes.

    A consumer is closed and replaced after a connection error. Its prefetched
    messages never handed out, and on a delay queue the delayed messages its
    thread kept in memory (Dramatiq drops them on a connection error), stay in
    this worker's ack set with no thread to run them: released, they become
    orphans that `RedisBroker.requeue_orphans` hands back.
    """

    def close(self) -> None:
        broker: RedisBroker = self.broker
        if self.queue_name.endswith(DELAY_SUFFIX):
            broker._release_queue(self.queue_name)
        else:
            broker._release_held(*(redis_message_id(data) for data in self.message_cache if data is not None))
        self.message_cache = []
        super().close()


class WakingConsumer(ReleasingConsumer):
    """Dramatiq's Redis consumer, blocking on its queue's notify list when idle instead of sleep-polling."""

    def __init__(self, broker: WakeUps, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self.wait_seconds = broker.worker_timeout / 1000
        self.stop_key = broker.keys.wake(str(uuid4()))
        self._wait_keys = [broker.keys.notify(queue_name), self.stop_key]
        self._wait_client = broker.waiting_client
        self._paused = broker.paused
        self._pause_name = pause_name(queue_name)
        self._room = threading.Event()
        self._stopping = False
        #: True while blocked waiting for a send (the consumer is idle).
        self.waiting = False

    def ack(self, message: MessageProxy) -> None:
        try:
            super().ack(message)  # type: ignore[no-untyped-call]
        finally:
            self._room.set()

    def nack(self, message: MessageProxy) -> None:
        try:
            super().nack(message)  # type: ignore[no-untyped-call]
        finally:
            self._room.set()

    def requeue(self, messages: Any) -> None:
        """Hand messages back, and wake an idle peer to take them now."""
        messages = list(messages)
        super().requeue(messages)  # type: ignore[no-untyped-call]
        if messages:
            self.broker.wake(self.queue_name)

    def end_paused_wait(self) -> None:
        """End a wait on a paused queue now (the worker pauses): the consumer thread notices at once."""
        self._paused.nudge()

    def stop_waiting(self) -> None:
        """The worker stops: end a blocking wait now and poll briefly until the consumer thread exits."""
        self._stopping = True
        self._room.set()
        self._paused.nudge()

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # A message deleted between fetch and read (Dramatiq #266).
                        continue
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                # Cleared before counting: an ack landing after the count sets it again.
                self._room.clear()
                room = self.prefetch - self.outstanding_message_count
                if room <= 0:
                    self._room.wait(self._wait_seconds())
                    return None
                # The paused check reads this process's copy: no round trip on the fetch path.
                if self._paused.wait_if_paused(self._pause_name, self._wait_seconds()):
                    return None
                self.message_cache = self.broker.do_fetch(self.queue_name, room)
                if not self.message_cache:
                    self._wait_for_send()
                    return None
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise ConnectionClosed(e) from None  # type: ignore[no-untyped-call]

    def _wait_seconds(self) -> float:
        return STOPPING_POLL_SECONDS if self._stopping else self.wait_seconds

    def _wait_for_send(self) -> None:
        """Block until a send wakes this consumer, its worker stops, or `worker_timeout` passes."""
        if self._stopping:
            time.sleep(STOPPING_POLL_SECONDS)
            return
        self.waiting = True
        try:
            self._wait_client.blpop(self._wait_keys, timeout=self.wait_seconds)
        finally:
            self.waiting = False


class BandOrderedQueue(PriorityQueue):  # type: ignore[type-arg]
    """A worker's local work queue ordered by band, then as Dramatiq orders it (actor priority, arrival)."""

    def _put(self, item: Any) -> None:
        heapq.heappush(self.queue, (band_rank(item.message.queue_name), item))

    def _get(self) -> Any:
        return heapq.heappop(self.queue)[1]


class WorkerWiring(Middleware):
    """Fits a worker to the waking consumers: a band-ordered local queue at boot; waits ended at pause and stop.

    The broker adds it to itself, so `rundramatiq` and in-process workers get it alike.
    """

    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if not worker.work_queue.qsize():
            worker.work_queue = BandOrderedQueue()
        # Dramatiq's pause waits for every consumer to notice; one blocked for a send would take worker_timeout.
        worker.pause = partial(pause_promptly, broker, worker)  # type: ignore[method-assign]

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        consumers = waking_consumers(worker)
        for consumer in consumers:
            consumer.stop_waiting()
        end_waits(broker, consumers)


def waking_consumers(worker: Worker) -> list[WakingConsumer]:
    return [thread.consumer for thread in worker.consumers.values() if isinstance(thread.consumer, WakingConsumer)]


def end_waits(broker: Broker, consumers: list[WakingConsumer]) -> None:
    """Push a token onto each consumer's own wake list, so a blocking wait returns now."""
    if not consumers:
        return
    try:
        pipe = broker.client.pipeline(transaction=False)  # type: ignore[attr-defined]
        for consumer in consumers:
            pipe.rpush(consumer.stop_key, "1")
            pipe.pexpire(consumer.stop_key, WAKE_TTL_MS)
        pipe.execute()
    except redis.RedisError:
        # Redis is gone: each wait ends with its socket or its timeout.
        broker.logger.warning("Could not wake %d waiting consumers.", len(consumers), exc_info=True)


def pause_promptly(broker: Broker, worker: Worker) -> None:
    """`Worker.pause`, ending the consumers' waits once they are told to pause."""
    children: list[ConsumerThread | WorkerThread] = [*worker.consumers.values(), *worker.workers]
    for child in children:
        child.pause()
    end_waits(broker, waking_consumers(worker))
    for consumer in waking_consumers(worker):
        consumer.end_paused_wait()
    for child in children:
        child.paused_event.wait()
