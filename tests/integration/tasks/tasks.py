"""Module-level `@task` functions the backend tests enqueue (a worker imports them by path)."""

from __future__ import annotations

from typing import Any

from django.tasks import TaskContext, task

from gifting_jobs.exceptions import PermanentJobError, TransientJobError


@task
def noop_task(*args: Any, **kwargs: Any) -> None:
    return None


@task
async def noop_task_async(*args: Any, **kwargs: Any) -> None:
    return None


@task
def calculate_meaning_of_life() -> int:
    return 42


@task
async def calculate_meaning_of_life_async() -> int:
    return 42


@task
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


@task(queue_name="reports", priority=60)
def urgent_report(name: str) -> str:
    return f"report {name}"


@task
def failing_value_error() -> None:
    raise ValueError("This task failed due to ValueError")


@task
def failing_for_good(reason: str) -> None:
    raise PermanentJobError(f"cannot work: {reason}")


@task
def complex_exception() -> None:
    raise ValueError(ValueError("This task failed"))


@task
def complex_return_value() -> object:
    return object()  # JSON cannot hold it: the task fails.


@task(takes_context=True)
def flaky_with_context(context: TaskContext, fail_until: int) -> dict[str, Any]:
    """Fails transiently until attempt `fail_until`, then returns what its context said."""
    if context.attempt < fail_until:
        raise TransientJobError(f"attempt {context.attempt} fails")
    return {"attempt": context.attempt, "result_id": context.task_result.id}


@task(idempotency_key="nightly-digest")
def nightly_digest() -> str:
    return "digest"


@task
def fails_until_released(key: str) -> str:
    """Fails for good until the test sets `release_key(key)` in Redis, then succeeds."""
    if not _released(key):
        raise PermanentJobError(f"{key} is not released yet")
    return f"{key} done"


@task(takes_context=True)
def blocks_each_attempt(context: TaskContext, key: str, fail_attempts: int) -> int:
    """Blocks every attempt until `release_key(f"{key}:{attempt}")` exists; the first `fail_attempts` then fail."""
    attempt_key = f"{key}:{context.attempt}"
    _wait_for_release(attempt_key)
    if context.attempt <= fail_attempts:
        raise TransientJobError(f"attempt {context.attempt} fails")
    return context.attempt


def _released(key: str) -> bool:
    import redis
    from django.conf import settings

    from tests.jobapp.jobs import release_key

    return bool(redis.Redis.from_url(settings.REDIS_URL).exists(release_key(key)))


def _wait_for_release(key: str) -> None:
    import time

    from tests.jobapp.jobs import BLOCK_TIMEOUT_SECONDS

    deadline = time.monotonic() + BLOCK_TIMEOUT_SECONDS
    while not _released(key) and time.monotonic() < deadline:
        time.sleep(0.02)
