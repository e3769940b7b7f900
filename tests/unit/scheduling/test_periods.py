"""Schedules and periods of the periodic duties, and the duty list itself."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from gifting_jobs.conf import parse_settings
from gifting_jobs.scheduling import DUTIES, Daily, Every, get_duty
from gifting_jobs.scheduling.duties import JOB_ID_PREFIX, schedule_of


def test_daily_period__a_run_after_the_tick_belongs_to_that_day():
    daily = Daily(time(2, 0))
    late = daily.period(datetime(2026, 11, 28, 17, 45, tzinfo=UTC))
    assert late.key == "2026-11-28" and late.start == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    assert late.length == timedelta(days=1)


def test_daily_period__before_the_tick_is_still_yesterday():
    daily = Daily(time(2, 0))
    assert daily.period(datetime(2026, 11, 28, 1, 59, 59, tzinfo=UTC)).key == "2026-11-27"
    assert daily.period(datetime(2026, 11, 28, 2, 0, tzinfo=UTC)).key == "2026-11-28"


def test_daily_trigger__fires_at_the_time_in_utc():
    trigger = Daily(time(2, 0)).trigger()
    assert isinstance(trigger, CronTrigger)
    after = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, after) == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def test_every_period__boundaries_count_from_the_epoch():
    every = Every(60)
    a = every.period(datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC))
    b = every.period(datetime(2026, 11, 28, 12, 0, 59, 999000, tzinfo=UTC))
    c = every.period(datetime(2026, 11, 28, 12, 1, 0, tzinfo=UTC))
    assert a == b and a.key != c.key
    assert a.start == datetime(2026, 11, 28, 12, 0, tzinfo=UTC) and a.length == timedelta(seconds=60)


def test_every_trigger__fires_on_the_same_boundaries_as_its_periods():
    trigger = Every(60).trigger()
    assert isinstance(trigger, IntervalTrigger)
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 28, 12, 0, 20, tzinfo=UTC))
    assert fire == datetime(2026, 11, 28, 12, 1, tzinfo=UTC)


def test_every__rejects_a_zero_interval():
    with pytest.raises(ValueError, match="at least 1 second"):
        Every(0)


def test_duties__one_declared_list_with_unique_names_and_resolvable_schedules():
    conf = parse_settings({"REMINDER_SWEEP_SECONDS": 300})
    names = [duty.name for duty in DUTIES]
    assert names == ["daily_curated_collections", "reminder_sweep", "prune", "reconcile"]
    assert len(set(names)) == len(names)
    assert all(duty.job_id == JOB_ID_PREFIX + duty.name for duty in DUTIES)
    assert get_duty("reminder_sweep").schedule(conf) == Every(300)
    assert get_duty("daily_curated_collections").schedule(conf) == Daily(time(2, 0))
    assert get_duty("daily_curated_collections").misfire_grace == timedelta(days=1)
    assert all(duty.description for duty in DUTIES)


def test_schedule_of__a_forced_tick_overrides_every_schedule():
    assert {schedule_of(duty, tick_seconds=3) for duty in DUTIES} == {Every(3)}
