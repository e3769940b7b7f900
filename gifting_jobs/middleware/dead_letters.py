"""Dead letters: jobs that failed for good become `FailedJob` rows; crash loops are cut."""

from __future__ import annotations

import logging
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

from gifting_jobs.broker.current import as_redis_broker
from gifting_jobs.broker.redis_broker import MOVED_TO_QUARANTINE, QUARANTINED_FROM
from gifting_jobs.conf import get_settings
from gifting_jobs.middleware.run_alone import RunAloneGate
from gifting_jobs.observability import JobContext

logger = logging.getLogger(__name__)


class DeadLetters(Middleware):
    """Records exhausted and permanent failures, and dead-letters a message that kills workers.

    Dramatiq redelivers the messages of a dead worker forever (a message that
    segfaults or OOMs its worker would loop), and a crash kills every job
    running in the process, not only the one to blame. So a redelivered
    message never runs among the others: it moves to the quarantine lane
    (`<queue>.quarantine`), where each worker runs one message at a time, alone in
    its process (`RunAloneGate`: running jobs finish first, new ones wait).
    Only a crash there is blamed: a job is run at most 1 + `MAX_WORKER_CRASHES`
    times in all; the next delivery records it as "crashed" and skips it.

    A dead letter that Postgres cannot take (an outage) is kept in Redis and
    written by the relay once Postgres answers (`dead_letters.flush_kept_dead_letters`).
    """

    def __init__(self) -> None:
        self.gate = RunAloneGate()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        quarantined = QUARANTINED_FROM in message.options
        self.gate.enter(alone=quarantined)
        # Counted once through the gate: a job waiting there while the one running
        # alone kills the process never ran, and must not be blamed for it.
        starts = _starts_after_crash(broker, message)
        if not starts:
            return
        if not quarantined:
            # Redelivered after its worker died: maybe the culprit, maybe a bystander.
            as_redis_broker(broker).quarantine(message)
            message.options[MOVED_TO_QUARANTINE] = True
            raise SkipMessage()
        # The counting starts in quarantine: its first delivery there is not a redelivery.
        if starts < get_settings().MAX_WORKER_CRASHES:
            return
        # Imported here: middleware is loaded with the broker, before the app registry.
        from gifting_jobs.dead_letters import record_failure_or_keep
        from gifting_jobs.models import FailedJobReason

        crashes = 1 + starts
        context = JobContext.of(message)
        logger.error(
            "job %s killed its worker %d times: dead-lettered instead of redelivered",
            context.job_id,
            crashes,
            extra=context.extra(outcome="crashed"),
        )
        record_failure_or_keep(
            as_redis_broker(broker),
            message,
            reason=FailedJobReason.CRASHED,
            error_class="WorkerCrashed",
            error_message=f"the worker running this job died {crashes} times (killed, OOM or segfault), "
            f"{starts} of them while it ran alone in quarantine",
        )
        message.fail()
        raise SkipMessage()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self.gate.leave()

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self.gate.leave()
        if exception is None or not message.failed:
            return
        from gifting_jobs.dead_letters import record_failure_or_keep
        from gifting_jobs.models import FailedJobReason

        record_failure_or_keep(
            as_redis_broker(broker),
            message,
            reason=FailedJobReason(message.options.get("failure_reason", FailedJobReason.EXHAUSTED)),
            error_class=message.options.get("error_class", type(exception).__name__),
            error_message=message.options.get("error_message", str(exception)),
            traceback=message.options.get("traceback", ""),
        )


def _starts_after_crash(broker: Broker, message: MessageProxy) -> int:
    """0 for a first delivery; else count this start of a redelivered job's message and return the count."""
    redis_message_id = message.options.get("redis_message_id")
    if "job_id" not in message.options or redis_message_id is None:
        return 0
    return as_redis_broker(broker).starts_after_crash(redis_message_id)
