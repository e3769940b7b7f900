"""The Product `post_save` signal: processing jobs for published, visible products whose text changed."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from gifting_jobs.models import HeldJob, Product, ProductStatus
from gifting_jobs.signals import needs_processing
from tests.conftest import wait_until

pytestmark = pytest.mark.usefixtures("transactional_db", "clean_broker")


def make_product(**fields: object) -> Product:
    values = {
        "external_id": "sig-1",
        "title": "Wool scarf",
        "description": "Soft merino, knitted in Scotland.",
        "brand": "Highland",
        "status": ProductStatus.PUBLISHED,
        "visible_to_gifter": True,
        "tags": ["winter"],
    }
    values.update(fields)
    return Product.objects.create(**values)


def product_jobs(queued) -> dict[str, dict]:
    """The product jobs waiting in Redis, by actor: their payloads."""
    return {m.actor_name: m.args[0] for m in queued("catalog")}


def test_signal__published_visible_product_sends_both_jobs(queued):
    product = make_product()

    jobs = product_jobs(queued)
    assert set(jobs) == {"product_enrichment", "product_embedding"}
    assert jobs["product_embedding"] == {
        "product_id": product.pk,
        "triggered_by": "product.created",
        "previous_text_hash": None,
    }
    assert jobs["product_enrichment"]["product_id"] == product.pk
    assert HeldJob.objects.count() == 0


def test_signal__jobs_are_sent_only_after_commit(queued):
    with transaction.atomic():
        product = make_product()
        # Inside the transaction: in the outbox, not in Redis.
        assert queued("catalog") == []
        assert HeldJob.objects.count() == 2

    assert set(product_jobs(queued)) == {"product_enrichment", "product_embedding"}
    assert {m.args[0]["product_id"] for m in queued("catalog")} == {product.pk}
    assert HeldJob.objects.count() == 0


def test_signal__rollback_sends_nothing(queued):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        make_product()
        raise Abort

    assert Product.objects.count() == 0
    assert HeldJob.objects.count() == 0
    assert queued("catalog") == []


@pytest.mark.parametrize(
    "fields",
    [
        {"status": ProductStatus.DRAFT},
        {"status": ProductStatus.ARCHIVED},
        {"visible_to_gifter": False},
    ],
    ids=["draft", "archived", "hidden"],
)
def test_signal__not_recommendable_product_sends_nothing(queued, fields):
    make_product(**fields)

    assert queued("catalog") == []
    assert HeldJob.objects.count() == 0


def test_signal__save_without_text_change_sends_nothing(queued):
    # Given a product whose current text is the one embedded
    product = Product(external_id="sig-2", title="Leather wallet", status=ProductStatus.PUBLISHED)
    product.embedding_text_hash = product.text_hash()
    product.save()
    assert queued("catalog") == []

    # When fields outside the embedded text change
    product.price = 45
    product.is_featured = True
    product.save()

    assert queued("catalog") == []
    assert HeldJob.objects.count() == 0


def test_signal__text_change_passes_the_previous_hash(queued):
    product = Product(external_id="sig-3", title="Leather wallet", status=ProductStatus.PUBLISHED)
    embedded_hash = product.text_hash()
    product.embedding_text_hash = embedded_hash
    product.save()

    product.title = "Leather card wallet"
    product.save()

    jobs = product_jobs(queued)
    assert jobs["product_embedding"]["previous_text_hash"] == embedded_hash
    assert jobs["product_embedding"]["triggered_by"] == "product.updated"
    assert not needs_processing(Product(title="x", status=ProductStatus.DRAFT))


def test_signal__enqueue_failure_never_breaks_the_save(queued, caplog):
    # A corrupt stored hash makes the embedding job's payload invalid: its enqueue raises.
    with transaction.atomic():
        product = make_product(embedding_text_hash="not-a-hash")

    assert Product.objects.filter(pk=product.pk).exists()
    # The other job still went out.
    assert set(product_jobs(queued)) == {"product_enrichment"}
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "gifting_jobs.signals"]
    assert len(failures) == 1
    assert failures[0].job_type == "product_embedding"
    assert failures[0].exc_info is not None


def test_signal__a_worker_stores_embedding_and_enrichment(worker):
    product = make_product()

    def processed() -> Product | None:
        return Product.objects.filter(pk=product.pk, embedding__isnull=False, enrichment__isnull=False).first()

    stored = wait_until(processed, timeout=60, what="the product's embedding and enrichment")
    assert stored.embedding_text_hash == product.text_hash()
    assert stored.embedding_model
    assert len(stored.embedding) == 256
    # The work writes with QuerySet.update(): no second round of jobs was started.
    assert HeldJob.objects.count() == 0
