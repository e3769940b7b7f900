"""The periodic duties: one declared list of (name, trigger, function), and how a duty runs.

Duties only enqueue or do small database work; the heavy work runs in Dramatiq.
Each run belongs to a period (the day of a daily duty, the interval of an
interval duty) and takes that period's mark in Redis first, so a duty fired
twice for one period (two schedulers during a takeover, a restart mid-tick)
does its work once.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import redis
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.utils import timezone
from django_apscheduler.util import close_old_connections

from gifting_jobs.conf import GiftingJobsSettings, get_settings

logger = logging.getLogger(__name__)

#: Interval periods are counted from here, so every scheduler agrees on their boundaries.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A period's mark outlives the period by this factor (a late duplicate still finds it).
MARK_TTL_PERIODS = 2
#: UTC time of the daily pruning.
PRUNE_AT = time(3, 30)
#: DjangoJob ids of our duties start with this (other jobs in the store are not ours to touch).
JOB_ID_PREFIX = "gifting_jobs."
#: Every scheduler's holder name starts with this: `runscheduler@<host>:<pid>`.
HOLDER_PREFIX = "runscheduler@"


@dataclass(frozen=True)
class Period:
    """The period a duty run belongs to: `key` names it, it starts at `start` and lasts `length`."""

    key: str
    start: datetime
    length: timedelta


@dataclass(frozen=True)
class Daily:
    """Once a day at `at` (UTC)."""

    at: time

    def trigger(self) -> BaseTrigger:
        return CronTrigger(hour=self.at.hour, minute=self.at.minute, second=self.at.second, timezone=UTC)

    def period(self, now: datetime) -> Period:
        """The day of the latest tick at or before `now` (a late run still belongs to its day)."""
        start = datetime.combine(now.astimezone(UTC).date(), self.at, tzinfo=UTC)
        if start > now:
            start -= timedelta(days=1)
        return Period(key=start.date().isoformat(), start=start, length=timedelta(days=1))

    def describe(self) -> str:
        return f"daily at {self.at:%H:%M} UTC"


@dataclass(frozen=True)
class Every:
    """Every `seconds`, on boundaries counted from the Unix epoch."""

    seconds: int

    def __post_init__(self) -> None:
        if self.seconds < 1:
            raise ValueError(f"an interval must be at least 1 second, got {self.seconds}")

    def trigger(self) -> BaseTrigger:
        return IntervalTrigger(seconds=self.seconds, start_date=EPOCH, timezone=UTC)

    def period(self, now: datetime) -> Period:
        index = int((now - EPOCH).total_seconds()) // self.seconds
        start = EPOCH + timedelta(seconds=index * self.seconds)
        return Period(key=f"{self.seconds}s:{index}", start=start, length=timedelta(seconds=self.seconds))

    def describe(self) -> str:
        return f"every {self.seconds} s"


Schedule = Daily | Every


@dataclass(frozen=True)
class Duty:
    """One periodic duty: its name, when it runs, what it does, and its missed-run policy."""

    name: str
    schedule: Callable[[GiftingJobsSettings], Schedule]
    run: Callable[[Period], object]
    #: How late a missed tick may still run (None: however late). Missed ticks coalesce into one run.
    misfire_grace: timedelta | None
    description: str

    @property
    def job_id(self) -> str:
        return JOB_ID_PREFIX + self.name


def run_daily_collections(period: Period) -> object:
    """Enqueue the day's curated collections, one job per surface (ids carry surface + date + params)."""
    from gifting_jobs.jobs import schedule_daily_curated_collections

    jobs = schedule_daily_curated_collections(period.start.date())
    return [f"{job.id} {job.outcome}" for job in jobs]


def run_reminder_sweep(period: Period) -> object:
    """Claim due reminders and enqueue their dispatch; those due before the next sweep go with a delay."""
    from gifting_jobs.services.reminders import process_overdue_reminders

    conf = get_settings()
    lookahead = min(period.length, conf.delay_horizon)
    return process_overdue_reminders(conf.REMINDER_SWEEP_BATCH_SIZE, lookahead=lookahead)


def run_prune(period: Period) -> object:
    """Delete what the retention period no longer keeps; returns the counts per kind."""
    from gifting_jobs.scheduling.pruning import prune_old_records

    return prune_old_records()


def run_reconcile(period: Period) -> object:
    """Re-enqueue the jobs of stale products and profiles (work lost with Redis' data), bounded, deduplicated."""
    from gifting_jobs.services.reconcile import reconcile_stale

    return str(reconcile_stale(limit=get_settings().RECONCILE_LIMIT))


#: Every periodic duty `runscheduler` runs. Stored jobs refer to `run_duty` and a name only,
#: so a duty's function can move without breaking the job store.
DUTIES: tuple[Duty, ...] = (
    Duty(
        name="daily_curated_collections",
        schedule=lambda conf: Daily(conf.DAILY_COLLECTIONS_AT),
        run=run_daily_collections,
        # A missed day is caught up once at restart (coalesced), whatever the downtime.
        misfire_grace=timedelta(days=1),
        description="enqueue the curated collections of every surface for the day",
    ),
    Duty(
        name="reminder_sweep",
        schedule=lambda conf: Every(conf.REMINDER_SWEEP_SECONDS),
        run=run_reminder_sweep,
        misfire_grace=None,
        description="claim due reminders (FOR UPDATE SKIP LOCKED) and enqueue their dispatch",
    ),
    Duty(
        name="prune",
        schedule=lambda conf: Daily(PRUNE_AT),
        run=run_prune,
        misfire_grace=None,
        description="delete job executions, sent/cancelled reminders and resolved dead letters past RETENTION_DAYS",
    ),
    Duty(
        name="reconcile",
        schedule=lambda conf: Every(conf.RECONCILE_SECONDS),
        run=run_reconcile,
        misfire_grace=None,
        description="re-enqueue embedding/enrichment jobs of stale products and taste profiles (Redis data loss)",
    ),
)


def get_duty(name: str) -> Duty:
    for duty in DUTIES:
        if duty.name == name:
            return duty
    known = ", ".join(d.name for d in DUTIES)
    raise LookupError(f"unknown periodic duty {name!r}; known duties: {known}")


def schedule_of(duty: Duty, *, tick_seconds: int | None = None) -> Schedule:
    """The duty's schedule, or `Every(tick_seconds)` when a test or diagnosis forces a tick."""
    return Every(tick_seconds) if tick_seconds else duty.schedule(get_settings())


def holder_name() -> str:
    """Who runs duties here, as recorded in period marks and the leader lock's session."""
    return f"{HOLDER_PREFIX}{socket.gethostname()}:{os.getpid()}"


def parse_holder_name(name: str) -> tuple[str, int | None]:
    """The host and pid in a holder name (pid None when unreadable, e.g. cut at Postgres' 63 characters)."""
    host, _, pid = name.removeprefix(HOLDER_PREFIX).rpartition(":")
    if not host or not pid.isdigit():
        return name.removeprefix(HOLDER_PREFIX), None
    return host, int(pid)


def period_mark(duty: Duty, period: Period) -> tuple[str, ...]:
    """The name of a period's mark (see `RedisBroker.take_mark`)."""
    return ("duty", duty.name, period.key)


def take_period_mark(duty: Duty, period: Period) -> str | None:
    """Mark the period as run by this process; None if taken, else who took it first.

    Redis being down must not stop the duties (their jobs are held in Postgres
    then): the run goes ahead, relying on the job ids and row claims alone.
    """
    from gifting_jobs.broker import get_broker

    ttl_ms = int(period.length.total_seconds() * 1000) * MARK_TTL_PERIODS
    try:
        return get_broker().take_mark(period_mark(duty, period), holder_name(), ttl_ms=ttl_ms)
    except redis.RedisError as exc:
        logger.warning("duty %s: cannot reach Redis to mark period %s (%s); running anyway", duty.name, period.key, exc)
        return None


def release_period_mark(duty: Duty, period: Period) -> None:
    """Give the period back if this process holds its mark (atomic compare-and-delete)."""
    from gifting_jobs.broker import get_broker

    try:
        get_broker().release_mark(period_mark(duty, period), holder_name())
    except redis.RedisError:
        logger.warning("duty %s: cannot reach Redis to release period %s", duty.name, period.key)


@close_old_connections  # type: ignore[untyped-decorator]  # django_apscheduler ships no type hints
def run_duty(name: str, tick_seconds: int | None = None) -> object:
    """Run a duty for the current period, once: the function the job store refers to.

    `close_old_connections` gives each run a usable connection and closes it after,
    as django-apscheduler recommends for jobs running in its thread pool.
    """
    duty = get_duty(name)
    period = schedule_of(duty, tick_seconds=tick_seconds).period(timezone.now())
    extra = {"duty": duty.name, "period": period.key}
    owner = take_period_mark(duty, period)
    if owner is not None:
        logger.warning("duty %s already ran for period %s (by %s): skipped", duty.name, period.key, owner, extra=extra)
        return None
    logger.info("duty %s running for period %s", duty.name, period.key, extra={**extra, "holder": holder_name()})
    try:
        result = duty.run(period)
    except Exception:
        logger.error("duty %s failed for period %s", duty.name, period.key, exc_info=True, extra=extra)
        # A failed run does not count: a later fire in this period (a takeover, a restart) tries again.
        release_period_mark(duty, period)
        raise
    logger.info(
        "duty %s done for period %s: %s", duty.name, period.key, result, extra={**extra, "holder": holder_name()}
    )
    return result
