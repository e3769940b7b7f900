"""Model signal receivers that enqueue jobs (connected on import by the app config).

A Product save whose embedded text changed, on a PUBLISHED and visible product,
enqueues its enrichment and embedding. Inside a transaction the enqueue API
writes the jobs to the outbox and sends them after commit (a rollback sends
nothing), so the receiver calls it directly. The product work functions write
with `QuerySet.update()`, which sends no signal: their results never re-trigger
processing.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.db import connection, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from gifting_jobs.jobs import JobType, enqueue_product_embedding, enqueue_product_enrichment
from gifting_jobs.models import Product
from gifting_jobs.payloads import TriggeredBy

logger = logging.getLogger(__name__)


def needs_processing(product: Product) -> bool:
    """True when the product is recommendable and its text differs from the one embedded."""
    return product.is_recommendable and product.text_hash() != product.embedding_text_hash


@receiver(post_save, sender=Product, dispatch_uid="gifting_jobs.signals.enqueue_product_processing")
def enqueue_product_processing_on_save(
    sender: type[Product], instance: Product, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """Enqueue enrichment and embedding of a saved product whose text changed.

    Never raises: a failed enqueue is logged at ERROR and the save stands (the
    enqueue API itself keeps jobs in Postgres while the broker is down).
    """
    # Fixture loading (`loaddata`) saves rows as they are, with no side effects.
    if raw or not needs_processing(instance):
        return
    triggered_by = TriggeredBy.PRODUCT_CREATED if created else TriggeredBy.PRODUCT_UPDATED
    previous_text_hash = instance.embedding_text_hash or None
    extra = {"entity_id": str(instance.pk), "external_id": instance.external_id, "triggered_by": triggered_by.value}
    for job_type, enqueue, options in (
        (JobType.PRODUCT_ENRICHMENT, enqueue_product_enrichment, {}),
        (JobType.PRODUCT_EMBEDDING, enqueue_product_embedding, {"previous_text_hash": previous_text_hash}),
    ):
        try:
            # In the caller's transaction, a savepoint keeps a database error in
            # the outbox write from aborting the product's own save.
            with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
                job = enqueue(instance.pk, triggered_by=triggered_by, **options)
        except Exception:
            logger.error(
                "could not enqueue %s of product %s; the product was saved",
                job_type,
                instance.pk,
                exc_info=True,
                extra={**extra, "job_type": job_type},
            )
            continue
        logger.info(
            "product %s changed: %s job %s %s",
            instance.pk,
            job_type,
            job.id,
            job.outcome,
            extra={**extra, "job_type": job_type, "job_id": job.id, "outcome": job.outcome.value},
        )
