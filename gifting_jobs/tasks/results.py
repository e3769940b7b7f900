"""The result store of `django.tasks` tasks: `TaskResultRecord` rows and the `TaskResult`s read from them.

Each attempt moves a row READY -> RUNNING -> SUCCESSFUL, or back to READY
(a retry is due) or on to FAILED (the last attempt failed). Updates are single
statements on one row, so a result read at any moment is one consistent state.
"""

from __future__ import annotations

import traceback as tracebacks
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db.models import F, Func, JSONField, Value
from django.db.models.functions import Coalesce
from django.tasks import DEFAULT_TASK_QUEUE_NAME, Task, TaskResult, TaskResultStatus
from django.tasks.base import DEFAULT_TASK_PRIORITY, TaskError
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone
from django.utils.module_loading import import_string

from gifting_jobs.models import TaskResultRecord, TaskStatus
from gifting_jobs.payloads import DjangoTaskPayload

#: Longest traceback kept per error, in frames.
TRACEBACK_LIMIT = 30


class JsonbAppend(Func):
    """`column || value::jsonb`: append to a JSON list column in the UPDATE itself (no read-modify-write)."""

    template = "%(expressions)s"
    arg_joiner = " || "


def load_task(path: str) -> Task[Any, Any]:
    """The module-level `@task` object at `path`; `TaskResultDoesNotExist` if there is none."""
    try:
        task = import_string(path)
    except ImportError as exc:
        raise TaskResultDoesNotExist(f"task {path!r} cannot be imported: {exc}") from None
    if not isinstance(task, Task):
        raise TaskResultDoesNotExist(f"{path!r} is not a @task (got {type(task).__name__})")
    return task


def to_task_result(record: TaskResultRecord, task: Task[Any, Any] | None = None) -> TaskResult[Any, Any]:
    """The `TaskResult` of a stored row (its task as enqueued: priority, queue and run_after)."""
    base = task or load_task(record.task_path)
    changes: dict[str, Any] = {
        "priority": record.priority,
        "queue_name": record.queue_name,
        "backend": record.backend,
        "run_after": record.run_after,
    }
    if hasattr(base, "idempotency_key"):
        changes["idempotency_key"] = record.idempotency_key or None
    result: TaskResult[Any, Any] = TaskResult(
        task=_replace_task(base, changes),
        id=record.id,
        status=TaskResultStatus(record.status),
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        last_attempted_at=record.last_attempted_at,
        args=record.args,
        kwargs=record.kwargs,
        backend=record.backend,
        errors=[TaskError(**error) for error in record.errors],
        worker_ids=list(record.worker_ids),
    )
    object.__setattr__(result, "_return_value", record.return_value)
    return result


def _replace_task(task: Task[Any, Any], changes: dict[str, Any]) -> Task[Any, Any]:
    if all(getattr(task, name) == value for name, value in changes.items()):
        return task
    return replace(task, **changes)


def get_record(result_id: str) -> TaskResultRecord:
    record = TaskResultRecord.objects.filter(pk=result_id).first()
    if record is None:
        raise TaskResultDoesNotExist(result_id)
    return record


def start_attempt(payload: DjangoTaskPayload, worker_id: str, *, now: datetime | None = None) -> TaskResultRecord:
    """Mark the result RUNNING for one more attempt by `worker_id` (re-created from the payload if pruned)."""
    now = now or timezone.now()
    updated = TaskResultRecord.objects.filter(pk=payload.result_id).update(
        status=TaskStatus.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        last_attempted_at=now,
        finished_at=None,
        worker_ids=JsonbAppend(F("worker_ids"), Value([worker_id], output_field=JSONField())),
    )
    if not updated:
        # Pruned while its dead letter waited for a retry: the payload carries all it needs.
        try:
            task: Task[Any, Any] | None = load_task(payload.task_path)
        except TaskResultDoesNotExist:
            task = None  # The run fails for good; the row still records it.
        TaskResultRecord.objects.create(
            id=payload.result_id,
            task_path=payload.task_path,
            backend=payload.backend,
            queue_name=task.queue_name if task else DEFAULT_TASK_QUEUE_NAME,
            priority=task.priority if task else DEFAULT_TASK_PRIORITY,
            job_id=f"django-task:{payload.result_id}",
            args=payload.args,
            kwargs=payload.kwargs,
            status=TaskStatus.RUNNING,
            enqueued_at=now,
            started_at=now,
            last_attempted_at=now,
            worker_ids=[worker_id],
        )
    return get_record(payload.result_id)


def succeed(result_id: str, return_value: Any, *, now: datetime | None = None) -> TaskResultRecord:
    """Mark the result SUCCESSFUL with its (JSON) return value."""
    TaskResultRecord.objects.filter(pk=result_id).update(
        status=TaskStatus.SUCCESSFUL, finished_at=now or timezone.now(), return_value=return_value
    )
    return get_record(result_id)


def fail(result_id: str, exc: BaseException, *, final: bool, now: datetime | None = None) -> TaskResultRecord:
    """Record a failed attempt: FAILED if it was the last one, else READY for the retry."""
    error = {
        "exception_class_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "traceback": "".join(tracebacks.format_exception(exc, limit=TRACEBACK_LIMIT)),
    }
    TaskResultRecord.objects.filter(pk=result_id).update(
        status=TaskStatus.FAILED if final else TaskStatus.READY,
        finished_at=(now or timezone.now()) if final else None,
        errors=JsonbAppend(F("errors"), Value([error], output_field=JSONField())),
    )
    return get_record(result_id)
