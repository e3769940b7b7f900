"""Guarantee 1: idempotent job ids under concurrent enqueues from many processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gifting_jobs.dispatch import JobOutcome, enqueue
from tests.conftest import ROOT, subprocess_env, wait_until
from tests.jobapp.models import Execution

#: Processes and enqueues per process of the concurrency test.
PROCESSES, PER_PROCESS = 4, 250

ENQUEUE_SCRIPT = """
import json, os, sys, time
import django
django.setup()
import dramatiq
from gifting_jobs.dispatch import enqueue
broker = dramatiq.get_broker()
go = broker.key("go")
while not broker.client.exists(go):
    time.sleep(0.001)
outcomes = {}
ids = set()
for _ in range(int(sys.argv[1])):
    job = enqueue("test_record", {"key": "same", "triggered_by": "manual"}, {})
    outcomes[job.outcome.value] = outcomes.get(job.outcome.value, 0) + 1
    ids.add(job.id)
print(json.dumps({"outcomes": outcomes, "ids": sorted(ids)}))
"""


def test_enqueue__concurrent_duplicates_from_processes_run_once(clean_broker, start_worker):
    # Given 4 processes that each enqueue the same job 250 times at the same moment
    env = subprocess_env()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ENQUEUE_SCRIPT, str(PER_PROCESS)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    wait_until(lambda: clean_broker.client.set(clean_broker.key("go"), 1) or True)
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))

    # Then exactly one was sent; the 999 others were deduplicated to the same id
    sent = sum(r["outcomes"].get("sent", 0) for r in results)
    deduplicated = sum(r["outcomes"].get("deduplicated", 0) for r in results)
    assert (sent, deduplicated) == (1, PROCESSES * PER_PROCESS - 1)
    assert {job_id for r in results for job_id in r["ids"]} == {"test-record:same"}

    # When a worker runs, the job executes exactly once
    start_worker()
    wait_until(lambda: Execution.objects.filter(key="same").exists())
    wait_until(lambda: not clean_broker.client.exists(clean_broker.lock_key("test-record:same")), what="lock freed")
    assert Execution.objects.filter(key="same").count() == 1


def test_enqueue__same_id_after_completion_runs_again(clean_broker, start_worker):
    start_worker()
    first = enqueue("test_record", {"key": "again", "triggered_by": "manual"}, {})
    wait_until(lambda: not clean_broker.client.exists(clean_broker.lock_key(first.id)), what="first job done")
    second = enqueue("test_record", {"key": "again", "triggered_by": "manual"}, {})
    assert (first.outcome, second.outcome) == (JobOutcome.SENT, JobOutcome.SENT)
    wait_until(lambda: Execution.objects.filter(key="again").count() == 2)


def test_enqueue__explicit_job_id_allows_a_deliberate_rerun(clean_broker):
    first = enqueue("test_record", {"key": "manual", "triggered_by": "manual"}, {})
    dup = enqueue("test_record", {"key": "manual", "triggered_by": "manual"}, {})
    rerun = enqueue("test_record", {"key": "manual", "triggered_by": "manual"}, {"job_id": "manual-rerun-1"})
    assert dup.deduplicated and dup.id == first.id and dup.message_id == first.message_id
    assert not rerun.deduplicated and rerun.id == "manual-rerun-1"
    assert clean_broker.client.llen(f"{clean_broker.namespace}:testing") == 2


@pytest.mark.django_db
def test_enqueue__bad_input_sends_nothing(clean_broker):
    from gifting_jobs.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        enqueue("test_record", {"key": "x", "triggered_by": "Not A Reason!"}, {"priority": 11})
    assert "triggered_by" in str(excinfo.value)
    assert clean_broker.client.llen(f"{clean_broker.namespace}:testing") == 0
