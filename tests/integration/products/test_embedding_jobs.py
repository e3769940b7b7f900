"""Product embedding through a real worker: stored vectors, skip rules, re-embedding, bad paths."""

from __future__ import annotations

import numpy as np
import pytest

from gifting_jobs.jobs import enqueue_product_embedding
from gifting_jobs.models import FailedJob, FailedJobReason, Product
from gifting_jobs.payloads import ProductEmbeddingPayload
from gifting_jobs.providers.embeddings.test import RecordingEmbeddingProvider, hashed_unit_vector
from gifting_jobs.work.products import embed_product
from tests.integration.products.conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_embed_product__stores_vector_hash_model_and_time(worker, recording_providers, make_product):
    product = make_product(title="Pour-over kettle", brand="Fellow", description="Gooseneck kettle for coffee.")

    job = enqueue_product_embedding(product.pk, triggered_by="manual")
    wait_for_job(job)

    product.refresh_from_db()
    expected = hashed_unit_vector(product.embedding_text(), 256)
    assert np.allclose(product.embedding, expected, atol=1e-6)
    assert product.embedding_text_hash == product.text_hash()
    assert product.embedding_model == "test:sha256:256"
    assert product.embedded_at is not None
    assert recording_providers.embeddings.calls == [(product.embedding_text(),)]


def test_embed_product__unchanged_text_makes_no_provider_call(worker, recording_providers, make_product):
    product = make_product(title="Yoga mat")
    wait_for_job(enqueue_product_embedding(product.pk, triggered_by="manual"))
    product.refresh_from_db()
    first_embedded_at = product.embedded_at

    second = enqueue_product_embedding(product.pk, triggered_by="manual")
    assert not second.deduplicated  # The first job is over: this one really runs.
    wait_for_job(second)

    product.refresh_from_db()
    assert len(recording_providers.embeddings.calls) == 1
    assert product.embedded_at == first_embedded_at
    assert not FailedJob.objects.exists()


def test_embed_product__other_model_name_is_re_embedded(worker, recording_providers, make_product):
    product = make_product(title="Camping lantern")
    wait_for_job(enqueue_product_embedding(product.pk, triggered_by="manual"))
    # Given a vector recorded as made by another model (a provider switch).
    Product.objects.filter(pk=product.pk).update(embedding_model="wordllama:l2_supercat:256")

    wait_for_job(enqueue_product_embedding(product.pk, triggered_by="manual"))

    product.refresh_from_db()
    assert len(recording_providers.embeddings.calls) == 2
    assert product.embedding_model == "test:sha256:256"


def test_embed_product__changed_text_is_re_embedded(worker, recording_providers, make_product):
    product = make_product(title="Tea sampler")
    wait_for_job(enqueue_product_embedding(product.pk, triggered_by="manual"))
    old_hash = Product.objects.get(pk=product.pk).embedding_text_hash
    Product.objects.filter(pk=product.pk).update(description="Twelve loose leaf teas from Assam.")

    wait_for_job(enqueue_product_embedding(product.pk, triggered_by="product.updated", previous_text_hash=old_hash))

    product.refresh_from_db()
    assert product.embedding_text_hash == product.text_hash() != old_hash
    assert np.allclose(product.embedding, hashed_unit_vector(product.embedding_text(), 256), atol=1e-6)
    assert recording_providers.embeddings.texts[-1] == product.embedding_text()


def test_embed_product__missing_product_is_dead_lettered_as_permanent(worker, recording_providers):
    job = enqueue_product_embedding(987654, triggered_by="manual")
    wait_for_job(job)

    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.PERMANENT
    assert failed.attempts == 1
    assert failed.entity_id == "987654"
    assert "EntityNotFound" in failed.error_class
    assert recording_providers.embeddings.calls == []


class TextChangingProvider(RecordingEmbeddingProvider):
    """Changes the product's text while its first embedding is computed (a CMS update racing the job)."""

    def embed(self, texts):
        if not self.calls:
            Product.objects.filter(title="Racing product").update(description="Edited in the CMS meanwhile.")
        return super().embed(texts)


def test_embed_product__text_changed_while_embedding_stores_nothing_stale(settings, make_product):
    # Given a provider that edits the product during the embedding call.
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "EMBEDDING_PROVIDER": f"{__name__}.TextChangingProvider"}
    product = make_product(title="Racing product", description="Original text.")
    payload = ProductEmbeddingPayload(product_id=product.pk, triggered_by="manual")

    # When the work runs, the vector of the old text is not stored and the job asks for a retry.
    from gifting_jobs.exceptions import TransientJobError

    with pytest.raises(TransientJobError, match="text changed"):
        embed_product(payload)
    product.refresh_from_db()
    assert product.embedding is None and product.embedding_text_hash == ""

    # Then the retry embeds the new text.
    embed_product(payload)
    product.refresh_from_db()
    assert product.embedding_text_hash == product.text_hash()
    assert "Edited in the CMS meanwhile." in product.embedding_text()
    assert np.allclose(product.embedding, hashed_unit_vector(product.embedding_text(), 256), atol=1e-6)


class ProviderWithoutItsExtra(RecordingEmbeddingProvider):
    """A provider whose optional dependency is not installed here."""

    required_modules = ("gifting_jobs_not_installed_module",)
    extra = "local"


def test_embed_product__a_missing_provider_dependency_is_dead_lettered_at_once(worker, make_product, settings):
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "EMBEDDING_PROVIDER": f"{__name__}.ProviderWithoutItsExtra"}
    product = make_product(title="Desk lamp")

    job = enqueue_product_embedding(product.pk, triggered_by="manual")
    wait_for_job(job)

    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.PERMANENT and failed.attempts == 1
    assert 'pip install "gifting-jobs[local]"' in failed.error_message
