"""Pruning: what the retention period (`RETENTION_DAYS`) no longer keeps."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from django_apscheduler.models import DjangoJobExecution

from gifting_jobs.conf import get_settings
from gifting_jobs.models import (
    FailedJob,
    FailedJobStatus,
    NotificationSchedule,
    NotificationStatus,
    TaskResultRecord,
    TaskStatus,
)

logger = logging.getLogger(__name__)

#: Rows deleted per statement, to keep each transaction (and its locks) short.
PRUNE_BATCH_SIZE = 5000


@dataclass(frozen=True)
class PruneResult:
    schedules: int
    failed_jobs: int
    job_executions: int
    #: `django.tasks` results (see `gifting_jobs.tasks`).
    task_results: int = 0


def _delete_in_batches(queryset: QuerySet[Model]) -> int:
    deleted = 0
    while ids := list(queryset.values_list("pk", flat=True)[:PRUNE_BATCH_SIZE]):
        deleted += queryset.model._default_manager.filter(pk__in=ids).delete()[0]
    return deleted


def prune_old_records(*, now: datetime | None = None) -> PruneResult:
    """Delete sent and cancelled reminders, resolved dead letters, job executions and task results past retention.

    Failed and queued reminders and open dead letters are kept whatever their age:
    they still need someone's attention or are still to be sent. Task results go
    once finished that long ago; a READY one only when it was enqueued and due
    that long ago (its job was lost or deduplicated at commit), never while it waits for
    its `run_after`; a RUNNING one never (its attempt may still end).
    """
    retention = timedelta(days=get_settings().RETENTION_DAYS)
    cutoff = (now or timezone.now()) - retention
    schedules = _delete_in_batches(
        NotificationSchedule.objects.filter(
            Q(status=NotificationStatus.SENT, sent_at__lt=cutoff)
            | Q(status=NotificationStatus.CANCELLED, updated_at__lt=cutoff)
        )
    )
    failed_jobs = _delete_in_batches(
        FailedJob.objects.filter(
            status__in=[FailedJobStatus.RETRIED, FailedJobStatus.DISCARDED], resolved_at__lt=cutoff
        )
    )
    task_results = _delete_in_batches(
        TaskResultRecord.objects.filter(
            Q(status__in=[TaskStatus.SUCCESSFUL, TaskStatus.FAILED], finished_at__lt=cutoff)
            | Q(status=TaskStatus.READY, enqueued_at__lt=cutoff) & (Q(run_after__isnull=True) | Q(run_after__lt=cutoff))
        )
    )
    executions_before = DjangoJobExecution.objects.filter(run_time__lte=cutoff).count()
    DjangoJobExecution.objects.delete_old_job_executions(int(retention.total_seconds()))
    result = PruneResult(
        schedules=schedules, failed_jobs=failed_jobs, job_executions=executions_before, task_results=task_results
    )
    logger.info(
        "pruned %d reminders, %d dead letters, %d job executions and %d task results older than %s",
        result.schedules,
        result.failed_jobs,
        result.job_executions,
        result.task_results,
        cutoff.isoformat(),
        extra={"duty": "prune"},
    )
    return result
