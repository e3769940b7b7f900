"""Product enrichment through a real worker: stored JSON, prompt versions, skip rules, bad paths."""

from __future__ import annotations

import pytest

from gifting_jobs.jobs import enqueue_product_enrichment
from gifting_jobs.models import FailedJob, FailedJobReason, Product
from gifting_jobs.payloads import ProductEnrichmentPayload
from gifting_jobs.work.products import enrich_product
from tests.integration.products.conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_enrich_product__stores_enrichment_version_hash_and_time(worker, recording_providers, make_product):
    product = make_product(title="Coffee grinder", description="Burr grinder for coffee. Fifteen settings.")

    wait_for_job(enqueue_product_enrichment(product.pk, triggered_by="manual"))

    product.refresh_from_db()
    assert product.enrichment == {
        "tags": ["coffee"],
        "occasions": [],
        "recipient_types": [],
        "price_band": "mid",
        "summary": "Coffee grinder",
    }
    assert product.enrichment_version == "v1"
    assert product.enrichment_text_hash == product.text_hash()
    assert product.enriched_at is not None
    (call,) = recording_providers.enrichment.calls
    assert call.text == product.embedding_text()
    assert call.description == "Burr grinder for coffee. Fifteen settings."


def test_enrich_product__same_version_and_text_makes_no_provider_call(worker, recording_providers, make_product):
    product = make_product(title="Tea set")
    wait_for_job(enqueue_product_enrichment(product.pk, triggered_by="manual"))
    enriched_at = Product.objects.get(pk=product.pk).enriched_at

    wait_for_job(enqueue_product_enrichment(product.pk, triggered_by="manual", current_enrichment_version="v1"))

    assert len(recording_providers.enrichment.calls) == 1
    assert Product.objects.get(pk=product.pk).enriched_at == enriched_at


def test_enrich_product__new_prompt_version_re_enriches(worker, recording_providers, make_product):
    product = make_product(title="Tea set")
    wait_for_job(enqueue_product_enrichment(product.pk, triggered_by="manual"))

    wait_for_job(enqueue_product_enrichment(product.pk, triggered_by="manual", prompt_version="v2"))

    product.refresh_from_db()
    assert len(recording_providers.enrichment.calls) == 2
    assert product.enrichment_version == "v2"


def test_enrich_product__settings_prompt_version_bump_re_enriches(recording_providers, make_product, settings):
    product = make_product(title="Tea set")
    payload = ProductEnrichmentPayload(product_id=product.pk, triggered_by="manual")
    enrich_product(payload)
    calls_before = recording_providers.enrichment.calls

    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "PROMPT_VERSION": "2026-12"}
    from gifting_jobs.providers.enrichment import get_enrichment_provider

    enrich_product(payload)

    product.refresh_from_db()
    assert product.enrichment_version == "2026-12"
    assert len(calls_before) == 1
    assert len(get_enrichment_provider().calls) == 1  # The new settings' provider did the second call.


def test_enrich_product__changed_text_re_enriches(recording_providers, make_product):
    product = make_product(title="Tea set")
    payload = ProductEnrichmentPayload(product_id=product.pk, triggered_by="manual")
    enrich_product(payload)
    Product.objects.filter(pk=product.pk).update(title="Tea and coffee set")

    enrich_product(payload)

    product.refresh_from_db()
    assert product.enrichment["tags"] == ["coffee", "tea"]
    assert product.enrichment_text_hash == product.text_hash()
    assert len(recording_providers.enrichment.calls) == 2


def test_enrich_product__missing_product_is_dead_lettered_as_permanent(worker, recording_providers):
    job = enqueue_product_enrichment(424242, triggered_by="manual")
    wait_for_job(job)

    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.PERMANENT
    assert failed.attempts == 1
    assert recording_providers.enrichment.calls == []


def test_enrich_product__local_provider_by_default(make_product):
    product = make_product(title="Hiking backpack", description="A 40 litre backpack for hikes and camping.")

    enrich_product(ProductEnrichmentPayload(product_id=product.pk, triggered_by="manual"))

    product.refresh_from_db()
    assert product.enrichment["tags"][0] == "outdoors"
    assert product.enrichment["summary"] == "A 40 litre backpack for hikes and camping."
