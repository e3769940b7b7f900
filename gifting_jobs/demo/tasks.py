"""The demo's `django.tasks` task: a catalog summary, run by the Dramatiq worker through `SpineTaskBackend`."""

from __future__ import annotations

from typing import Any

from django.tasks import TaskContext, task

from gifting_jobs.demo import data
from gifting_jobs.models import Product


@task(takes_context=True)
def summarise_demo_catalog(context: TaskContext[Any, Any]) -> dict[str, int]:
    """Count the demo products by state; returns JSON, kept in the task's result."""
    products = Product.objects.filter(external_id__startswith=data.ID_PREFIX)
    return {
        "products": products.count(),
        "embedded": products.filter(embedding__isnull=False).count(),
        "enriched": products.filter(enrichment__isnull=False).count(),
        "attempt": context.attempt,
    }
