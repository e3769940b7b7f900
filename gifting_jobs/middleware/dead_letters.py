"""Dead letters: jobs that failed for good become `FailedJob` rows; crash loops are cut."""

from __future__ import annotations

import logging
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

from gifting_jobs.conf import get_settings
from gifting_jobs.observability import JobContext

logger = logging.getLogger(__name__)


class DeadLetters(Middleware):
    """Records exhausted and permanent failures, and dead-letters a message that kills workers.

    Dramatiq redelivers the messages of a dead worker forever (a message that
    segfaults or OOMs its worker would loop). `Idempotency` counts the starts of
    redelivered messages: a job is run at most 1 + `MAX_WORKER_CRASHES` times
    in all; the next delivery records it and skips it instead.
    """

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        starts = message.options.pop("starts_after_crash", 0)
        if starts <= get_settings().MAX_WORKER_CRASHES:
            return
        # Imported here: middleware is loaded with the broker, before the app registry.
        from gifting_jobs.dead_letters import record_failure
        from gifting_jobs.models import FailedJobReason

        context = JobContext.of(message)
        logger.error(
            "job %s killed its worker %d times: dead-lettered instead of redelivered",
            context.job_id,
            starts,
            extra=context.extra(outcome="crashed"),
        )
        record_failure(
            message,
            reason=FailedJobReason.CRASHED,
            error_class="WorkerCrashed",
            error_message=f"the worker running this job died {starts} times (killed, OOM or segfault)",
        )
        message.fail()
        raise SkipMessage()

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
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
