"""Pruning: what the retention period (`RETENTION_DAYS`) no longer keeps."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from django_apscheduler.models import DjangoJobExecution

from gifting_jobs.conf import get_settings
from gifting_jobs.models import FailedJob, FailedJobStatus, NotificationSchedule, NotificationStatus

logger = logging.getLogger(__name__)

#: Rows deleted per statement, to keep each transaction (and its locks) short.
PRUNE_BATCH_SIZE = 5000


@dataclass(frozen=True)
class PruneResult:
    schedules: int
    failed_jobs: int
    job_executions: int


def _delete_in_batches(queryset: QuerySet[Model]) -> int:
    deleted = 0
    while ids := list(queryset.values_list("pk", flat=True)[:PRUNE_BATCH_SIZE]):
        deleted += queryset.model._default_manager.filter(pk__in=ids).delete()[0]
    return deleted


def prune_old_records(*, now: datetime | None = None) -> PruneResult:
    """Delete sent and cancelled reminders, resolved dead letters and job executions past retention.

    Failed and queued reminders and open dead letters are kept whatever their age:
    they still need someone's attention or are still to be sent.
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
    executions_before = DjangoJobExecution.objects.filter(run_time__lte=cutoff).count()
    DjangoJobExecution.objects.delete_old_job_executions(int(retention.total_seconds()))
    result = PruneResult(schedules=schedules, failed_jobs=failed_jobs, job_executions=executions_before)
    logger.info(
        "pruned %d reminders, %d dead letters and %d job executions older than %s",
        result.schedules,
        result.failed_jobs,
        result.job_executions,
        cutoff.isoformat(),
        extra={"duty": "prune"},
    )
    return result
