"""Fixtures of the product-job tests: products, recording providers, waiting for a job to end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import dramatiq
import pytest
from django.conf import settings
from django.test import override_settings

from gifting_jobs.dispatch import Job
from gifting_jobs.models import Product, ProductStatus
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.providers.embeddings.test import RecordingEmbeddingProvider
from gifting_jobs.providers.enrichment import get_enrichment_provider
from gifting_jobs.providers.enrichment.test import RecordingEnrichmentProvider
from tests.conftest import wait_until


def job_finished(job: Job) -> bool:
    """Whether a job is over (succeeded or dead-lettered): its id lock is released then."""
    broker = dramatiq.get_broker()
    return not broker.client.exists(broker.lock_key(job.id))


def wait_for_job(job: Job, *, timeout: float = 20.0) -> None:
    wait_until(lambda: job_finished(job), timeout=timeout, what=f"job {job.id} to finish")


@pytest.fixture
def make_product(db: None) -> Callable[..., Product]:
    """Create a product; DRAFT by default, so the Product signal enqueues nothing behind the test's back."""
    counter = iter(range(1, 1_000_000))

    def make(**fields: Any) -> Product:
        n = next(counter)
        defaults: dict[str, Any] = {
            "external_id": f"cms-{n}",
            "title": f"Product {n}",
            "description": "",
            "price": Decimal("30.00"),
            "currency": "EUR",
            "status": ProductStatus.DRAFT,
        }
        return Product.objects.create(**{**defaults, **fields})

    return make


class RecordingProviders:
    """The recording providers in use while the fixture is active."""

    def __init__(self) -> None:
        embedder = get_embedding_provider()
        enricher = get_enrichment_provider()
        assert isinstance(embedder, RecordingEmbeddingProvider)
        assert isinstance(enricher, RecordingEnrichmentProvider)
        self.embeddings = embedder
        self.enrichment = enricher


@pytest.fixture
def recording_providers() -> Iterator[RecordingProviders]:
    """Both providers switched to the recording test providers, with fast retries."""
    conf = {
        **settings.GIFTING_JOBS,
        "EMBEDDING_PROVIDER": "test",
        "ENRICHMENT_PROVIDER": "test",
        "RETRY_BACKOFF_SCALE": 0.01,
    }
    with override_settings(GIFTING_JOBS=conf):
        yield RecordingProviders()
