"""Periodic duties: once per period, a missed daily run caught up once, stored jobs replaced."""

from __future__ import annotations

import pickle
import threading
from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from django.db import connection
from django.utils import timezone
from django_apscheduler.jobstores import DjangoJobStore
from django_apscheduler.models import DjangoJob, DjangoJobExecution
from dramatiq.message import Message

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ConfigurationError
from gifting_jobs.models import NotificationSchedule
from gifting_jobs.scheduling import DUTIES, Daily, Every, register_duties, run_duty
from tests.conftest import wait_until
from tests.integration.reminders.conftest import make_occasion, make_schedule, make_user

COLLECTIONS_JOB = "gifting_jobs.daily_curated_collections"


def collection_messages(broker) -> list[Message]:
    """The curated-collections jobs waiting in Redis (priority 8: the bulk band)."""
    return [Message.decode(m) for m in broker.client.hvals(f"{broker.namespace}:collections.bulk.msgs")]


def new_scheduler() -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_jobstore(DjangoJobStore(), "default")
    return scheduler


def test_run_duty__fired_twice_in_one_period_does_the_work_once(clean_broker, transactional_db):
    results: list[object] = []

    def fire() -> None:
        try:
            results.append(run_duty("daily_curated_collections"))
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    results.append(run_duty("daily_curated_collections"))

    ran = [r for r in results if r is not None]
    assert len(ran) == 1 and len(results) == 4
    today = Daily(get_settings().DAILY_COLLECTIONS_AT).period(timezone.now()).start.date()
    messages = collection_messages(clean_broker)
    assert sorted(m.args[0]["surface"] for m in messages) == ["discovery", "home", "occasion"]
    assert {m.args[0]["target_date"] for m in messages} == {today.isoformat()}
    assert {m.args[0]["triggered_by"] for m in messages} == {"scheduler"}


def test_run_duty__the_next_period_runs_again(clean_broker, transactional_db):
    first_period = Every(1).period(timezone.now()).key
    assert run_duty("reminder_sweep", tick_seconds=1) == 0
    wait_until(lambda: Every(1).period(timezone.now()).key != first_period, timeout=5, what="the next second")

    assert run_duty("reminder_sweep", tick_seconds=1) == 0


def test_run_duty__an_unknown_duty_names_the_known_ones(transactional_db):
    with pytest.raises(LookupError, match="unknown periodic duty 'sweep'; known duties: daily_curated_collections"):
        run_duty("sweep")


def test_reminder_sweep_duty__claims_due_reminders_and_those_due_before_the_next_sweep(clean_broker, transactional_db):
    occasion = make_occasion(make_user())
    due = make_schedule(occasion, offset_days=1)
    soon = make_schedule(occasion, offset_days=2, scheduled_for=timezone.now() + timedelta(seconds=30))
    later = make_schedule(occasion, offset_days=3, scheduled_for=timezone.now() + timedelta(minutes=5))

    assert run_duty("reminder_sweep") == 2

    claimed = set(NotificationSchedule.objects.filter(claimed_at__isnull=False).values_list("pk", flat=True))
    assert claimed == {due.pk, soon.pk} and later.pk not in claimed
    delayed = [
        Message.decode(m) for m in clean_broker.client.hvals(f"{clean_broker.namespace}:reminders.urgent.DQ.msgs")
    ]
    assert [m.args[0]["schedule_id"] for m in delayed] == [soon.pk]


def test_register_duties__a_missed_daily_run_is_caught_up_once(clean_broker, transactional_db):
    # Given duties stored by an earlier scheduler
    first = new_scheduler()
    register_duties(first)
    first.start(paused=True)
    first.shutdown()
    # ...and three days without any scheduler since the collections' last tick
    now = timezone.now()
    latest = Daily(get_settings().DAILY_COLLECTIONS_AT).period(now).start
    DjangoJob.objects.filter(id=COLLECTIONS_JOB).update(next_run_time=latest - timedelta(days=3))

    # When a scheduler starts again
    scheduler = new_scheduler()
    registered = {entry.duty.name: entry for entry in register_duties(scheduler)}
    scheduler.start()
    try:
        wait_until(
            lambda: DjangoJobExecution.objects.filter(
                job_id=COLLECTIONS_JOB, status=DjangoJobExecution.SUCCESS
            ).exists(),
            what="the caught-up collections run",
        )
    finally:
        scheduler.shutdown(wait=True)
        connection.close()

    # Then the collections ran once, for the latest missed day, and wait for their next tick
    assert registered["daily_curated_collections"].catching_up
    assert not registered["prune"].catching_up
    executions = DjangoJobExecution.objects.filter(job_id=COLLECTIONS_JOB)
    assert executions.count() == 1 and executions.get().run_time == latest
    messages = collection_messages(clean_broker)
    assert len(messages) == 3 and {m.args[0]["target_date"] for m in messages} == {latest.date().isoformat()}
    assert DjangoJob.objects.get(id=COLLECTIONS_JOB).next_run_time == latest + timedelta(days=1)


def test_register_duties__a_first_start_runs_nothing_missed(transactional_db):
    scheduler = new_scheduler()

    registered = register_duties(scheduler)
    scheduler.start(paused=True)
    scheduler.shutdown()

    assert not any(entry.catching_up for entry in registered)
    assert DjangoJob.objects.filter(next_run_time__lte=timezone.now()).count() == 0
    assert sorted(DjangoJob.objects.values_list("id", flat=True)) == [
        "gifting_jobs.daily_curated_collections",
        "gifting_jobs.prune",
        "gifting_jobs.reconcile",
        "gifting_jobs.reminder_sweep",
    ]


def test_register_duties__replaces_stored_jobs_and_drops_undeclared_ones(transactional_db):
    DjangoJob.objects.create(id="gifting_jobs.renamed_duty", next_run_time=timezone.now(), job_state=pickle.dumps({}))
    DjangoJob.objects.create(id="someone_else.job", next_run_time=None, job_state=pickle.dumps({}))
    for _ in range(2):
        scheduler = new_scheduler()
        register_duties(scheduler)
        scheduler.start(paused=True)
        scheduler.shutdown()

    ids = set(DjangoJob.objects.values_list("id", flat=True))
    assert "gifting_jobs.renamed_duty" not in ids and "someone_else.job" in ids
    assert len([i for i in ids if i.startswith("gifting_jobs.")]) == len(DUTIES)


def test_run_duty__a_failed_run_gives_its_period_back(clean_broker, transactional_db, settings):
    # Given a sweep that fails mid-run (its settings turned invalid after the scheduler started)
    good = settings.GIFTING_JOBS
    settings.GIFTING_JOBS = {**good, "REMINDER_SWEEP_BATCH_SIZE": 0}
    with pytest.raises(ConfigurationError, match="REMINDER_SWEEP_BATCH_SIZE"):
        run_duty("reminder_sweep", tick_seconds=3600)

    # When the cause is fixed, the same period runs (its mark was given back)
    settings.GIFTING_JOBS = good
    assert run_duty("reminder_sweep", tick_seconds=3600) == 0
    assert run_duty("reminder_sweep", tick_seconds=3600) is None
