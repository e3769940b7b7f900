"""Reconcile: re-enqueue the catalog and profile work that Postgres says is still to do.

Redis holds queued jobs only in memory unless it persists them (AOF). If it
loses them (a crash without persistence, a failover, a flush), reminders
recover from their Postgres state, but product and taste-profile jobs would
vanish without a trace. The reconcile duty finds products and profiles whose
embedding or enrichment is stale and enqueues their jobs again, bounded per
run and deduplicated by the jobs' ids (a job still pending is not sent twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gifting_jobs.catalog import JobType
from gifting_jobs.dispatch import Job, JobOutcome, enqueue_many
from gifting_jobs.exceptions import ValidationError
from gifting_jobs.payloads import TriggeredBy
from gifting_jobs.work.products import find_stale_products
from gifting_jobs.work.profiles import find_stale_taste_profiles

logger = logging.getLogger(__name__)

#: Stale rows of each kind a run re-enqueues at most (the next run takes the rest).
DEFAULT_RECONCILE_LIMIT = 1000


@dataclass(frozen=True)
class ReconcileResult:
    """Jobs a reconcile run enqueued (`sent`, incl. held for the relay) and found pending (`deduplicated`)."""

    sent: int
    deduplicated: int

    def __str__(self) -> str:
        return f"{self.sent} re-enqueued, {self.deduplicated} already pending"


def reconcile_stale(*, limit: int = DEFAULT_RECONCILE_LIMIT) -> ReconcileResult:
    """Enqueue embedding and enrichment jobs of up to `limit` stale products and profiles of each kind."""
    scheduler = TriggeredBy.SCHEDULER.value
    stale = find_stale_products(limit=limit)
    profiles = find_stale_taste_profiles(limit=limit)
    batches: dict[JobType, list[tuple[dict[str, Any], dict[str, Any]]]] = {
        JobType.PRODUCT_EMBEDDING: [
            ({"product_id": pk, "triggered_by": scheduler, "previous_text_hash": previous}, {})
            for pk, previous in stale.embedding
        ],
        JobType.PRODUCT_ENRICHMENT: [({"product_id": pk, "triggered_by": scheduler}, {}) for pk in stale.enrichment],
        JobType.TASTE_PROFILE_EMBEDDING: [
            (
                {
                    "taste_profile_id": p.pk,
                    "user_id": p.user_id,
                    "recipient_id": p.recipient_id,
                    "triggered_by": scheduler,
                },
                {},
            )
            for p in profiles
        ],
    }
    sent = deduplicated = 0
    for job_type, items in batches.items():
        for result in enqueue_many(job_type, items) if items else []:
            if isinstance(result, ValidationError):
                logger.error("reconcile could not enqueue a %s job: %s", job_type, result)
            elif _is_new(result):
                sent += 1
            else:
                deduplicated += 1
    outcome = ReconcileResult(sent=sent, deduplicated=deduplicated)
    if sent:
        logger.warning("reconcile found work lost or never done: %s", outcome, extra={"reconciled": sent})
    return outcome


def _is_new(job: Job) -> bool:
    return job.outcome is not JobOutcome.DEDUPLICATED
