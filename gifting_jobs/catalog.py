"""The job catalog: every job type declared once, with all that the spine needs.

A `JobSpec` names the type, its payload schema, the dotted path of the function
doing the work, its queue, default priority, retry policy, time limit, how its
default idempotency id and entity id are derived, and how its errors are
classified. Built-in types are registered at import; host projects declare
theirs with `gifting_jobs.jobs.declare_job_type` (which registers here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ConfigurationError
from gifting_jobs.payloads import (
    CuratedCollectionsPayload,
    DjangoTaskPayload,
    JobPayload,
    ProductEmbeddingPayload,
    ProductEnrichmentPayload,
    ReminderDispatchPayload,
    TasteProfileEmbeddingPayload,
)
from gifting_jobs.retry_policy import ErrorKind, RetryPolicy, classify_error

#: Priorities run from 1 (most urgent) to 10.
MOST_URGENT, LEAST_URGENT = 1, 10
#: Priority of a job whose type declares none.
DEFAULT_PRIORITY = 5
#: Longest a job may run before the worker interrupts it.
DEFAULT_TIME_LIMIT = timedelta(minutes=5)
#: Why a failure is final (the values of `FailedJobReason` they become).
FINAL_PERMANENT, FINAL_EXHAUSTED = "permanent", "exhausted"


#: The job type that runs any `django.tasks` task of a host project (see `gifting_jobs.tasks`).
DJANGO_TASK = "django_task"
#: The logical queue of tasks whose `queue_name` is Django's default.
DJANGO_TASK_DEFAULT_QUEUE = "default"


class JobType(StrEnum):
    PRODUCT_ENRICHMENT = "product_enrichment"
    PRODUCT_EMBEDDING = "product_embedding"
    TASTE_PROFILE_EMBEDDING = "taste_profile_embedding"
    CURATED_COLLECTIONS = "curated_collections"
    REMINDER_DISPATCH = "reminder_dispatch"


@dataclass(frozen=True)
class JobSpec[P: JobPayload]:
    """Everything the spine knows about one job type; `P` is its payload model."""

    name: str
    payload_model: type[P]
    #: Dotted path of `work(payload) -> None`, imported by the actor.
    work: str
    #: Default idempotency id; must be deterministic in the payload.
    default_id: Callable[[P], str]
    #: The id of the row the job is about (for logs, dead letters, admin search).
    entity_id: Callable[[P], str]
    queue: str = "default"
    priority: int = DEFAULT_PRIORITY
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    time_limit: timedelta = DEFAULT_TIME_LIMIT
    classify: Callable[[BaseException], ErrorKind] = classify_error

    def __post_init__(self) -> None:
        if not MOST_URGENT <= self.priority <= LEAST_URGENT:
            raise ConfigurationError(f"job type {self.name!r}: priority must be 1..10, got {self.priority}")

    def final_failure(self, exc: BaseException, *, failures: int, attempts: int) -> str | None:
        """Why a failed run is the job's last one ("permanent" or "exhausted"), or None if it is retried.

        `failures` counts this one; `attempts` is the job's budget, first run included.
        """
        if self.classify(exc) is ErrorKind.PERMANENT:
            return FINAL_PERMANENT
        if failures >= attempts:
            return FINAL_EXHAUSTED
        return None

    def with_overrides(self) -> JobSpec[P]:
        """This spec with `GIFTING_JOBS["JOBS"][name]` applied."""
        overrides = get_settings().JOBS.get(self.name)
        if overrides is None:
            return self
        spec = self
        if overrides.queue:
            spec = replace(spec, queue=overrides.queue)
        if overrides.priority:
            spec = replace(spec, priority=overrides.priority)
        if overrides.attempts:
            spec = replace(spec, retry=spec.retry.with_attempts(overrides.attempts))
        if overrides.time_limit_seconds:
            spec = replace(spec, time_limit=timedelta(seconds=overrides.time_limit_seconds))
        return spec


_registry: dict[str, JobSpec[Any]] = {}
# Specs with overrides applied, per settings object (rebuilt when settings change).
_effective: tuple[object, dict[str, JobSpec[Any]]] = (None, {})


def register[P: JobPayload](spec: JobSpec[P]) -> JobSpec[P]:
    """Add a job type to the catalog; a name may be registered once."""
    existing = _registry.get(spec.name)
    if existing is not None and existing != spec:
        raise ConfigurationError(f"job type {spec.name!r} is already registered with another spec")
    _registry[spec.name] = spec
    _effective[1].pop(spec.name, None)
    return spec


def get_spec(name: str) -> JobSpec[Any]:
    """The spec of a registered job type, with settings overrides applied."""
    global _effective
    settings = get_settings()
    if _effective[0] is not settings:
        _effective = (settings, {})
    cached = _effective[1].get(name)
    if cached is not None:
        return cached
    try:
        spec = _effective[1][name] = _registry[name].with_overrides()
        return spec
    except KeyError:
        known = ", ".join(sorted(_registry))
        raise ConfigurationError(f"unknown job type {name!r}; registered types: {known}") from None


def all_specs(*, overrides: bool = True) -> list[JobSpec[Any]]:
    """Every registered job type; `overrides=False` gives the declared specs, settings ignored."""
    if not overrides:
        return list(_registry.values())
    return [spec.with_overrides() for spec in _registry.values()]


def registered_names() -> list[str]:
    """The names of every registered job type, built-in and the host project's."""
    return [str(name) for name in _registry]


register(
    JobSpec(
        name=JobType.PRODUCT_ENRICHMENT,
        payload_model=ProductEnrichmentPayload,
        work="gifting_jobs.work.products.enrich_product",
        default_id=lambda p: f"product-enrichment:{p.product_id}:{p.prompt_version or 'default'}",
        entity_id=lambda p: str(p.product_id),
        queue="catalog",
        priority=6,
        retry=RetryPolicy(attempts=5, min_backoff=timedelta(seconds=10), max_backoff=timedelta(minutes=5)),
        time_limit=timedelta(minutes=2),
    )
)
register(
    JobSpec(
        name=JobType.PRODUCT_EMBEDDING,
        payload_model=ProductEmbeddingPayload,
        work="gifting_jobs.work.products.embed_product",
        default_id=lambda p: f"product-embedding:{p.product_id}:{p.previous_text_hash or 'none'}",
        entity_id=lambda p: str(p.product_id),
        queue="catalog",
        priority=5,
        retry=RetryPolicy(attempts=5, min_backoff=timedelta(seconds=5), max_backoff=timedelta(minutes=5)),
        time_limit=timedelta(minutes=2),
    )
)
register(
    JobSpec(
        name=JobType.TASTE_PROFILE_EMBEDDING,
        payload_model=TasteProfileEmbeddingPayload,
        work="gifting_jobs.work.profiles.embed_taste_profile",
        default_id=lambda p: f"taste-profile-embedding:{p.taste_profile_id}",
        entity_id=lambda p: str(p.taste_profile_id),
        queue="profiles",
        # A user is waiting on the result.
        priority=MOST_URGENT,
        retry=RetryPolicy(attempts=5, min_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=30)),
        time_limit=timedelta(minutes=1),
    )
)
register(
    JobSpec(
        name=JobType.CURATED_COLLECTIONS,
        payload_model=CuratedCollectionsPayload,
        work="gifting_jobs.work.collections.build_curated_collections",
        default_id=lambda p: f"curated-collections:{p.surface}:{p.target_date.isoformat()}:{p.params_hash()[:16]}",
        entity_id=lambda p: f"{p.surface}:{p.target_date.isoformat()}",
        queue="collections",
        priority=8,
        retry=RetryPolicy(attempts=3, min_backoff=timedelta(seconds=30), max_backoff=timedelta(minutes=10)),
        time_limit=timedelta(minutes=10),
    )
)
register(
    JobSpec(
        name=JobType.REMINDER_DISPATCH,
        payload_model=ReminderDispatchPayload,
        work="gifting_jobs.work.reminders.dispatch_reminder",
        default_id=lambda p: f"reminder-dispatch:{p.schedule_id}",
        entity_id=lambda p: str(p.schedule_id),
        queue="reminders",
        priority=3,
        retry=RetryPolicy(attempts=5, min_backoff=timedelta(seconds=10), max_backoff=timedelta(minutes=10)),
        time_limit=timedelta(minutes=1),
    )
)
register(
    JobSpec(
        name=DJANGO_TASK,
        payload_model=DjangoTaskPayload,
        work="gifting_jobs.tasks.work.run_task",
        # Each enqueue is a new result; an explicit idempotency key replaces this id.
        default_id=lambda p: f"django-task:{p.result_id}",
        entity_id=lambda p: p.result_id,
        queue=DJANGO_TASK_DEFAULT_QUEUE,
        retry=RetryPolicy(attempts=3, min_backoff=timedelta(seconds=5), max_backoff=timedelta(minutes=5)),
    )
)
