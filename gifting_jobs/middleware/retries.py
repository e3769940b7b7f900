"""Retries with exponential backoff and jitter, by error class, replacing Dramatiq's `Retries`."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from gifting_jobs.broker.redis_broker import QUARANTINED_FROM
from gifting_jobs.catalog import get_spec
from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ProviderRateLimited
from gifting_jobs.limits import ERROR_EXCERPT_CHARS
from gifting_jobs.middleware.snooze import snooze
from gifting_jobs.retry_policy import retry_after_seconds

logger = logging.getLogger(__name__)

#: Longest traceback kept with a message, in frames.
TRACEBACK_LIMIT = 30


class JobRetries(Middleware):
    """Retry transient failures with backoff; fail permanent ones and exhausted ones at once.

    The attempt budget is the message's `attempts` option (the job type's
    default, or the caller's `attempts=`). A provider's Retry-After is a floor
    on the delay; the delay never exceeds the delay horizon, so a retry never
    waits days in a worker's memory. A failed message carries
    `failure_reason` for the dead-letter middleware.
    """

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is None:
            return
        if isinstance(exception, ProviderRateLimited):
            snooze(broker, message, exception)  # Rate limits never cost an attempt.
            return
        spec = get_spec(message.actor_name)
        failures = int(message.options.get("retries", 0)) + 1
        message.options["retries"] = failures
        message.options["traceback"] = "".join(traceback.format_exception(exception, limit=TRACEBACK_LIMIT))
        message.options["error_class"] = f"{type(exception).__module__}.{type(exception).__qualname__}"
        message.options["error_message"] = str(exception)[:ERROR_EXCERPT_CHARS]
        attempts = int(message.options.get("attempts", spec.retry.attempts))

        # Imported here: middleware is loaded with the broker, before the app registry.
        from gifting_jobs.models import FailedJobReason

        final = spec.final_failure(exception, failures=failures, attempts=attempts)
        if final is not None:
            message.options["failure_reason"] = FailedJobReason(final).value
            message.fail()
            return

        delay_ms = int(spec.retry.backoff_ms(failures) * get_settings().RETRY_BACKOFF_SCALE)
        hint = retry_after_seconds(exception)
        if hint is not None:
            delay_ms = max(delay_ms, int(hint * 1000))
        delay_ms = min(delay_ms, int(get_settings().DELAY_HORIZON_SECONDS * 1000))
        message.options["retry_delay_ms"] = delay_ms
        # A retry after a plain failure (not a crash) leaves the quarantine lane.
        origin = message.options.pop(QUARANTINED_FROM, None)
        # Dramatiq types `enqueue` for a Message, yet its own Retries hands it the proxy (which delegates).
        retry = message if origin is None else message.copy(queue_name=origin)
        broker.enqueue(retry, delay=delay_ms)  # type: ignore[arg-type]
