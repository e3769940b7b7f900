"""Snoozes: a rate-limited job goes back to the queue for later without spending an attempt.

`JobRetries` hands every `ProviderRateLimited` here instead of counting it. The
job's message, with its message id (so it keeps owning its job id), is
re-enqueued after the delay the limiter or the provider asked for; a delay
beyond the horizon waits in Postgres like any long delay. Each snooze adds to
`snoozes` and `snoozed_ms` in the message options; past the provider's
`max_snooze_seconds` of snoozing in all, the job is dead-lettered ("rate_limited").
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

import redis
from django.utils import timezone
from dramatiq.broker import Broker, MessageProxy
from dramatiq.message import Message

from gifting_jobs.broker import RedisBroker
from gifting_jobs.broker.current import as_redis_broker
from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ProviderRateLimited
from gifting_jobs.observability import JobContext

logger = logging.getLogger(__name__)

#: The shortest snooze (ms): a turn "now" still waits for the queue round trip anyway.
MIN_SNOOZE_MS = 10


def snooze(any_broker: Broker, proxy: MessageProxy, exc: ProviderRateLimited) -> None:
    """Re-enqueue `message` after `exc.retry_after`, its attempts untouched; or dead-letter it past the cap.

    Sets `failure_reason` and fails the message when the cap is passed, for the
    dead-letter middleware, exactly as an exhausted retry does.
    """
    broker = as_redis_broker(any_broker)
    # The proxy hands every Message attribute through; failing is the proxy's own.
    message = cast(Message[Any], proxy)
    # Imported here: middleware is loaded with the broker, before the app registry.
    from gifting_jobs.catalog import get_spec
    from gifting_jobs.dispatch import lock_ttl_ms
    from gifting_jobs.models import FailedJobReason

    limit = get_settings().rate_limit(exc.provider)
    delay_ms = max(MIN_SNOOZE_MS, int((exc.retry_after or 0.0) * 1000))
    snoozed_ms = int(message.options.get("snoozed_ms", 0)) + delay_ms
    context = JobContext.of(message)
    if snoozed_ms > limit.max_snooze_seconds * 1000:
        message.options["failure_reason"] = FailedJobReason.RATE_LIMITED.value
        message.options["error_class"] = f"{type(exc).__module__}.{type(exc).__qualname__}"
        message.options["error_message"] = (
            f"{exc} (snoozed {message.options.get('snoozes', 0)} times, "
            f"{int(message.options.get('snoozed_ms', 0)) / 1000:.0f} s in all; "
            f"the cap is {limit.max_snooze_seconds:.0f} s)"
        )
        proxy.fail()
        return
    message.options["snoozes"] = int(message.options.get("snoozes", 0)) + 1
    message.options["snoozed_ms"] = snoozed_ms
    spec = get_spec(message.actor_name)
    attempts = int(message.options.get("attempts", spec.retry.attempts))
    attempts_left = max(1, attempts - int(message.options.get("retries", 0)))
    ttl_ms = delay_ms + lock_ttl_ms(spec, attempts_left, timedelta(0))
    hold = delay_ms > get_settings().DELAY_HORIZON_SECONDS * 1000
    if hold:
        owner = _hold(broker, message, provider=exc.provider, delay_ms=delay_ms, ttl_ms=ttl_ms)
    else:
        owner = broker.limits.snooze(message, provider=exc.provider, delay_ms=delay_ms, lock_ttl_ms=ttl_ms, hold=False)
    if owner is not None:
        logger.warning(
            "job %s not snoozed: its id is owned by message %s by now (this copy was a duplicate)",
            context.job_id,
            owner,
            extra=context.extra(outcome="dropped"),
        )
        return
    message.options["snooze_delay_ms"] = delay_ms


def _hold(broker: RedisBroker, message: Message[Any], *, provider: str, delay_ms: int, ttl_ms: int) -> str | None:
    """Keep a long snooze in Postgres (as a delay beyond the horizon), handing the job's id lock to the held copy.

    The row goes first: were the lock handed over first and the insert to
    fail, the relay could never send the job.
    """
    from gifting_jobs.dispatch import hold
    from gifting_jobs.models import HeldJob, HeldJobReason

    existing = hold(
        message, ttl_ms, reason=HeldJobReason.SNOOZED, due_at=timezone.now() + timedelta(milliseconds=delay_ms)
    )
    if existing is not None:
        return existing
    ours = HeldJob.objects.filter(job_id=message.options["job_id"], message_id=message.message_id)
    try:
        owner = broker.limits.snooze(message, provider=provider, delay_ms=delay_ms, lock_ttl_ms=ttl_ms, hold=True)
    except redis.RedisError:
        ours.delete()
        raise
    if owner is not None:
        ours.delete()
    return owner
