"""The work of the `django_task` job type: run one `@task` call and keep its result.

The actor stays thin as for every type; retries, dead letters and logging are
the middleware's, exactly as for the built-in types. This function only moves
the result row through its states and sends Django's task signals.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from django.tasks import TaskContext, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_finished, task_started
from django.utils.json import normalize_json

from gifting_jobs.catalog import DJANGO_TASK, get_spec
from gifting_jobs.exceptions import PermanentJobError
from gifting_jobs.observability import current_job
from gifting_jobs.payloads import DjangoTaskPayload
from gifting_jobs.tasks import results

#: This process's worker id, recorded once per attempt in `TaskResult.worker_ids`.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def run_task(payload: DjangoTaskPayload) -> Any:
    """Run the task; record RUNNING, then SUCCESSFUL, or the error (READY again for a retry, FAILED at the end).

    Re-raises the task's exception so that the retry middleware classifies it.
    """
    context = current_job.get()
    attempt = context.attempt if context else 1
    attempts = (context.attempts if context else 0) or get_spec(DJANGO_TASK).retry.attempts

    record = results.start_attempt(payload, WORKER_ID)
    try:
        task = results.load_task(payload.task_path)
    except TaskResultDoesNotExist as exc:
        # Moved or deleted since it was enqueued: no retry can find it again.
        error = PermanentJobError(f"cannot run task: {exc}")
        results.fail(payload.result_id, error, final=True)
        raise error from None
    sender = type(task_backends[payload.backend])
    task_result = results.to_task_result(record, task)
    task_started.send(sender=sender, task_result=task_result)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=task_result), *payload.args, **payload.kwargs)
        else:
            value = task.call(*payload.args, **payload.kwargs)
        # A value JSON cannot hold fails the task (a TypeError: permanent), as Django's backends do.
        value = normalize_json(value)
    except BaseException as exc:
        # The retry middleware makes the same decision from the same inputs.
        final = get_spec(DJANGO_TASK).final_failure(exc, failures=attempt, attempts=attempts) is not None
        record = results.fail(payload.result_id, exc, final=final)
        if final:
            task_finished.send(sender=sender, task_result=results.to_task_result(record, task))
        raise
    record = results.succeed(payload.result_id, value)
    task_finished.send(sender=sender, task_result=results.to_task_result(record, task))
    return value
