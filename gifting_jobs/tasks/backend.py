"""`SpineTaskBackend`: Django's task API (`django.tasks`) on the gifting_jobs spine.

`@task` calls become `django_task` jobs: enqueued through `dispatch.enqueue`
(validation, the on-commit outbox inside a transaction, Postgres while Redis is
down or for a long `run_after`), run by the Dramatiq workers with the spine's
retries, backoff and dead letters, their results kept in Postgres.
"""

from __future__ import annotations

import difflib
import math
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.core.checks import CheckMessage, Error
from django.db import transaction
from django.tasks import Task, TaskResult
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django.utils.json import normalize_json

from gifting_jobs import dispatch
from gifting_jobs.catalog import DJANGO_TASK, DJANGO_TASK_DEFAULT_QUEUE, LEAST_URGENT, MOST_URGENT
from gifting_jobs.models import TaskResultRecord, TaskStatus
from gifting_jobs.tasks import results

#: Options a `TASKS` entry of this backend may set in its "OPTIONS".
KNOWN_OPTIONS = ("ATTEMPTS",)
#: Bounds of the ATTEMPTS option (those of the enqueue option `attempts`).
MIN_ATTEMPTS, MAX_ATTEMPTS = 1, 100
#: Prefix of the job id of a task enqueued with an idempotency key.
KEYED_JOB_ID_PREFIX = "django-task:key:"


def spine_priority(priority: int) -> int:
    """Django's priority (-100 lowest .. 100 highest) as the spine's (10 least .. 1 most urgent).

    Evenly spread and rounded half up: 0 is 5 (normal band), 45..100 are 3..1
    (urgent band), -100..-45 are 10..8 (bulk band).
    """
    steps = LEAST_URGENT - MOST_URGENT
    position = (priority - TASK_MIN_PRIORITY) * steps / (TASK_MAX_PRIORITY - TASK_MIN_PRIORITY)
    return LEAST_URGENT - math.floor(position + 0.5)


if TYPE_CHECKING:
    _TaskBase = Task[Any, Any]
else:
    _TaskBase = Task  # Generic only in the type stubs.


@dataclass(frozen=True, slots=True, kw_only=True)
class SpineTask(_TaskBase):
    """A `Task` that may carry an idempotency key: while a call with the key is pending, others are deduplicated.

    `@task(idempotency_key="nightly-report")` sets it for every call;
    `my_task.using(idempotency_key=f"welcome:{user.pk}").enqueue(...)` for one.
    """

    idempotency_key: str | None = None

    def using(self, *, idempotency_key: str | None = None, **changes: Any) -> SpineTask:
        """`Task.using()`, plus `idempotency_key`."""
        task = cast(SpineTask, Task.using(self, **changes))
        return replace(task, idempotency_key=idempotency_key) if idempotency_key is not None else task


class SpineTaskBackend(BaseTaskBackend):
    """Runs `@task` functions on Dramatiq through gifting_jobs' enqueue API; results live in Postgres.

    OPTIONS: `ATTEMPTS` (tries per task, first included; default the
    `django_task` job type's, settable in `GIFTING_JOBS["JOBS"]`).
    """

    task_class = SpineTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def validate_task(self, task: Task[Any, Any]) -> None:
        super().validate_task(task)
        key = getattr(task, "idempotency_key", None)
        if key is not None and not dispatch.is_valid_job_id(KEYED_JOB_ID_PREFIX + key):
            raise InvalidTask(
                f"idempotency_key {key!r} is not a valid key: letters, digits and _.:@/+=- , at most 180 characters, starting with a letter or digit"
            )

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        """Validate, store a READY result and enqueue its job; a rollback of the caller's transaction drops both."""
        self.validate_task(task)
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        result_id = uuid.uuid4().hex
        fields = {
            "result_id": result_id,
            "task_path": task.module_path,
            "backend": self.alias,
            "args": args,
            "kwargs": kwargs,
        }
        opts = self._options(task)
        # Every check first: a bad option raises before anything is stored.
        dispatch.message_for(DJANGO_TASK, fields, opts)
        now = timezone.now()
        key = getattr(task, "idempotency_key", None)
        record = TaskResultRecord(
            id=result_id,
            task_path=task.module_path,
            backend=self.alias,
            queue_name=task.queue_name,
            priority=task.priority,
            run_after=task.run_after,
            idempotency_key=key or "",
            job_id=opts.get("job_id") or f"django-task:{result_id}",
            args=args,
            kwargs=kwargs,
            status=TaskStatus.READY,
            enqueued_at=now,
        )
        if task.run_after is not None:
            opts["delay"] = max(task.run_after - now, timedelta(0))
        record.save(force_insert=True)
        try:
            job = dispatch.enqueue(DJANGO_TASK, fields, opts)
        except BaseException:
            TaskResultRecord.objects.filter(pk=result_id).delete()
            raise
        if job.deduplicated:
            existing = (
                TaskResultRecord.objects.filter(job_id=job.id).exclude(pk=result_id).order_by("-enqueued_at").first()
            )
            if existing is not None:
                TaskResultRecord.objects.filter(pk=result_id).delete()
                return results.to_task_result(existing, task)
        result = results.to_task_result(record, task)
        # Sent when the job is: at once, or when the caller's transaction commits (never on rollback).
        transaction.on_commit(partial(task_enqueued.send, type(self), task_result=result))
        return result

    def _options(self, task: Task[Any, Any]) -> dict[str, Any]:
        opts: dict[str, Any] = {"priority": spine_priority(task.priority), "queue": task.queue_name}
        key = getattr(task, "idempotency_key", None)
        if key:
            opts["job_id"] = KEYED_JOB_ID_PREFIX + key
        if "ATTEMPTS" in self.options:
            opts["attempts"] = self.options["ATTEMPTS"]
        return opts

    def get_result(self, result_id: str) -> TaskResult[Any, Any]:
        """The stored result; `TaskResultDoesNotExist` for an unknown id (or one of another backend)."""
        record = results.get_record(str(result_id))
        if record.backend != self.alias:
            raise TaskResultDoesNotExist(result_id)
        return results.to_task_result(record)

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        """Configuration errors of this `TASKS` entry, each with its fix."""
        errors: list[CheckMessage] = []
        where = f"TASKS[{self.alias!r}]"
        if not apps.is_installed("gifting_jobs"):
            errors.append(
                Error(
                    f"{where} uses {type(self).__name__} but gifting_jobs is not installed",
                    hint="Add 'gifting_jobs' to INSTALLED_APPS.",
                    id="gifting_jobs.E040",
                )
            )
        for queue in sorted(self.queues):
            if not dispatch.is_valid_queue(queue):
                errors.append(
                    Error(
                        f"{where}['QUEUES'] has {queue!r}, which is not a valid queue name",
                        hint="Queue names are lower-case letters, digits, '_' and '-', starting with a letter, "
                        "at most 64 characters.",
                        id="gifting_jobs.E041",
                    )
                )
        for name in self.options:
            if name not in KNOWN_OPTIONS:
                guess = difflib.get_close_matches(name, KNOWN_OPTIONS, n=1)
                hint = f"Did you mean {guess[0]!r}?" if guess else f"Known options: {', '.join(KNOWN_OPTIONS)}."
                errors.append(
                    Error(f"{where}['OPTIONS'] has unknown option {name!r}", hint=hint, id="gifting_jobs.E042")
                )
        attempts = self.options.get("ATTEMPTS")
        if attempts is not None and (
            isinstance(attempts, bool) or not isinstance(attempts, int) or not MIN_ATTEMPTS <= attempts <= MAX_ATTEMPTS
        ):
            errors.append(
                Error(
                    f"{where}['OPTIONS']['ATTEMPTS'] is {attempts!r}",
                    hint=f"Use a whole number from {MIN_ATTEMPTS} to {MAX_ATTEMPTS}.",
                    id="gifting_jobs.E043",
                )
            )
        return errors


def declare_task_queues() -> None:
    """Declare on the broker the queues of every `TASKS` entry using this backend, so workers consume them."""
    import dramatiq
    from django.conf import settings
    from django.utils.module_loading import import_string

    from gifting_jobs.broker import RedisBroker

    broker = dramatiq.get_broker()
    if not isinstance(broker, RedisBroker):
        return  # The broker check names the fix.
    for params in getattr(settings, "TASKS", {}).values():
        try:
            backend_class = import_string(params.get("BACKEND", ""))
        except ImportError:
            continue  # Django's own check reports it.
        if isinstance(backend_class, type) and issubclass(backend_class, SpineTaskBackend):
            for queue in params.get("QUEUES") or [DJANGO_TASK_DEFAULT_QUEUE]:
                if dispatch.is_valid_queue(queue):
                    broker.declare_queue(queue)
