"""`manage.py runscheduler` processes on one database: one active, duties once per period, takeover, SIGTERM.

The schedulers run with `--tick-seconds 1` (every duty each second) and
`--poll-seconds 0.5`, so a test sees many periods and a takeover in seconds.
Documented takeover bound: the standby's poll interval after the active
scheduler's session ends (plus its start-up); asserted here with slack for a
busy machine.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from gifting_jobs.scheduling import current_holder
from tests.conftest import ManagePyProcess, wait_until

pytestmark = pytest.mark.slow

#: Scheduler options of these tests.
TICK_SECONDS = 1
POLL_SECONDS = 0.5
#: Takeover must happen within the poll interval; the rest is slack for start-up on a loaded machine.
TAKEOVER_SLACK_SECONDS = 10.0
RUN_LINE = re.compile(r"duty (\w+) running for period (\S+)")


class SchedulerProcess(ManagePyProcess):
    """`manage.py runscheduler` in a subprocess, logging at INFO (its duty runs are read from the log)."""

    stop_timeout = 30.0

    def __init__(self, *args: str) -> None:
        super().__init__("runscheduler", *args, env={"LOG_LEVEL": "INFO"})

    @property
    def name(self) -> str:
        """The application name of its leader-lock session (see `holder_name`)."""
        return f"runscheduler@{os.uname().nodename}:{self.proc.pid}"

    def runs(self) -> list[tuple[str, str]]:
        return RUN_LINE.findall(self.output())


@pytest.fixture
def schedulers(clean_broker, transactional_db) -> Iterator[Callable[..., SchedulerProcess]]:
    started: list[SchedulerProcess] = []

    def start(*args: str) -> SchedulerProcess:
        process = SchedulerProcess("--tick-seconds", str(TICK_SECONDS), "--poll-seconds", str(POLL_SECONDS), *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def test_runscheduler__two_processes_run_each_duty_once_per_period(schedulers):
    # Given two schedulers on one database
    a, b = schedulers(), schedulers()
    holder = wait_until(current_holder, timeout=30, what="a scheduler to take the leader lock")
    active, standby = (a, b) if holder == a.name else (b, a)
    assert holder == active.name

    # When they run side by side for several periods
    wait_until(lambda: len({p for d, p in active.runs() if d == "reminder_sweep"}) >= 6, timeout=60, what="6 periods")
    standby.stop()
    active.stop()

    # Then every duty ran once per period, all on the active scheduler
    runs = Counter(active.runs() + standby.runs())
    assert runs and set(runs.values()) == {1}, runs
    assert standby.runs() == []
    assert {duty for duty, _ in runs} == {"daily_curated_collections", "reminder_sweep", "prune", "reconcile"}
    assert "is the active scheduler" in active.output() and "is the active scheduler" not in standby.output()
    assert "already ran" not in active.output() + standby.output()


def test_runscheduler__the_standby_takes_over_when_the_active_one_is_killed(schedulers):
    a, b = schedulers(), schedulers()
    holder = wait_until(current_holder, timeout=30, what="a scheduler to take the leader lock")
    active, standby = (a, b) if holder == a.name else (b, a)
    wait_until(lambda: active.runs(), timeout=30, what="the active scheduler's first duty run")

    # When the active scheduler is SIGKILLed (no chance to release anything)
    active.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    active.proc.wait(timeout=10)

    # Then the standby holds the lock within its poll interval (plus start-up slack), and runs the duties
    wait_until(lambda: current_holder() == standby.name, timeout=POLL_SECONDS + TAKEOVER_SLACK_SECONDS, what="takeover")
    takeover = time.monotonic() - killed_at
    wait_until(lambda: standby.runs(), timeout=30, what="the standby's first duty run")
    assert takeover < POLL_SECONDS + TAKEOVER_SLACK_SECONDS
    periods = Counter(active.runs() + standby.runs())
    assert set(periods.values()) == {1}, periods


def test_runscheduler__sigterm_stops_cleanly_and_releases_the_lock(schedulers):
    scheduler = schedulers()
    wait_until(lambda: current_holder() == scheduler.name, timeout=30, what="the scheduler to lead")

    scheduler.signal(signal.SIGTERM)

    assert scheduler.proc.wait(timeout=30) == 0
    assert current_holder() is None
    assert "stopped" in scheduler.output()


def test_runscheduler__a_standby_exits_cleanly_on_sigterm_too(schedulers):
    a, b = schedulers(), schedulers()
    holder = wait_until(current_holder, timeout=30, what="a scheduler to lead")
    standby = b if holder == a.name else a
    wait_until(lambda: "standing by" in standby.output(), timeout=30, what="the standby to start")

    standby.signal(signal.SIGINT)

    assert standby.proc.wait(timeout=30) == 0
    assert current_holder() == holder
