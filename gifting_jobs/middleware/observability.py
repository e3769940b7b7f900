"""Logs every job's start and end with its context, and records processing times."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any

from dramatiq.broker import Broker
from dramatiq.message import Message
from dramatiq.middleware import Middleware

from gifting_jobs.conf import get_settings
from gifting_jobs.observability import JobContext, current_job

logger = logging.getLogger("gifting_jobs.jobs")

#: How often buffered durations are written to Redis (seconds).
FLUSH_INTERVAL_SECONDS = 1.0


class JobObservability(Middleware):
    """Structured start/success/retry/failure lines and per-type durations for p50/p95.

    Durations are buffered in memory and flushed to Redis once a second by a
    worker thread, so measuring costs no round trip per job.
    """

    def __init__(self) -> None:
        self._started: dict[str, tuple[float, Any, JobContext]] = {}
        self._durations: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def before_process_message(self, broker: Broker, message: Message) -> None:
        context = JobContext.of(message)
        token = current_job.set(context)
        self._started[message.message_id] = (time.perf_counter(), token, context)
        if logger.isEnabledFor(logging.INFO):
            logger.info("job started: %s %s", context.job_type, context.job_id, extra=context.extra())

    def after_process_message(
        self, broker: Broker, message: Message, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        started, token, context = self._started.pop(message.message_id, (None, None, None))
        if started is None:
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        with self._lock:
            self._durations[message.actor_name].append(duration_ms)
        current_job.reset(token)
        if exception is None:
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "job succeeded: %s %s", context.job_type, context.job_id,
                    extra=context.extra(duration_ms=duration_ms, outcome="succeeded"),
                )
        elif message.failed:
            logger.error(
                "job failed for good (%s): %s %s",
                message.options.get("failure_reason", "failed"),
                context.job_type,
                context.job_id,
                exc_info=exception,
                extra=context.extra(duration_ms=duration_ms, outcome="dead-lettered"),
            )
        elif "snooze_delay_ms" in message.options:
            logger.info(
                "job snoozed for %s ms (rate limited, attempt not counted): %s %s: %s",
                message.options.pop("snooze_delay_ms"),
                context.job_type,
                context.job_id,
                exception,
                extra=context.extra(duration_ms=duration_ms, outcome="snoozed"),
            )
        else:
            logger.warning(
                "job failed, retrying in %s ms: %s %s: %s",
                message.options.get("retry_delay_ms"),
                context.job_type,
                context.job_id,
                exception,
                extra=context.extra(duration_ms=duration_ms, outcome="retrying"),
            )

    def after_skip_message(self, broker: Broker, message: Message) -> None:
        _, token, _ = self._started.pop(message.message_id, (None, None, None))
        context = JobContext.of(message)
        logger.warning("job skipped: %s %s", context.job_type, context.job_id, extra=context.extra(outcome="skipped"))
        if token is not None:
            current_job.reset(token)

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
                broker.record_durations(pending, window=get_settings().METRICS_WINDOW)
            except Exception:
                logger.warning("could not record job durations", exc_info=True)

    def _flush_loop(self, broker: Broker) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_SECONDS):
            self.flush(broker)
