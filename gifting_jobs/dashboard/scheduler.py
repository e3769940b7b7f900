"""The dashboard's Scheduler page: every duty with its trigger, next and last run, and who leads.

Everything comes from Postgres: the duties' stored jobs (`DjangoJob`: next run,
the trigger the running scheduler registered), their executions
(`DjangoJobExecution`, written by django-apscheduler's job store in the leading
`runscheduler`), and the leader lock's sessions (`scheduling.leader`).
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from gifting_jobs.dashboard.base import DashboardPage
from gifting_jobs.dashboard.timespans import describe_span
from gifting_jobs.scheduling import DUTIES, Daily, Duty, Every, SchedulerSession, scheduler_sessions
from gifting_jobs.scheduling.duties import schedule_of

logger = logging.getLogger(__name__)

#: The cron fields that fix a daily trigger's time of day; every other field must be `*`.
TIME_OF_DAY_FIELDS = ("hour", "minute", "second")
#: What a stored job's pickled state may fail with when its classes moved or it is corrupt.
UNREADABLE_STATE = (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError, KeyError)


@dataclass(frozen=True)
class Outcome:
    """How one `DjangoJobExecution.status` reads on the page: a short CSS-able key and a label."""

    key: str
    label: str


#: The outcome of each execution status django-apscheduler records.
OUTCOMES = {
    DjangoJobExecution.SUCCESS: Outcome("success", "success"),
    DjangoJobExecution.ERROR: Outcome("error", "error"),
    DjangoJobExecution.SENT: Outcome("running", "running"),
    DjangoJobExecution.MISSED: Outcome("missed", "missed (too late to run)"),
    DjangoJobExecution.MAX_INSTANCES: Outcome("skipped", "skipped (the previous run was still going)"),
}
#: A run that started and has no end while no scheduler leads: its scheduler stopped or died mid-run.
NO_END_RECORDED = Outcome("interrupted", "no end recorded (its scheduler stopped)")


@dataclass(frozen=True)
class LastRun:
    """A duty's latest execution."""

    execution_id: int
    #: The time the run was scheduled for (django-apscheduler keys executions on it).
    scheduled_at: datetime
    outcome: Outcome
    #: Seconds from the scheduled time to the end (a late start counts); None while running.
    duration_s: float | None
    error: str
    #: The execution's admin page (its traceback), None when django-apscheduler's admin is not on the site.
    url: str | None

    @property
    def duration(self) -> str:
        return "" if self.duration_s is None else describe_span(self.duration_s)


@dataclass(frozen=True)
class DutyStatus:
    """One row of the page."""

    duty: Duty
    #: The trigger the running scheduler registered (the declared one before any scheduler started).
    trigger: str
    #: The declared trigger, when the stored one differs (a scheduler started with `--tick-seconds`).
    declared_trigger: str | None
    registered: bool
    next_run: datetime | None
    #: Seconds until the next run (negative: overdue).
    next_in_s: float | None
    last_run: LastRun | None
    last_success_at: datetime | None
    history_url: str | None

    @property
    def next_in(self) -> str:
        return "" if self.next_in_s is None else describe_span(abs(self.next_in_s))


def describe_trigger(trigger: object) -> str:
    """An APScheduler trigger in words: "cron: daily at 02:00 UTC", "interval: every 60 s"."""
    if isinstance(trigger, IntervalTrigger):
        return "interval: " + Every(int(trigger.interval.total_seconds())).describe()
    if isinstance(trigger, CronTrigger):
        fields = {field.name: field for field in trigger.fields}
        daily = str(trigger.timezone) == "UTC" and all(
            str(fields[name]).isdigit() if name in TIME_OF_DAY_FIELDS else field.is_default
            for name, field in fields.items()
        )
        if daily:
            hour, minute, second = (int(str(fields[name])) for name in TIME_OF_DAY_FIELDS)
            at = time(hour, minute, second)
            return "cron: " + Daily(at).describe()
    return str(trigger)


def stored_trigger(job: DjangoJob) -> object | None:
    """The trigger a scheduler registered for a stored job, None when its state cannot be read."""
    try:
        # The job store's own rows, written by our scheduler: the same data DjangoJobStore unpickles.
        state: dict[str, object] = pickle.loads(bytes(job.job_state))
        return state["trigger"]
    except UNREADABLE_STATE:
        logger.warning("scheduler page: cannot read the stored state of job %s", job.id, exc_info=True)
        return None


def _execution_url(name: str, *args: Any) -> str | None:
    try:
        return reverse(f"admin:django_apscheduler_djangojobexecution_{name}", args=args)
    except NoReverseMatch:  # django-apscheduler's admin is not on this site.
        return None


def _latest_executions(job_ids: list[str], **filters: Any) -> dict[str, DjangoJobExecution]:
    """The latest execution of each job (one query: Postgres' DISTINCT ON)."""
    rows = (
        DjangoJobExecution.objects.filter(job_id__in=job_ids, **filters)
        .order_by("job_id", "-run_time")
        .distinct("job_id")
    )
    return {row.job_id: row for row in rows}


def _last_run(execution: DjangoJobExecution | None, *, leader: bool) -> LastRun | None:
    if execution is None:
        return None
    outcome = OUTCOMES.get(execution.status, Outcome("unknown", execution.status))
    if outcome.key == "running" and not leader:
        outcome = NO_END_RECORDED
    return LastRun(
        execution_id=execution.pk,
        scheduled_at=execution.run_time,
        outcome=outcome,
        duration_s=None if execution.duration is None else float(execution.duration),
        error=execution.exception or "",
        url=_execution_url("change", execution.pk),
    )


def duty_statuses(*, leader: bool, now: datetime | None = None) -> list[DutyStatus]:
    """Every declared duty, in declaration order, with its stored schedule and latest runs."""
    now = now or timezone.now()
    job_ids = [duty.job_id for duty in DUTIES]
    jobs = {job.id: job for job in DjangoJob.objects.filter(id__in=job_ids)}
    last = _latest_executions(job_ids)
    succeeded = _latest_executions(job_ids, status=DjangoJobExecution.SUCCESS)
    history = _execution_url("changelist")
    statuses = []
    for duty in DUTIES:
        declared = describe_trigger(schedule_of(duty).trigger())
        job = jobs.get(duty.job_id)
        stored = stored_trigger(job) if job is not None else None
        trigger = declared if stored is None else describe_trigger(stored)
        next_run = job.next_run_time if job is not None else None
        success = succeeded.get(duty.job_id)
        statuses.append(
            DutyStatus(
                duty=duty,
                trigger=trigger,
                declared_trigger=declared if trigger != declared else None,
                registered=job is not None,
                next_run=next_run,
                next_in_s=None if next_run is None else (next_run - now).total_seconds(),
                last_run=_last_run(last.get(duty.job_id), leader=leader),
                last_success_at=success.run_time if success is not None else None,
                history_url=f"{history}?job__id__exact={duty.job_id}" if history else None,
            )
        )
    return statuses


class SchedulerPage(DashboardPage):
    """Duties, their triggers, next and last runs, and which `runscheduler` leads (or that none does)."""

    tab = "scheduler"
    template_name = "gifting_jobs/dashboard/scheduler.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        sessions = scheduler_sessions()
        leader: SchedulerSession | None = next((s for s in sessions if s.leader), None)
        return {
            **super().get_context_data(**kwargs),
            "leader": leader,
            "standbys": [s for s in sessions if not s.leader],
            "duties": duty_statuses(leader=leader is not None),
        }
