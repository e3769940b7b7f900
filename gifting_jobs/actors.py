"""Dramatiq actors: one per job type, each decoding its payload and calling its work.

Actors are declared from the catalog, so a type's queue, time limit and
in-worker priority live in one place. Importing this module registers the
actors on the configured broker (the app does it in `ready()`).
"""

from __future__ import annotations

from typing import Any

import dramatiq
from django.utils.module_loading import import_string

from gifting_jobs.catalog import JobSpec, all_specs

_declared: dict[str, dramatiq.Actor[..., None]] = {}


def declare_actor(spec: JobSpec[Any]) -> dramatiq.Actor[..., None]:
    """Register (once) the actor of a job type on the current broker."""
    if spec.name in _declared:
        return _declared[spec.name]

    work: list[Any] = []

    def run(payload: dict[str, Any]) -> None:
        if not work:
            # Imported on first use: work modules import models, actors load with the broker.
            work.append(import_string(spec.work))
        work[0](spec.payload_model.model_validate(payload))

    run.__name__ = run.__qualname__ = spec.name
    run.__doc__ = f"Run a {spec.name} job: validate its payload, then {spec.work}(payload)."
    # Dramatiq types `actor(fn, **options)` only as `actor(**options)(fn)`.
    actor = dramatiq.actor(
        actor_name=spec.name,
        queue_name=spec.queue,
        # Orders the worker's in-memory queue: urgent types first.
        priority=spec.priority,
        time_limit=int(spec.time_limit.total_seconds() * 1000),
    )(run)
    _declared[spec.name] = actor
    return actor


def declare_all() -> dict[str, dramatiq.Actor[..., None]]:
    """Declare an actor for every job type in the catalog."""
    for spec in all_specs():
        declare_actor(spec)
    return dict(_declared)
