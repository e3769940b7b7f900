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
from gifting_jobs.exceptions import ConfigurationError

_declared: dict[str, dramatiq.Actor[..., None]] = {}
# Set once the app's ready() declared the catalog: later types get their actor at once.
_broker_ready = False


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
    options: dict[str, Any] = {}
    # Without dramatiq's TimeLimit middleware the option is refused and every command
    # would crash at start-up; `manage.py check` names the missing middleware instead.
    if "time_limit" in dramatiq.get_broker().actor_options:
        options["time_limit"] = int(spec.time_limit.total_seconds() * 1000)
    # Dramatiq types `actor(fn, **options)` only as `actor(**options)(fn)`.
    actor = dramatiq.actor(
        actor_name=spec.name,
        queue_name=spec.queue,
        # Orders the worker's in-memory queue: urgent types first.
        priority=spec.priority,
        **options,
    )(run)
    _declared[spec.name] = actor
    return actor


def declare_all() -> dict[str, dramatiq.Actor[..., None]]:
    """Declare an actor for every job type in the catalog (the app's ready() does it)."""
    global _broker_ready
    try:
        specs = all_specs()
    except ConfigurationError:
        # Bad GIFTING_JOBS: `manage.py check` reports it; commands must start to say so.
        specs = all_specs(overrides=False)
    for spec in specs:
        declare_actor(spec)
    _broker_ready = True
    return dict(_declared)


def declare_when_ready(spec: JobSpec[Any]) -> None:
    """Declare the actor of a type registered late; before the app is ready, `declare_all` will."""
    if _broker_ready:
        try:
            declare_actor(spec.with_overrides())
        except ConfigurationError:
            declare_actor(spec)
