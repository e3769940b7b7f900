"""The bench's job type: a no-op, so only the queue machinery is measured."""

from __future__ import annotations

from gifting_jobs.actors import declare_actor
from gifting_jobs.catalog import JobSpec, register
from gifting_jobs.payloads import JobPayload

#: Logical queue of the bench job (normal band: the queue itself).
QUEUE = "bench"


class NoopPayload(JobPayload):
    key: str


def noop(payload: NoopPayload) -> None:
    """No work."""


SPEC = register(
    JobSpec(
        name="bench_noop",
        payload_model=NoopPayload,
        work="bench.noop_job.noop",
        default_id=lambda p: f"bench-noop:{p.key}",
        entity_id=lambda p: p.key,
        queue=QUEUE,
    )
)
actor = declare_actor(SPEC)
