"""The pickup bench's job types: a probe that records how long it waited, and a 20 ms busy job."""

from __future__ import annotations

import time

import dramatiq

from gifting_jobs.actors import declare_actor
from gifting_jobs.catalog import JobSpec, register
from gifting_jobs.payloads import JobPayload

#: Logical queue of the bench's jobs (three bands: `bench_pickup.urgent`, `bench_pickup`, `bench_pickup.bulk`).
QUEUE = "bench_pickup"
#: How long a busy job works.
BUSY_SECONDS = 0.020


def results_key(label: str) -> str:
    """The Redis list the probes of one measurement push their waits (ms) onto."""
    return f"{dramatiq.get_broker().namespace}:bench:pickup:{label}"


def record_wait(label: str, sent_at: float) -> None:
    """Push now minus the probe's send time (ms), as the job starts."""
    waited_ms = (time.time() - sent_at) * 1000
    dramatiq.get_broker().client.rpush(results_key(label), waited_ms)


class ProbePayload(JobPayload):
    key: str
    label: str
    sent_at: float


class BusyPayload(JobPayload):
    key: str


def probe(payload: ProbePayload) -> None:
    """Record how long this job waited between its send and its start."""
    record_wait(payload.label, payload.sent_at)


def busy(payload: BusyPayload) -> None:
    """Keep a worker thread busy for 20 ms."""
    time.sleep(BUSY_SECONDS)


PROBE = register(
    JobSpec(
        name="bench_probe",
        payload_model=ProbePayload,
        work="bench.pickup_job.probe",
        default_id=lambda p: f"bench-probe:{p.key}",
        entity_id=lambda p: p.key,
        queue=QUEUE,
    )
)
BUSY = register(
    JobSpec(
        name="bench_busy",
        payload_model=BusyPayload,
        work="bench.pickup_job.busy",
        default_id=lambda p: f"bench-busy:{p.key}",
        entity_id=lambda p: p.key,
        queue=QUEUE,
        priority=10,
    )
)
probe_actor = declare_actor(PROBE)
busy_actor = declare_actor(BUSY)
