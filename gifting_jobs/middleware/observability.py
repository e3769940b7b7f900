"""Logs every job's start and end with its context, records processing times, and hands outcomes to the ack.

The outcome (succeeded, retrying, failed for good, snoozed) and the duration
go to the broker keyed by the message's Redis id (`RedisBroker.record_outcome`),
so the ack or nack that follows counts them in the same script call.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import defaultdict
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from gifting_jobs.broker.current import as_redis_broker
from gifting_jobs.broker.stats import Counter, Outcome, duration_bound
from gifting_jobs.conf import get_settings
from gifting_jobs.observability import JobContext, current_job

logger = logging.getLogger("gifting_jobs.jobs")

#: How often buffered durations are written to Redis (seconds).
FLUSH_INTERVAL_SECONDS = 1.0
#: What each outcome adds to (a dead letter's `dead` is counted by the nack itself).
SUCCEEDED: tuple[Counter, ...] = (Counter.PROCESSED,)
RETRYING: tuple[Counter, ...] = (Counter.PROCESSED, Counter.FAILED, Counter.RETRIED)
FAILED_FOR_GOOD: tuple[Counter, ...] = (Counter.PROCESSED, Counter.FAILED)
SNOOZED: tuple[Counter, ...] = (Counter.PROCESSED,)
#: The logger and message of Dramatiq's worker thread for every failed attempt, traceback included.
DRAMATIQ_WORKER_LOGGER = "dramatiq.worker.WorkerThread"
DRAMATIQ_FAILURE_MESSAGE = "Failed to process message %s with unhandled exception."


class DramatiqFailureLineFilter(logging.Filter):
    """Drops Dramatiq's own per-attempt failure line: `JobObservability` reports each failure itself.

    Dramatiq writes a traceback for every failed attempt, and this middleware
    another one when the job is dead-lettered, so each failed job showed its
    traceback at least twice. With the filter, a retry is one WARNING line
    (with the error) and a final failure one ERROR line with the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != DRAMATIQ_FAILURE_MESSAGE


def silence_dramatiq_failure_lines() -> None:
    """Install `DramatiqFailureLineFilter` on Dramatiq's worker logger, once per process."""
    worker_logger = logging.getLogger(DRAMATIQ_WORKER_LOGGER)
    if not any(isinstance(existing, DramatiqFailureLineFilter) for existing in worker_logger.filters):
        worker_logger.addFilter(DramatiqFailureLineFilter())


class JobObservability(Middleware):
    """Structured start/success/retry/failure lines and per-type durations for p50/p95.

    Durations are buffered in memory and flushed to Redis once a second by a
    worker thread, so measuring costs no round trip per job.
    """

    def __init__(self) -> None:
        self._started: dict[str, tuple[float, contextvars.Token[JobContext | None], JobContext]] = {}
        self._durations: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        silence_dramatiq_failure_lines()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        context = JobContext.of(message)
        token = current_job.set(context)
        self._started[message.message_id] = (time.perf_counter(), token, context)
        if logger.isEnabledFor(logging.INFO):
            logger.info("job started: %s %s", context.job_type, context.job_id, extra=context.extra())

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        entry = self._started.pop(message.message_id, None)
        if entry is None:
            return
        started, token, context = entry
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        with self._lock:
            self._durations[message.actor_name].append(duration_ms)
        current_job.reset(token)
        if exception is None:
            counters = SUCCEEDED
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "job succeeded: %s %s",
                    context.job_type,
                    context.job_id,
                    extra=context.extra(duration_ms=duration_ms, outcome="succeeded"),
                )
        elif message.failed:
            counters = FAILED_FOR_GOOD
            logger.error(
                "job failed for good (%s): %s %s",
                message.options.get("failure_reason", "failed"),
                context.job_type,
                context.job_id,
                exc_info=exception,
                extra=context.extra(duration_ms=duration_ms, outcome="dead-lettered"),
            )
        elif "snooze_delay_ms" in message.options:
            counters = SNOOZED
            logger.info(
                "job snoozed for %s ms (rate limited, attempt not counted): %s %s: %s",
                message.options.pop("snooze_delay_ms"),
                context.job_type,
                context.job_id,
                exception,
                extra=context.extra(duration_ms=duration_ms, outcome="snoozed"),
            )
        else:
            counters = RETRYING
            logger.warning(
                "job failed, retrying in %s ms: %s %s: %s",
                message.options.get("retry_delay_ms"),
                context.job_type,
                context.job_id,
                exception,
                extra=context.extra(duration_ms=duration_ms, outcome="retrying"),
            )
        self._record_outcome(broker, message, counters, duration_ms)

    @staticmethod
    def _record_outcome(
        broker: Broker, message: MessageProxy, counters: tuple[Counter, ...], duration_ms: float | None
    ) -> None:
        redis_message_id = message.options.get("redis_message_id")
        if redis_message_id is None:
            return
        bound = "" if duration_ms is None else duration_bound(duration_ms, get_settings().METRICS_DURATION_BUCKETS_MS)
        as_redis_broker(broker).record_outcome(
            redis_message_id,
            Outcome(actor_name=message.actor_name, counters=counters, bound=bound, duration_ms=duration_ms or 0.0),
        )

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        _, token, _ = self._started.pop(message.message_id, (None, None, None))
        context = JobContext.of(message)
        logger.warning("job skipped: %s %s", context.job_type, context.job_id, extra=context.extra(outcome="skipped"))
        if token is not None:
            current_job.reset(token)
        if message.failed:  # Dead-lettered without running (a crash loop): the nack counts it.
            self._record_outcome(broker, message, (), None)

    def after_worker_boot(self, broker: Broker, worker: object) -> None:
        self._stop.clear()
        self._flusher = threading.Thread(target=self._flush_loop, args=(broker,), name="gifting-metrics", daemon=True)
        self._flusher.start()

    def before_worker_shutdown(self, broker: Broker, worker: object) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self.flush(broker)

    def flush(self, broker: Broker) -> None:
        """Write buffered durations to Redis now."""
        with self._lock:
            pending, self._durations = self._durations, defaultdict(list)
        if pending:
            try:
                as_redis_broker(broker).record_durations(pending, window=get_settings().METRICS_WINDOW)
            except Exception:
                logger.warning("could not record job durations", exc_info=True)

    def _flush_loop(self, broker: Broker) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_SECONDS):
            self.flush(broker)
