"""Test job types: each records its executions so tests assert on rows, not on silence."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings

from gifting_jobs.exceptions import PermanentJobError, TransientJobError
from gifting_jobs.jobs import JobPayload, JobSpec, declare_job_type
from gifting_jobs.retry_policy import RetryPolicy

#: How long a blocking test job waits for its release key at most.
BLOCK_TIMEOUT_SECONDS = 60


class KeyPayload(JobPayload):
    key: str
    fail_times: int = 0


def _record(payload: KeyPayload) -> None:
    from gifting_jobs.observability import current_job
    from tests.jobapp.models import Execution

    context = current_job.get()
    Execution.objects.create(
        job_type=context.job_type if context else "",
        job_id=context.job_id if context else "",
        message_id=context.message_id if context else "",
        key=payload.key,
        attempt=context.attempt if context else 0,
        pid=os.getpid(),
    )


def record(payload: KeyPayload) -> None:
    _record(payload)


def flaky(payload: KeyPayload) -> None:
    """Fails with a transient error `fail_times` times, then succeeds."""
    _record(payload)
    from gifting_jobs.observability import current_job

    if current_job.get().attempt <= payload.fail_times:
        raise TransientJobError(f"flaky failure {current_job.get().attempt}")


def permanent(payload: KeyPayload) -> None:
    _record(payload)
    raise PermanentJobError("this can never work")


def release_key(key: str) -> str:
    """The Redis key that lets a blocking job named `key` finish."""
    import dramatiq

    return dramatiq.get_broker().key("release", key)


def blocking(payload: KeyPayload) -> None:
    """Runs until the Redis key `release_key(key)` exists (a test sets it)."""
    _record(payload)
    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + BLOCK_TIMEOUT_SECONDS
    while not client.exists(release_key(payload.key)) and time.monotonic() < deadline:
        time.sleep(0.02)


def sleep_briefly(payload: KeyPayload) -> None:
    """A job that takes a little time (priority tests keep workers busy with it)."""
    time.sleep(0.005)


def crash(payload: KeyPayload) -> None:
    """Kills its own worker process, like a segfault or the OOM killer would."""
    _record(payload)
    os.kill(os.getpid(), signal.SIGKILL)


class EffectPayload(KeyPayload):
    hold_ms: int = 0


def effect(payload: EffectPayload) -> None:
    """Records its start, holds `hold_ms` (in flight), then applies its effect once per key.

    The effect is idempotent the way the real jobs are (a reminder sent at most
    once, an embedding skipped when current): a redelivered run that finds it
    applied does nothing. Fault scenarios count starts, effects and duplicates.
    """
    from django.db import connection, transaction

    from tests.jobapp.models import Effect

    _record(payload)
    if payload.hold_ms:
        time.sleep(payload.hold_ms / 1000)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [payload.key])
        if not Effect.objects.filter(key=payload.key).exists():
            Effect.objects.create(key=payload.key, pid=os.getpid())


def noop(payload: KeyPayload) -> None:
    """Does nothing (benchmarks)."""


FAST = RetryPolicy(attempts=3, min_backoff=timedelta(milliseconds=50), max_backoff=timedelta(milliseconds=200))
#: Retries that span a short Postgres or Redis outage (about 25 s in all).
OUTAGE = RetryPolicy(attempts=20, min_backoff=timedelta(milliseconds=200), max_backoff=timedelta(seconds=2))


def _declare(
    name: str,
    work: Callable[[Any], None],
    *,
    queue: str = "testing",
    payload: type[KeyPayload] = KeyPayload,
    retry: RetryPolicy = FAST,
) -> JobSpec[Any]:
    """A test type through the public API a host project uses, keyed by the payload's `key`."""
    prefix = name.replace("_", "-")
    return declare_job_type(
        name,
        payload=payload,
        work=work,
        job_id=lambda p: f"{prefix}:{p.key}",
        entity_id=lambda p: p.key,
        queue=queue,
        attempts=retry.attempts,
        min_backoff=retry.min_backoff,
        max_backoff=retry.max_backoff,
    )


# Declared at import: gifting_jobs discovers every installed app's `jobs` module at start-up.
SPECS = [
    _declare("test_effect", effect, payload=EffectPayload, retry=OUTAGE),
    _declare("test_record", record),
    _declare("test_flaky", flaky),
    _declare("test_permanent", permanent),
    _declare("test_blocking", blocking),
    _declare("test_sleep", sleep_briefly),
    _declare("test_crash", crash, queue="crashing"),
    _declare("test_noop", noop, queue="bench"),
]
