"""The public enqueue API: typed functions, one per job type (the Python `@/jobs`).

Every function validates its arguments with the job type's pydantic payload
and the shared options, and raises `ValidationError` before anything is sent.
Options (`**opts`): `priority` (1..10, 1 most urgent), `delay` (timedelta or
milliseconds), `attempts` (max tries, first included), `job_id` (explicit
idempotency key), `queue` (logical queue).

Inside `transaction.atomic()` a job is written to the outbox with the
transaction and sent after commit; a rollback sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gifting_jobs.catalog import DEFAULT_PRIORITY, DEFAULT_TIME_LIMIT, JobSpec, JobType, register
from gifting_jobs.dispatch import EnqueueOptions, Job, JobOutcome, enqueue, enqueue_many
from gifting_jobs.exceptions import ConfigurationError, ValidationError, field_error
from gifting_jobs.payloads import JobPayload, SurfaceName, TriggeredBy
from gifting_jobs.retry_policy import RetryPolicy

#: Retry defaults of a declared job type: attempts (first included) and the backoff range.
DEFAULT_ATTEMPTS = 5
DEFAULT_MIN_BACKOFF = timedelta(seconds=5)
DEFAULT_MAX_BACKOFF = timedelta(minutes=5)

__all__ = [
    "EnqueueOptions",
    "Job",
    "JobOutcome",
    "JobPayload",
    "JobSpec",
    "JobType",
    "ProductProcessingJobs",
    "TriggeredBy",
    "ValidationError",
    "declare_job_type",
    "enqueue_curated_collections",
    "enqueue_job",
    "enqueue_many",
    "enqueue_product_embedding",
    "enqueue_product_enrichment",
    "enqueue_product_processing",
    "enqueue_reminder_dispatch",
    "enqueue_taste_profile_embedding",
    "schedule_daily_curated_collections",
]


@dataclass(frozen=True)
class ProductProcessingJobs:
    """The two jobs a product change starts."""

    enrichment_job: Job
    embedding_job: Job


def enqueue_product_enrichment(
    product_id: int,
    *,
    triggered_by: str,
    prompt_version: str | None = None,
    current_enrichment_version: str | None = None,
    **opts: Any,
) -> Job:
    """Tag a product with the LLM (or the offline tagger); skipped if already current."""
    return enqueue(
        JobType.PRODUCT_ENRICHMENT,
        {
            "product_id": product_id,
            "triggered_by": triggered_by,
            "prompt_version": prompt_version,
            "current_enrichment_version": current_enrichment_version,
        },
        opts,
    )


def enqueue_product_embedding(
    product_id: int, *, triggered_by: str, previous_text_hash: str | None = None, **opts: Any
) -> Job:
    """Embed a product's text; skipped when its text hash is unchanged."""
    return enqueue(
        JobType.PRODUCT_EMBEDDING,
        {"product_id": product_id, "triggered_by": triggered_by, "previous_text_hash": previous_text_hash},
        opts,
    )


def enqueue_product_processing(product_id: int, *, triggered_by: str, **opts: Any) -> ProductProcessingJobs:
    """Enqueue enrichment and embedding of a product; both are validated before either is sent."""
    if "job_id" in opts:
        raise ValidationError(
            "invalid product processing options: job_id: one explicit id cannot name two jobs; "
            "call enqueue_product_enrichment and enqueue_product_embedding separately",
            [field_error("job_id", "not allowed for two jobs")],
        )
    enrichment = enqueue_product_enrichment(product_id, triggered_by=triggered_by, **opts)
    embedding = enqueue_product_embedding(product_id, triggered_by=triggered_by, **opts)
    return ProductProcessingJobs(enrichment_job=enrichment, embedding_job=embedding)


def enqueue_taste_profile_embedding(
    taste_profile_id: int, user_id: int, *, recipient_id: int | None = None, triggered_by: str, **opts: Any
) -> Job:
    """Embed a taste profile; the most urgent type by default (a user is waiting)."""
    return enqueue(
        JobType.TASTE_PROFILE_EMBEDDING,
        {
            "taste_profile_id": taste_profile_id,
            "user_id": user_id,
            "recipient_id": recipient_id,
            "triggered_by": triggered_by,
        },
        opts,
    )


def enqueue_curated_collections(
    surface: str,
    target_date: date,
    *,
    triggered_by: str,
    collections_count: int = 6,
    products_per_collection: int = 12,
    filters: dict[str, Any] | None = None,
    **opts: Any,
) -> Job:
    """Build a surface's themed collections for a date; a rebuild replaces, never duplicates."""
    return enqueue(
        JobType.CURATED_COLLECTIONS,
        {
            "surface": surface,
            "target_date": target_date,
            "triggered_by": triggered_by,
            "collections_count": collections_count,
            "products_per_collection": products_per_collection,
            "filters": filters,
        },
        opts,
    )


def schedule_daily_curated_collections(target_date: date, **opts: Any) -> list[Job]:
    """One collections job per surface (home, discovery, occasion), triggered by the scheduler."""
    if "job_id" in opts:
        raise ValidationError(
            "invalid curated_collections options: job_id: one explicit id cannot name three jobs",
            [field_error("job_id", "not allowed for several jobs")],
        )
    return [
        enqueue_curated_collections(surface.value, target_date, triggered_by=TriggeredBy.SCHEDULER, **opts)
        for surface in SurfaceName
    ]


def enqueue_reminder_dispatch(
    schedule_id: int,
    user_id: int,
    channel: str,
    payload: dict[str, Any],
    scheduled_for: Any,
    *,
    occasion_id: int | None = None,
    triggered_by: str,
    **opts: Any,
) -> Job:
    """Send one reminder; at most once per schedule, enforced in the database."""
    return enqueue(
        JobType.REMINDER_DISPATCH,
        {
            "schedule_id": schedule_id,
            "user_id": user_id,
            "channel": channel,
            "payload": payload,
            "scheduled_for": scheduled_for,
            "occasion_id": occasion_id,
            "triggered_by": triggered_by,
        },
        opts,
    )


def declare_job_type(
    name: str,
    *,
    payload: type[JobPayload],
    work: Callable[[Any], None] | str,
    job_id: Callable[[Any], str],
    entity_id: Callable[[Any], str] | None = None,
    queue: str = "default",
    priority: int = DEFAULT_PRIORITY,
    attempts: int = DEFAULT_ATTEMPTS,
    min_backoff: timedelta = DEFAULT_MIN_BACKOFF,
    max_backoff: timedelta = DEFAULT_MAX_BACKOFF,
    time_limit: timedelta = DEFAULT_TIME_LIMIT,
) -> JobSpec[Any]:
    """Add a job type of the host project to the catalog; enqueue it with `enqueue_job(name, ...)`.

    Call it at import of an installed app's `jobs.py` (discovered at start-up).
    `payload` subclasses `JobPayload` (it carries `triggered_by`); `work(payload)`
    does the job, a module-level function or its dotted path; `job_id(payload)` is
    the idempotency id (equal ids pending at once run once). The type gets the
    spine's guarantees: dedupe, retries with backoff, dead letters, logs, metrics.
    """
    if not (isinstance(payload, type) and issubclass(payload, JobPayload)):
        raise ConfigurationError(f"job type {name!r}: payload must subclass gifting_jobs.jobs.JobPayload")
    if callable(work):
        if "<" in work.__qualname__:
            raise ConfigurationError(
                f"job type {name!r}: work must be a module-level function, not {work.__qualname__}"
            )
        work = f"{work.__module__}.{work.__qualname__}"
    try:
        retry = RetryPolicy(attempts=attempts, min_backoff=min_backoff, max_backoff=max_backoff)
    except ValueError as exc:
        raise ConfigurationError(f"job type {name!r}: {exc}") from None
    spec = register(
        JobSpec(
            name=name,
            payload_model=payload,
            work=work,
            default_id=job_id,
            entity_id=entity_id or job_id,
            queue=queue,
            priority=priority,
            retry=retry,
            time_limit=time_limit,
        )
    )
    # Imported here: actors import the broker, which a settings-time import must not.
    from gifting_jobs.actors import declare_when_ready

    declare_when_ready(spec)
    return spec


def enqueue_job(job_type: str, fields: Mapping[str, Any], *, triggered_by: str, **opts: Any) -> Job:
    """Enqueue a job of any registered type, the host project's included.

    `fields` are the payload's fields but `triggered_by`; `opts` as for every
    enqueue function. Raises `ValidationError` before anything is sent.
    """
    return enqueue(job_type, {**fields, "triggered_by": triggered_by}, opts)
