"""The Scheduler page: every duty with its trigger, next and last run and outcome, and who holds leadership."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_apscheduler.jobstores import DjangoJobStore
from django_apscheduler.models import DjangoJobExecution

from gifting_jobs.dashboard.scheduler import describe_trigger
from gifting_jobs.scheduling import DUTIES, Daily, Every, LeaderLock, current_holder, register_duties
from tests.conftest import ManagePyProcess, wait_until
from tests.integration.dashboard.tables import Row, table_rows

URL = reverse("admin:gifting_jobs_dashboard_scheduler")
#: The declared triggers with the default settings, as the page spells them.
DECLARED = {
    "daily_curated_collections": "cron: daily at 02:00 UTC",
    "reminder_sweep": "interval: every 60 s",
    "prune": "cron: daily at 03:30 UTC",
    "reconcile": "interval: every 3600 s",
}


def duty_rows(html: str) -> dict[str, Row]:
    return {row.attrs["data-duty"]: row for row in table_rows(html, "scheduler-duties") if "data-duty" in row.attrs}


def finished(*statuses: str) -> bool:
    """Whether every duty has an execution that ended with one of `statuses`."""
    done = set(DjangoJobExecution.objects.filter(status__in=statuses).values_list("job_id", flat=True))
    return done == {duty.job_id for duty in DUTIES}


def run_duties_in_a_scheduler(*, until: str) -> None:
    """Run every duty each second in a scheduler on the job store, as `runscheduler --tick-seconds 1` does,
    until each has an execution with the status `until`."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_jobstore(DjangoJobStore(), "default")
    register_duties(scheduler, tick_seconds=1)
    scheduler.start()
    try:
        wait_until(lambda: finished(until), timeout=30, what=f"every duty to end a run with {until!r}")
    finally:
        scheduler.shutdown(wait=True)
        connection.close()


@pytest.fixture
def locks() -> Iterator[list[LeaderLock]]:
    made: list[LeaderLock] = []
    yield made
    for lock in made:
        lock.release()


def test_describe_trigger__spells_the_duties_triggers() -> None:
    from datetime import time

    assert describe_trigger(Daily(time(2, 0)).trigger()) == "cron: daily at 02:00 UTC"
    assert describe_trigger(Every(60).trigger()) == "interval: every 60 s"


@pytest.mark.django_db
def test_scheduler_page__lists_every_duty_with_its_trigger_before_any_scheduler_ran(dashboard_client: Client) -> None:
    html = dashboard_client.get(URL).content.decode()

    rows = duty_rows(html)
    assert list(rows) == [duty.name for duty in DUTIES]
    for name, row in rows.items():
        trigger, next_run, last_run = row.cells[1:4]
        assert trigger == DECLARED[name]
        assert next_run == "not registered yet (no scheduler has started)"
        assert last_run == "never ran"
    assert "No leader: the scheduler is not running." in html


@pytest.mark.django_db(transaction=True)
def test_scheduler_page__after_the_duties_ran_shows_next_run_last_run_and_outcome(
    dashboard_client: Client, clean_broker
) -> None:
    # Given a scheduler that ran every duty (each second) and stopped
    run_duties_in_a_scheduler(until=DjangoJobExecution.SUCCESS)

    html = dashboard_client.get(URL).content.decode()

    # Then each duty shows the trigger the scheduler registered, its next run, last run and a success
    for name, row in duty_rows(html).items():
        trigger, next_run, last_run, outcome, took = row.cells[1:6]
        assert trigger.startswith("interval: every 1 s") and f"declared: {DECLARED[name]}" in trigger, trigger
        assert next_run.startswith("20") and ("overdue by" in next_run or " in " in next_run), next_run
        assert last_run.startswith("20") and "history" in last_run
        assert outcome == "success", (name, outcome)
        assert took.endswith(("ms", " s")), took
    history = reverse("admin:django_apscheduler_djangojobexecution_changelist")
    assert f"{history}?job__id__exact=gifting_jobs.reminder_sweep" in html


@pytest.mark.django_db(transaction=True)
def test_scheduler_page__a_failed_duty_shows_its_error(dashboard_client: Client, clean_broker, settings) -> None:
    # Given duties that ran well once, then failed (settings turned invalid after the scheduler started)
    run_duties_in_a_scheduler(until=DjangoJobExecution.SUCCESS)
    good = settings.GIFTING_JOBS
    settings.GIFTING_JOBS = {**good, "REMINDER_SWEEP_BATCH_SIZE": 0}
    run_duties_in_a_scheduler(until=DjangoJobExecution.ERROR)
    settings.GIFTING_JOBS = good

    # Then each duty shows the error, when it last succeeded, and links the failed execution (its traceback)
    html = dashboard_client.get(URL).content.decode()
    for duty in DUTIES:
        outcome = duty_rows(html)[duty.name].cells[4]
        assert outcome.startswith("error") and "REMINDER_SWEEP_BATCH_SIZE" in outcome, outcome
        assert "last success 20" in outcome
        failed = DjangoJobExecution.objects.filter(job_id=duty.job_id).latest("run_time")
        assert failed.status == DjangoJobExecution.ERROR
        assert reverse("admin:django_apscheduler_djangojobexecution_change", args=[failed.pk]) in html


@pytest.mark.django_db(transaction=True)
def test_scheduler_page__names_the_leader_and_its_standbys(dashboard_client: Client, locks) -> None:
    # Given a leader and a standby, named as `runscheduler` names its lock sessions
    leader = LeaderLock(application_name="runscheduler@sched-host-1:4242")
    standby = LeaderLock(application_name="runscheduler@sched-host-2:77")
    locks.extend([leader, standby])
    assert leader.try_acquire() and not standby.try_acquire()

    html = dashboard_client.get(URL).content.decode()

    assert 'class="scheduler-leader-host">sched-host-1<' in html
    assert 'class="scheduler-leader-pid">4242<' in html
    assert 'class="scheduler-standby">sched-host-2 (pid 77)<' in html
    assert "No leader" not in html

    # When the leader stops, the page says nobody leads (and the standby still stands by)
    leader.release()
    html = dashboard_client.get(URL).content.decode()
    assert "No leader: the scheduler is not running." in html
    assert "sched-host-1" not in html and "sched-host-2 (pid 77)" in html


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_scheduler_page__shows_the_host_of_a_running_runscheduler(dashboard_client: Client, clean_broker) -> None:
    # Given `manage.py runscheduler` running in its own process
    process = ManagePyProcess("runscheduler", "--poll-seconds", "0.5")
    try:
        name = f"runscheduler@{os.uname().nodename}:{process.proc.pid}"
        wait_until(lambda: current_holder() == name, timeout=30, what="runscheduler to take the leader lock")

        # Then the page names its host and pid, and lists the duties it registered with their next run
        html = dashboard_client.get(URL).content.decode()
        assert f'class="scheduler-leader-host">{os.uname().nodename}<' in html
        assert f'class="scheduler-leader-pid">{process.proc.pid}<' in html
        wait_until(lambda: "not registered yet" not in dashboard_client.get(URL).content.decode(), what="duties stored")
        for name, row in duty_rows(dashboard_client.get(URL).content.decode()).items():
            assert row.cells[1] == DECLARED[name] and " in " in row.cells[2], row.cells
    finally:
        process.stop()

    # When it stops, nobody leads
    assert process.proc.returncode == 0, process.output()
    assert "No leader: the scheduler is not running." in dashboard_client.get(URL).content.decode()
