"""Pausing a logical queue: workers stop fetching from all its bands, finish what they hold, and resume promptly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from gifting_jobs.broker import RedisBroker
from gifting_jobs.broker.inspection import live_workers
from gifting_jobs.broker.pausing import PausedQueues, pause_name
from gifting_jobs.dispatch import enqueue
from gifting_jobs.metrics import JobsCollector
from gifting_jobs.status import collect_queues
from tests.conftest import wait_until
from tests.jobapp.jobs import release_key
from tests.jobapp.models import Execution

#: The queue of the recording test jobs, and another one the worker also consumes.
PAUSED, OTHER = "testing", "bench"
#: Delay of a message sent to a paused queue (through the broker's delay queue).
DELAY_MS = 200


@pytest.fixture
def pausable(clean_broker: RedisBroker) -> Iterator[RedisBroker]:
    """The broker, with every queue resumed again after the test (the process's copy too)."""
    yield clean_broker
    for name in clean_broker.paused_queues() | set(clean_broker.paused.names):
        clean_broker.resume_queue(name)


def record(key: str, **opts):
    return enqueue("test_record", {"key": key, "triggered_by": "manual"}, opts)


def ran(key: str) -> int:
    return Execution.objects.filter(key=key).count()


def prove_worker_fetches(broker: RedisBroker, key: str) -> None:
    """Send a job to the other queue and wait until it ran: the worker is alive and fetching after what came before."""
    job = enqueue("test_noop", {"key": key, "triggered_by": "manual"}, {})
    assert job.queue == OTHER
    wait_until(lambda: not broker.job_pending(job.id), what=f"the {OTHER} job {key} ran")


def band(queue: str, name: str = "normal"):
    (status,) = [q for q in collect_queues() if q.name == queue]
    return next(b for b in status.bands if b.band == name)


def test_pause_name__bands_delay_queues_and_quarantine_lanes_belong_to_their_queue():
    names = ["catalog", "catalog.urgent", "catalog.bulk", "catalog.DQ", "catalog.bulk.DQ", "catalog.quarantine"]
    assert {pause_name(name) for name in names} == {"catalog"}


def test_pause_queue__refuses_bands_and_lanes(pausable):
    for name in ("", "catalog.urgent", "catalog.bulk", "catalog.DQ", "catalog.quarantine"):
        with pytest.raises(ValueError, match="not a logical queue"):
            pausable.pause_queue(name)
    assert pausable.paused_queues() == set()


def test_paused_queues__a_stale_read_never_undoes_a_later_local_change():
    paused = PausedQueues()
    since = paused.generation
    paused.update({"catalog"})  # This process pauses while a refresh is reading Redis...
    assert not paused.update(set(), since=since)  # ...whose older answer is dropped.
    assert "catalog" in paused


def test_pause__a_job_waits_while_the_worker_runs_other_queues_then_runs_on_resume(pausable, worker):
    # Given a worker, and the queue paused
    assert pausable.pause_queue(PAUSED)
    assert not pausable.pause_queue(PAUSED)  # Pausing twice changes nothing.
    record("waits", priority=1)
    record("waits-bulk", priority=10)

    # When a later job of another queue has run
    prove_worker_fetches(pausable, "after-the-paused-ones")

    # Then the paused queue's jobs have not: they wait in their bands, ready
    assert (ran("waits"), ran("waits-bulk")) == (0, 0)
    assert band(PAUSED, "urgent").ready == 1
    assert band(PAUSED, "bulk").ready == 1
    assert band(PAUSED, "urgent").latency_ms > 0

    # When the queue is resumed, both run, once each
    assert pausable.resume_queue(PAUSED)
    wait_until(lambda: ran("waits") and ran("waits-bulk"), what="the jobs ran after the resume")
    assert (ran("waits"), ran("waits-bulk")) == (1, 1)


def test_pause__a_running_job_finishes_and_nothing_runs_twice(pausable, worker):
    # Given a job of the queue running
    blocking = enqueue("test_blocking", {"key": "held", "triggered_by": "manual"}, {})
    wait_until(lambda: ran("held"), what="the blocking job started")

    # When the queue is paused, and another job sent to it
    pausable.pause_queue(PAUSED)
    record("queued-behind")
    pausable.client.set(release_key("held"), "1")

    # Then the running job finishes (its id is freed), the new one waits
    wait_until(lambda: not pausable.job_pending(blocking.id), what="the held job finished")
    prove_worker_fetches(pausable, "after-the-release")
    assert ran("queued-behind") == 0

    pausable.resume_queue(PAUSED)
    wait_until(lambda: ran("queued-behind"), what="the queued job ran after the resume")
    assert (ran("held"), ran("queued-behind")) == (1, 1)


def test_pause__a_delayed_message_coming_due_waits_too(pausable, worker):
    pausable.pause_queue(PAUSED)
    sent_ms = time.time() * 1000
    record("delayed", delay=timedelta(milliseconds=DELAY_MS))

    # The delay runs out: the message moves to the ready list, and stays there
    wait_until(lambda: band(PAUSED).ready == 1 and band(PAUSED).delayed == 0, what="the delayed message came due")
    prove_worker_fetches(pausable, "after-the-due-one")
    assert ran("delayed") == 0
    # Its latency counts from when it came due, not from when it was sent.
    assert band(PAUSED).oldest_ready_at.timestamp() * 1000 >= sent_ms + DELAY_MS

    pausable.resume_queue(PAUSED)
    wait_until(lambda: ran("delayed"), what="the delayed job ran after the resume")


@pytest.mark.slow
def test_pause__a_worker_process_obeys_within_its_refresh_and_resumes_promptly(pausable, worker_processes):
    # Given a rundramatiq process that has announced itself
    worker_processes()
    wait_until(lambda: live_workers(pausable), what="the worker process registered")

    # When the queue is paused here, the other process takes it up at its next beat
    pausable.pause_queue(PAUSED)
    wait_until(lambda: all(PAUSED in w.paused for w in live_workers(pausable)), what="the worker obeys the pause")
    record("waits-for-the-process")
    prove_worker_fetches(pausable, "process-fetches-other-queues")
    assert ran("waits-for-the-process") == 0

    # When it is resumed, the job runs (the process sees it at its next beat, about a second)
    resumed_at = time.monotonic()
    pausable.resume_queue(PAUSED)
    wait_until(lambda: ran("waits-for-the-process"), what="the job ran after the resume")
    print(f"resume to run in another process: {time.monotonic() - resumed_at:.2f} s")


@pytest.mark.slow
def test_pause__a_worker_booting_while_the_queue_is_paused_never_fetches_from_it(pausable, worker_processes):
    pausable.pause_queue(PAUSED)
    record("sent-before-boot")

    worker_processes()
    prove_worker_fetches(pausable, "booted-process-fetches")
    assert ran("sent-before-boot") == 0

    pausable.resume_queue(PAUSED)
    wait_until(lambda: ran("sent-before-boot"), what="the job ran after the resume")


def test_pause__shows_in_jobs_status_text_and_json_and_in_the_metrics(pausable, transactional_db):
    pausable.pause_queue(PAUSED)
    record("ready-one", priority=1)

    text = StringIO()
    call_command("jobs_status", stdout=text)
    lines = [line.split() for line in text.getvalue().splitlines()]
    testing = [line for line in lines if line[:1] == [PAUSED]]
    assert testing and all(line[-1] == "paused" for line in testing)
    assert not [line for line in lines if line[:1] == ["catalog"] and line[-1] == "paused"]

    data = StringIO()
    call_command("jobs_status", "--json", stdout=data)
    queues = {q["name"]: q for q in json.loads(data.getvalue())["queues"]}
    assert (queues[PAUSED]["paused"], queues["catalog"]["paused"]) == (True, False)
    urgent = next(b for b in queues[PAUSED]["bands"] if b["band"] == "urgent")
    assert urgent["ready"] == 1 and urgent["oldest_ready_at"] and urgent["latency_ms"] >= 0

    families = {family.name: family for family in JobsCollector().collect()}
    paused = {s.labels["queue"]: s.value for s in families["gifting_jobs_queue_paused"].samples}
    assert (paused[PAUSED], paused["catalog"]) == (1, 0)
    latency = {
        (s.labels["queue"], s.labels["band"]): s.value for s in families["gifting_jobs_queue_latency_seconds"].samples
    }
    assert latency[(PAUSED, "normal")] == 0  # Nothing ready there.
    assert latency[(PAUSED, "urgent")] >= 0

    pausable.resume_queue(PAUSED)
    families = {family.name: family for family in JobsCollector().collect()}
    assert {s.labels["queue"]: s.value for s in families["gifting_jobs_queue_paused"].samples}[PAUSED] == 0


def test_pause_and_resume_commands__change_the_state_and_refuse_unknown_names(pausable):
    out = StringIO()
    call_command("pause_queue", PAUSED, stdout=out)
    assert pausable.paused_queues() == {PAUSED}
    assert "testing: paused" in out.getvalue()

    with pytest.raises(CommandError, match=r"unknown queue 'nope'.*catalog"):
        call_command("resume_queue", PAUSED, "nope")
    assert pausable.paused_queues() == {PAUSED}  # Checked before anything changed.

    call_command("resume_queue", PAUSED, stdout=out)
    assert pausable.paused_queues() == set()
    assert "testing: resumed" in out.getvalue()
