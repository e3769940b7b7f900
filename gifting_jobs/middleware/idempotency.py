"""Freeing the job id in Redis when the job is over."""

from __future__ import annotations

from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from gifting_jobs.broker.current import as_redis_broker
from gifting_jobs.broker.redis_broker import MOVED_TO_QUARANTINE


class Idempotency(Middleware):
    """Frees the job id once the job is done (the crash cap's start counting is `DeadLetters`').

    A job is over when it succeeded, was dead-lettered (`message.failed`) or
    skipped; while it waits for a retry its id stays taken, so an equal job
    enqueued meanwhile is deduplicated.
    """

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is None or message.failed:
            self._finish(broker, message)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._finish(broker, message)

    @staticmethod
    def _finish(broker: Broker, message: MessageProxy) -> None:
        if message.options.get(MOVED_TO_QUARANTINE):
            return  # Not over: it goes on in the quarantine lane, holding its id.
        job_id = message.options.get("job_id")
        redis_message_id = message.options.get("redis_message_id")
        if job_id is None:
            return
        if redis_message_id is None:
            as_redis_broker(broker).finish(job_id, message.message_id)
        else:
            # Freed in the ack's round trip: after the ack, so an equal job
            # enqueued meanwhile is never taken for this one.
            as_redis_broker(broker).finish_on_ack(job_id, message.message_id, redis_message_id)
