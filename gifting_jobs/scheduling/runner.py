"""The scheduler process: stand by until the leader lock is ours, then run the duties.

`SchedulerRunner.run()` loops: try the lock every `poll_seconds`; once held, start
a django-apscheduler `BlockingScheduler` (DjangoJobStore) with every duty, and
check every `poll_seconds` that the lock is still ours. It returns when asked to
stop (`request_stop()`, e.g. from SIGTERM), after shutting the scheduler down and
releasing the lock. Losing the lock (the database connection dropped) stops the
scheduler and goes back to standing by.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from django_apscheduler.jobstores import DjangoJobStore
from django_apscheduler.models import DjangoJob

from gifting_jobs.conf import get_settings
from gifting_jobs.scheduling.duties import DUTIES, JOB_ID_PREFIX, Duty, holder_name, run_duty, schedule_of
from gifting_jobs.scheduling.leader import LeaderLock

logger = logging.getLogger(__name__)

#: Threads running duties; each duty runs one instance at a time, so one per duty suffices.
EXECUTOR_THREADS = len(DUTIES)


@dataclass(frozen=True)
class RegisteredDuty:
    """A duty as registered: its schedule, and whether a missed run is being caught up."""

    duty: Duty
    schedule: str
    catching_up: bool


def register_duties(
    scheduler: BaseScheduler, *, tick_seconds: int | None = None, now: datetime | None = None
) -> list[RegisteredDuty]:
    """Add every duty to `scheduler` (replacing stored jobs), keeping a missed run so it is caught up once.

    `replace_existing=True` alone would recompute each next run from now and drop
    a tick missed while no scheduler ran; so a stored next run in the past is kept,
    and APScheduler runs it once at start (coalesce=True) if it is within the
    duty's misfire grace. Stored jobs of duties no longer declared are removed.
    """
    now = now or timezone.now()
    stored = dict(DjangoJob.objects.filter(id__startswith=JOB_ID_PREFIX).values_list("id", "next_run_time"))
    declared = {duty.job_id for duty in DUTIES}
    DjangoJob.objects.filter(id__in=set(stored) - declared).delete()
    registered = []
    for duty in DUTIES:
        schedule = schedule_of(duty, tick_seconds=tick_seconds)
        previous = stored.get(duty.job_id)
        catching_up = previous is not None and previous <= now
        options = {"next_run_time": previous} if catching_up else {}
        scheduler.add_job(
            run_duty,
            trigger=schedule.trigger(),
            args=[duty.name],
            kwargs={"tick_seconds": tick_seconds} if tick_seconds else {},
            id=duty.job_id,
            name=duty.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None if duty.misfire_grace is None else int(duty.misfire_grace.total_seconds()),
            replace_existing=True,
            **options,
        )
        registered.append(RegisteredDuty(duty=duty, schedule=schedule.describe(), catching_up=catching_up))
    return registered


class SchedulerRunner:
    """One `runscheduler` process: standby, leader, and a clean stop."""

    def __init__(self, *, poll_seconds: float | None = None, tick_seconds: int | None = None) -> None:
        self.poll_seconds = poll_seconds or get_settings().SCHEDULER_POLL_SECONDS
        self.tick_seconds = tick_seconds
        self.name = holder_name()
        self.lock = LeaderLock(application_name=self.name)
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Stop soon: safe from a signal handler (it only sets a flag; a watcher thread does the rest)."""
        self._stop.set()

    def run(self) -> None:
        """Stand by, lead, and return once a stop was requested (lock released)."""
        logger.info("scheduler %s standing by (polling the leader lock every %ss)", self.name, self.poll_seconds)
        try:
            while not self._stop.is_set():
                if not self.lock.try_acquire():
                    self._stop.wait(self.poll_seconds)
                    continue
                try:
                    self._lead()
                except DatabaseError:
                    logger.error("scheduler %s could not run its duties", self.name, exc_info=True)
                    self.lock.release()  # Let a healthier scheduler lead meanwhile.
                    self._stop.wait(self.poll_seconds)
                if not self._stop.is_set():
                    logger.warning("scheduler %s lost the leader lock; standing by again", self.name)
        finally:
            self.lock.release()
            logger.info("scheduler %s stopped", self.name)

    def _lead(self) -> None:
        # A connection left from an earlier leadership may be dead (that is often why it ended).
        close_old_connections()
        scheduler = BlockingScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(max_workers=EXECUTOR_THREADS)},
        )
        scheduler.add_jobstore(DjangoJobStore(), "default")
        for entry in register_duties(scheduler, tick_seconds=self.tick_seconds):
            logger.info(
                "duty %s: %s%s",
                entry.duty.name,
                entry.schedule,
                ", catching up a missed run" if entry.catching_up else "",
                extra={"duty": entry.duty.name},
            )
        watcher = threading.Thread(target=self._watch, args=(scheduler,), name="scheduler-watch", daemon=True)
        # Started once the scheduler runs, so its shutdown can never come before the start.
        scheduler.add_listener(lambda event: watcher.start(), EVENT_SCHEDULER_STARTED)
        logger.info("scheduler %s is the active scheduler", self.name, extra={"holder": self.name})
        try:
            scheduler.start()  # Blocks until the watcher shuts it down.
        finally:
            self._stop_scheduler(scheduler)
            if watcher.is_alive():
                watcher.join(timeout=self.poll_seconds + 1)
            self.lock.release()

    def _watch(self, scheduler: BlockingScheduler) -> None:
        """Shut the scheduler down when a stop is requested or the lock is no longer ours."""
        while not self._stop.wait(self.poll_seconds):
            if not self.lock.held():
                logger.error("scheduler %s no longer holds the leader lock: stopping its duties", self.name)
                break
        self._stop_scheduler(scheduler)

    @staticmethod
    def _stop_scheduler(scheduler: BlockingScheduler) -> None:
        # Waits for a running duty to finish, so a sweep is never cut between claim and enqueue.
        if scheduler.state != STATE_STOPPED:
            try:
                scheduler.shutdown(wait=True)
            except Exception:
                logger.warning("scheduler shutdown raised", exc_info=True)
