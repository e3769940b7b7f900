"""Curated collections: the seed's "Scheduled Collections" and the read side of the app API.

`generate_daily_collections` enqueues the three surfaces for a date (the
scheduler and `manage.py schedule_daily_collections` call it);
`regenerate_collections` enqueues a manual rebuild of one surface, possibly
with other parameters; `latest_collections` is what the app shows.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from gifting_jobs.dispatch import Job
from gifting_jobs.jobs import enqueue_curated_collections, schedule_daily_curated_collections
from gifting_jobs.models import CuratedCollection, CuratedCollectionItem, ProductStatus
from gifting_jobs.payloads import TriggeredBy

logger = logging.getLogger(__name__)


def generate_daily_collections(date: date | None = None) -> list[Job]:
    """Enqueue the collections of every surface (home, discovery, occasion) for `date` (default: today).

    Idempotent while pending: a second call for the same date (a cron tick
    fired twice) is deduplicated by the jobs' default ids.
    """
    target = date or timezone.localdate()
    jobs = schedule_daily_curated_collections(target)
    for job in jobs:
        logger.info(
            "daily collections for %s enqueued: %s",
            target,
            job.outcome,
            extra={"job_id": job.id, "job_type": job.job_type, "outcome": job.outcome.value},
        )
    return jobs


def regenerate_collections(surface: str, target_date: date, **params: Any) -> Job:
    """Enqueue a manual rebuild of one surface's collections for a date.

    `params` are those of `enqueue_curated_collections`: `collections_count`,
    `products_per_collection`, `filters`, and enqueue options. Other
    parameters make another job id (they are part of it), so a rebuild with
    other parameters is never swallowed by a pending daily job. Its rows
    replace only the rows of the same parameters. To force a second build
    with identical parameters while one is still pending, pass an explicit
    `job_id=` (e.g. "curated-collections:manual:<uuid>").
    """
    return enqueue_curated_collections(surface, target_date, triggered_by=TriggeredBy.MANUAL, **params)


def latest_collections(surface: str, target_date: date) -> list[CuratedCollection]:
    """The most recent build of a surface for a date, collections in order, items ranked.

    When several parameter sets were built for one day (a manual rebuild with
    other parameters), the last one built is shown. Items whose product was
    unpublished or hidden since the build are left out.
    """
    builds = CuratedCollection.objects.filter(surface=surface, target_date=target_date)
    latest = builds.order_by("-generated_at", "-pk").values_list("params_hash", flat=True).first()
    if latest is None:
        return []
    visible_items = (
        CuratedCollectionItem.objects.filter(product__status=ProductStatus.PUBLISHED, product__visible_to_gifter=True)
        .select_related("product")
        .order_by("rank")
    )
    shown = builds.filter(params_hash=latest).order_by("position")
    return list(shown.prefetch_related(Prefetch("items", queryset=visible_items)))
