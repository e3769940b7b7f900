"""The durable result store of `django.tasks` tasks run on the spine (see `gifting_jobs.tasks`)."""

from __future__ import annotations

from django.db import models


class TaskStatus(models.TextChoices):
    """`django.tasks.TaskResultStatus`, as stored."""

    READY = "READY", "Ready"
    RUNNING = "RUNNING", "Running"
    FAILED = "FAILED", "Failed"
    SUCCESSFUL = "SUCCESSFUL", "Successful"


class TaskResultRecord(models.Model):
    """One enqueued `@task` call: its arguments, its state, its errors and its return value.

    Written at enqueue (inside the caller's transaction when there is one, so a
    rollback leaves nothing), updated by the worker at each attempt.
    """

    #: The `TaskResult.id` (32 hex characters).
    id = models.CharField(primary_key=True, max_length=64)
    task_path = models.CharField(max_length=255)
    backend = models.CharField(max_length=100)
    queue_name = models.CharField(max_length=100)
    priority = models.SmallIntegerField()
    run_after = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    #: The spine's job id (deduplicated enqueues share it).
    job_id = models.CharField(max_length=255, db_index=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.READY)
    enqueued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    #: One `{"exception_class_path", "traceback"}` per failed attempt, oldest first.
    errors = models.JSONField(default=list)
    #: One worker id per attempt (`TaskResult.attempts` is their count).
    worker_ids = models.JSONField(default=list)
    return_value = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-enqueued_at"]
        indexes = [models.Index(fields=["status", "finished_at"], name="taskresult_status_finished")]

    def __str__(self) -> str:
        return f"{self.task_path} {self.id} ({self.status})"
