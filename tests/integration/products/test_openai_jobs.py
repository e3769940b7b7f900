"""Product jobs on the OpenAI providers (real SDK, fake server) through a real worker and the retry spine."""

from __future__ import annotations

import numpy as np
import pytest

from gifting_jobs.jobs import enqueue_product_embedding, enqueue_product_enrichment
from gifting_jobs.models import FailedJob, FailedJobReason, Product
from tests.fake_openai import BAD_REQUEST, RATE_LIMITED, SERVER_ERROR, Answer, fake_vector
from tests.integration.products.conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


def stored_vector_matches(product: Product) -> bool:
    expected = np.asarray(fake_vector(product.embedding_text(), 256))
    return np.allclose(product.embedding, expected / np.linalg.norm(expected), atol=1e-6)


def test_embedding_job__429_then_success_is_retried_and_stored(worker, openai_providers, make_product):
    product = make_product(title="Espresso cups")
    openai_providers.script("embeddings", RATE_LIMITED)

    job = enqueue_product_embedding(product.pk, triggered_by="manual")
    wait_for_job(job)

    product.refresh_from_db()
    assert product.embedding_model == "openai:text-embedding-3-small:256"
    assert stored_vector_matches(product)
    requests = openai_providers.requests_to("embeddings")
    assert [type(r.behaviour).__name__ for r in requests] == ["Fail", "Ok"]
    # The backoff is scaled down to milliseconds; the server's Retry-After: 1 still holds.
    assert requests[1].received_at - requests[0].received_at >= 1.0
    assert not FailedJob.objects.filter(job_id=job.id).exists()


def test_embedding_job__500_every_time_is_exhausted_after_its_attempts(worker, openai_providers, make_product):
    product = make_product(title="Board game")
    openai_providers.script("embeddings", then=SERVER_ERROR)

    job = enqueue_product_embedding(product.pk, triggered_by="manual", attempts=3)
    wait_for_job(job)

    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.EXHAUSTED
    assert failed.attempts == 3
    assert "TransientJobError" in failed.error_class and "HTTP 500" in failed.error_message
    assert len(openai_providers.requests_to("embeddings")) == 3
    assert Product.objects.get(pk=product.pk).embedding is None


def test_embedding_job__400_is_permanent_after_one_request(worker, openai_providers, make_product):
    product = make_product(title="Scarf")
    openai_providers.script("embeddings", BAD_REQUEST)

    job = enqueue_product_embedding(product.pk, triggered_by="manual")
    wait_for_job(job)

    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.PERMANENT
    assert failed.attempts == 1
    assert "HTTP 400" in failed.error_message
    assert len(openai_providers.requests_to("embeddings")) == 1


def test_embedding_job__timeout_is_retried(worker, openai_providers, make_product, settings):
    from tests.fake_openai import Hang

    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "OPENAI_TIMEOUT_SECONDS": 0.3}
    product = make_product(title="Reading light")
    openai_providers.script("embeddings", Hang(30))

    job = enqueue_product_embedding(product.pk, triggered_by="manual")
    wait_for_job(job)

    product.refresh_from_db()
    assert stored_vector_matches(product)
    assert len(openai_providers.requests_to("embeddings")) == 2
    assert not FailedJob.objects.exists()


def test_enrichment_job__structured_output_is_stored(worker, openai_providers, make_product):
    product = make_product(title="Ethiopian coffee beans", description="Whole bean coffee. Light roast.")

    job = enqueue_product_enrichment(product.pk, triggered_by="manual")
    wait_for_job(job)

    product.refresh_from_db()
    assert product.enrichment["tags"] == ["coffee"]
    assert product.enrichment["price_band"] == "mid"
    assert product.enrichment_version == "v1"
    assert product.enrichment_text_hash == product.text_hash()
    assert product.enriched_at is not None
    (request,) = openai_providers.requests_to("chat")
    assert request.body["model"] == "gpt-4o-mini"


def test_enrichment_job__tag_outside_the_taxonomy_is_dead_lettered_as_permanent(worker, openai_providers, make_product):
    product = make_product(title="Rocket kit")
    openai_providers.script(
        "chat", Answer({"tags": ["rockets"], "occasions": [], "recipient_types": [], "summary": "A rocket."})
    )

    job = enqueue_product_enrichment(product.pk, triggered_by="manual")
    wait_for_job(job)

    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.PERMANENT
    assert failed.attempts == 1
    assert "rockets" in failed.error_message
    product.refresh_from_db()
    assert product.enrichment is None and product.enrichment_version == ""
