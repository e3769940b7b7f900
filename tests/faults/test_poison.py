"""A job that kills its worker (os._exit / SIGKILL of itself) next to innocent jobs: only it is blamed."""

from __future__ import annotations

import time

import pytest

from gifting_jobs.conf import get_settings
from gifting_jobs.dispatch import enqueue
from gifting_jobs.models import FailedJob, FailedJobReason
from tests.faults.conftest import seconds
from tests.faults.loads import duplicates, effects_done, send_effects
from tests.jobapp.models import Execution

pytestmark = pytest.mark.faults

#: The heartbeat of this scenario (shipped: 60 s), so that three crashes fit the suite's budget; named in its row.
HEARTBEAT_MS = 10_000
INNOCENTS = 150
HOLD_MS = 400
WORKERS = 2
DEADLINE_SECONDS = 180


def test_poison_job_next_to_innocent_jobs(redis_servers, use_redis, processes, fault_row):
    server = redis_servers()
    use_redis(server.url)
    env = {"FAULTS_HEARTBEAT_TIMEOUT_MS": str(HEARTBEAT_MS)}
    workers = [processes.worker(server.url, **env) for _ in range(WORKERS)]
    send_effects("innocent", INNOCENTS, hold_ms=HOLD_MS)
    # The poison starts while innocents run on the other threads of its worker
    while not Execution.objects.filter(key__startswith="innocent-").exists():
        time.sleep(0.05)
    poison = enqueue("test_crash", {"key": "poison", "triggered_by": "manual"}, {})
    started = time.monotonic()

    # Supervise like systemd would: restart a worker whose process died
    restarts = 0
    dead_lettered = None
    while time.monotonic() - started < DEADLINE_SECONDS:
        for index, worker in enumerate(workers):
            if worker.proc.poll() is not None:
                workers[index] = processes.worker(server.url, **env)
                restarts += 1
        if dead_lettered is None and FailedJob.objects.filter(job_id=poison.id).exists():
            dead_lettered = time.monotonic() - started
        if dead_lettered is not None and len(effects_done("innocent")) == INNOCENTS:
            break
        time.sleep(0.2)

    done = len(effects_done("innocent"))
    blamed = FailedJob.objects.exclude(job_id=poison.id).count()
    letter = FailedJob.objects.filter(job_id=poison.id).first()
    poison_runs = Execution.objects.filter(key="poison").count()
    expected_runs = 1 + get_settings().MAX_WORKER_CRASHES
    passed = (
        done == INNOCENTS
        and blamed == 0
        and duplicates("innocent") == 0
        and letter is not None
        and letter.reason == FailedJobReason.CRASHED
        and poison_runs == expected_runs
    )
    fault_row(
        scenario=f"Poison job (kills its worker) next to {INNOCENTS} innocent jobs (heartbeat {HEARTBEAT_MS // 1000} s)",
        sent=INNOCENTS + 1,
        ran=done,
        lost=INNOCENTS - done,
        ran_twice=duplicates("innocent"),
        recovery=f"{seconds(dead_lettered)} until the poison was dead-lettered",
        passed=passed,
        note=f"{blamed} innocents blamed; poison ran {poison_runs} times, {restarts} worker restarts",
    )
    assert passed
