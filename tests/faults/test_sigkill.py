"""Workers SIGKILLed 5 times under load, on the default heartbeat (60 s) and maintenance settings."""

from __future__ import annotations

import time

import psutil
import pytest

from gifting_jobs.models import FailedJob
from tests.faults.conftest import seconds
from tests.faults.loads import duplicates, effects_done, send_effects, started_by
from tests.faults.settings import SHIPPED_HEARTBEAT_TIMEOUT_MS
from tests.jobapp.models import Effect

pytestmark = pytest.mark.faults

JOBS = 2000
HOLD_MS = 40
KILLS = 5
#: Jobs that must complete between two kills (the attack is paced by progress, not by the clock).
PROGRESS_PER_KILL = 150
#: The issue's target: redelivery within the heartbeat timeout plus 10 s.
TARGET_SECONDS = SHIPPED_HEARTBEAT_TIMEOUT_MS / 1000 + 10
DEADLINE_SECONDS = 240


def process_ids(process) -> set[int]:
    """The rundramatiq master and its worker children."""
    root = psutil.Process(process.proc.pid)
    return {root.pid, *(child.pid for child in root.children(recursive=True))}


def test_sigkill_workers_5x_under_load(redis_servers, use_redis, processes, fault_row):
    server = redis_servers()
    use_redis(server.url)
    workers = [processes.worker(server.url) for _ in range(2)]
    send_effects("kill", JOBS, hold_ms=HOLD_MS)

    # Kill a worker group (SIGKILL) each time PROGRESS_PER_KILL more jobs completed, and start a new one
    kills: list[tuple[float, set[str]]] = []
    for n in range(KILLS):
        target = (n + 1) * PROGRESS_PER_KILL
        deadline = time.monotonic() + 120
        while Effect.objects.filter(key__startswith="kill-").count() < target:
            assert time.monotonic() < deadline, "workers made no progress"
            time.sleep(0.05)
        victim = workers[n % 2]
        pids = process_ids(victim)
        victim.kill()
        killed_at = time.monotonic()
        stranded = started_by("kill", pids) - effects_done("kill")
        kills.append((killed_at, stranded))
        workers[n % 2] = processes.worker(server.url)

    # Then every stranded job runs again, within heartbeat + 10 s of its kill, and nothing is lost
    recovered: dict[int, float] = {}
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        done = effects_done("kill")
        now = time.monotonic()
        for index, (killed_at, stranded) in enumerate(kills):
            if index not in recovered and stranded <= done:
                recovered[index] = now - killed_at
        if len(recovered) == KILLS and len(done) == JOBS:
            break
        time.sleep(0.25)
    done = effects_done("kill")
    worst = max(recovered.values()) if len(recovered) == KILLS else None
    twice = duplicates("kill")
    blamed = FailedJob.objects.count()
    stranded_total = sum(len(s) for _, s in kills)
    passed = len(done) == JOBS and twice == 0 and blamed == 0 and worst is not None and worst <= TARGET_SECONDS
    fault_row(
        scenario=f"SIGKILL of a worker group {KILLS}x under load (heartbeat 60 s, maintenance 1000/M)",
        sent=JOBS,
        ran=len(done),
        lost=JOBS - len(done),
        ran_twice=twice,
        recovery=f"max {seconds(worst)} (target <= {TARGET_SECONDS:.0f} s)",
        passed=passed,
        note=f"{stranded_total} jobs were mid-run at the kills; {blamed} dead letters",
    )
    assert passed
