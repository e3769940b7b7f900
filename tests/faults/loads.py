"""Load and outcome counting shared by the fault scenarios: `test_effect` jobs and what became of them."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count

from gifting_jobs.dispatch import Job, JobOutcome, enqueue_many
from tests.jobapp.models import Effect, Execution


def send_effects(prefix: str, count: int, *, hold_ms: int, opts: dict | None = None) -> list[Job]:
    """Enqueue `count` `test_effect` jobs keyed `<prefix>-<n>`; every one must be sent (or held)."""
    items = [
        ({"key": f"{prefix}-{n}", "triggered_by": "manual", "hold_ms": hold_ms}, dict(opts or {})) for n in range(count)
    ]
    jobs = enqueue_many("test_effect", items)
    assert all(isinstance(job, Job) and job.outcome in {JobOutcome.SENT, JobOutcome.HELD} for job in jobs), jobs
    return jobs  # type: ignore[return-value]


def effects_done(prefix: str) -> set[str]:
    return set(Effect.objects.filter(key__startswith=prefix + "-").values_list("key", flat=True))


def duplicates(prefix: str) -> int:
    """Keys whose effect was applied more than once (a duplicate side effect)."""
    rows = Effect.objects.filter(key__startswith=prefix + "-").values("key").annotate(n=Count("id")).filter(n__gt=1)
    return sum(row["n"] - 1 for row in rows)


def started_by(prefix: str, pids: set[int]) -> set[str]:
    return set(Execution.objects.filter(key__startswith=prefix + "-", pid__in=pids).values_list("key", flat=True))


def fresh_connection() -> None:
    """Drop this process's DB connection (after Postgres restarted under it)."""
    connection.close()
