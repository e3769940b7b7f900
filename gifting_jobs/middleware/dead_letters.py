"""Dead letters: jobs that failed for good become `FailedJob` rows; crash loops are cut."""

from __future__ import annotations

import logging
from typing import Any

from dramatiq.broker import Broker
from dramatiq.middleware import Middleware, SkipMessage
from dramatiq.message import Message

from gifting_jobs.conf import get_settings
from gifting_jobs.observability import JobContext

logger = logging.getLogger(__name__)


class DeadLetters(Middleware):
    """Records exhausted and permanent failures, and dead-letters a message that kills workers.

    Dramatiq redelivers the messages of a dead worker forever (a message that
    segfaults or OOMs its worker would loop). Deliveries beyond the attempts
    made (counted by `Idempotency`) are crashes; past `MAX_WORKER_CRASHES` the
    message is recorded and skipped instead of run again.
    """

    def before_process_message(self, broker: Broker, message: Message) -> None:
        deliveries = message.options.get("deliveries")
        if deliveries is None:
            return
        # Imported here: middleware is loaded with the broker, before the app registry.
        from gifting_jobs.dead_letters import record_failure
        from gifting_jobs.models import FailedJobReason

        crashes = int(deliveries) - (int(message.options.get("retries", 0)) + 1)
        if crashes >= get_settings().MAX_WORKER_CRASHES:
            context = JobContext.of(message)
            logger.error(
                "job %s killed its worker %d times: dead-lettered instead of redelivered",
                context.job_id,
                crashes,
                extra=context.extra(outcome="crashed"),
            )
            record_failure(
                message,
                reason=FailedJobReason.CRASHED,
                error_class="WorkerCrashed",
                error_message=f"the worker processing this job died {crashes} times (killed, OOM or segfault)",
            )
            message.fail()
            raise SkipMessage()

    def after_process_message(
        self, broker: Broker, message: Message, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is None or not message.failed:
            return
        from gifting_jobs.dead_letters import record_failure
        from gifting_jobs.models import FailedJobReason

        record_failure(
            message,
            reason=FailedJobReason(message.options.get("failure_reason", FailedJobReason.EXHAUSTED)),
            error_class=message.options.get("error_class", type(exception).__name__),
            error_message=message.options.get("error_message", str(exception)),
            traceback=message.options.get("traceback", ""),
        )
