"""Pruning: sent and cancelled reminders, resolved dead letters and job executions past retention go."""

from __future__ import annotations

import pickle
from datetime import timedelta

import pytest
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from gifting_jobs.models import FailedJob, FailedJobStatus, NotificationSchedule, NotificationStatus
from gifting_jobs.scheduling import run_duty
from gifting_jobs.scheduling.pruning import prune_old_records
from tests.integration.reminders.conftest import make_occasion, make_schedule, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def dead_letter(job_id: str, status: str, resolved_days_ago: int | None) -> FailedJob:
    now = timezone.now()
    return FailedJob.objects.create(
        job_id=job_id,
        job_type="reminder_dispatch",
        reason="permanent",
        status=status,
        first_failed_at=now - timedelta(days=60),
        last_failed_at=now - timedelta(days=60),
        resolved_at=None if resolved_days_ago is None else now - timedelta(days=resolved_days_ago),
    )


def test_prune_old_records__deletes_only_what_retention_no_longer_keeps():
    # Given rows on both sides of the 30-day retention
    old, recent = timezone.now() - timedelta(days=40), timezone.now() - timedelta(days=10)
    occasion = make_occasion(make_user())
    keep, drop = [], []
    drop.append(make_schedule(occasion, offset_days=1, status=NotificationStatus.SENT, sent_at=old))
    keep.append(make_schedule(occasion, offset_days=2, status=NotificationStatus.SENT, sent_at=recent))
    drop.append(make_schedule(occasion, offset_days=3, status=NotificationStatus.CANCELLED))
    keep.append(make_schedule(occasion, offset_days=4, status=NotificationStatus.FAILED))
    keep.append(make_schedule(occasion, offset_days=5, scheduled_for=old))
    NotificationSchedule.objects.filter(pk__in=[drop[1].pk, keep[1].pk, keep[2].pk]).update(updated_at=old)
    dropped_letters = [dead_letter("a", FailedJobStatus.RETRIED, 40), dead_letter("b", FailedJobStatus.DISCARDED, 40)]
    kept_letters = [dead_letter("c", FailedJobStatus.OPEN, None), dead_letter("d", FailedJobStatus.DISCARDED, 5)]
    job = DjangoJob.objects.create(id="gifting_jobs.prune", job_state=pickle.dumps({}))
    DjangoJobExecution.objects.create(job=job, status=DjangoJobExecution.SUCCESS, run_time=old)
    recent_run = DjangoJobExecution.objects.create(job=job, status=DjangoJobExecution.SUCCESS, run_time=recent)

    # When pruning runs
    result = prune_old_records()

    # Then only the old sent/cancelled reminders, resolved dead letters and executions are gone
    assert (result.schedules, result.failed_jobs, result.job_executions) == (2, 2, 1)
    assert set(NotificationSchedule.objects.values_list("pk", flat=True)) == {s.pk for s in keep}
    assert set(FailedJob.objects.values_list("pk", flat=True)) == {f.pk for f in kept_letters}
    assert list(DjangoJobExecution.objects.values_list("pk", flat=True)) == [recent_run.pk]
    assert not FailedJob.objects.filter(pk__in=[f.pk for f in dropped_letters]).exists()


def test_prune_duty__runs_through_the_scheduler_entry_point(clean_broker):
    occasion = make_occasion(make_user())
    make_schedule(occasion, status=NotificationStatus.SENT, sent_at=timezone.now() - timedelta(days=90))

    result = run_duty("prune")

    assert result.schedules == 1 and not NotificationSchedule.objects.exists()
