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
