"""How a host project tests its code against the job system: written as a team adopting gifting_jobs would.

The pytest plugin captures every job instead of sending it to Redis; the
helpers assert on what was enqueued and run jobs inline. (This repository's
own suite sets `gifting_jobs_capture = "opt-in"`, so these tests ask for the
`jobs` fixture; a host project with the default `all` captures without it.)
"""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.urls import reverse

from gifting_jobs.broker import get_broker
from gifting_jobs.broker.inspection import namespace_keys
from gifting_jobs.models import Product, ProductStatus, TaskResultRecord
from gifting_jobs.testing import assert_enqueued, drain_jobs, enqueued_jobs, perform_job, refute_enqueued
from gifting_jobs.webhooks import sign
from tests.data.relevance import PROFILES_BY_KEY, create_profile
from tests.hostapp_style.tasks import publish_product

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("jobs")]


def webhook_body(**doc: object) -> bytes:
    return json.dumps(
        {
            "event": "product.created",
            "doc": {
                "id": "cms-42",
                "title": "Linen apron",
                "description": "Stonewashed linen.",
                "status": "PUBLISHED",
                "visibleToGifter": True,
                "updatedAt": "2026-11-01T10:00:00.000Z",
                **doc,
            },
        }
    ).encode()


def post_webhook(client, body: bytes):
    return client.post(
        reverse("gifting_jobs:payload-products"),
        body,
        content_type="application/json",
        HTTP_X_SIGNATURE_256=sign(body, "test-webhook-secret"),
    )


def test_the_cms_webhook_view_enqueues_processing(client):
    response = post_webhook(client, webhook_body())

    assert response.status_code == 202
    product = Product.objects.get(external_id="cms-42")
    assert_enqueued("product_enrichment", product_id=product.pk, triggered_by="product.created", queue="catalog")
    assert_enqueued("product_embedding", product_id=product.pk, previous_text_hash=None)
    assert len(enqueued_jobs()) == 2


def test_the_recommendations_view_enqueues_the_profile_embedding(client, django_user_model):
    user = django_user_model.objects.create_user("ada", password="pw")
    profile = create_profile(user, PROFILES_BY_KEY["bookworm"].answers, embed=False)
    client.force_login(user)

    response = client.get(reverse("gifting_jobs:api-recommendations"))

    assert response.status_code == 202
    assert_enqueued("taste_profile_embedding", taste_profile_id=profile.pk, user_id=user.pk, priority=1)


def test_the_product_signal_enqueues_only_for_published_products():
    draft = Product.objects.create(external_id="d-1", title="Draft mug", status=ProductStatus.DRAFT)
    refute_enqueued("product_embedding", product_id=draft.pk)

    live = Product.objects.create(external_id="p-1", title="Mug", status=ProductStatus.PUBLISHED)
    assert_enqueued("product_embedding", product_id=live.pk, triggered_by="product.created")

    live.save()  # Same text: nothing new to embed.
    assert_enqueued("product_embedding", product_id=live.pk, count=1)


def test_a_job_performed_inline_does_its_real_work():
    product = Product.objects.create(
        external_id="p-2", title="Walnut chess set", description="Hand-carved pieces.", status=ProductStatus.PUBLISHED
    )

    perform_job("product_embedding", product_id=product.pk, triggered_by="manual")

    product.refresh_from_db()
    assert product.embedding is not None and product.embedding_text_hash == product.text_hash()


def test_draining_runs_a_task_and_every_job_it_leads_to():
    product = Product.objects.create(external_id="p-3", title="Brass compass", description="Pocket-sized.")
    result = publish_product.enqueue(product.pk, "editor@example.com")

    ran = drain_jobs()

    # The task published the product; its signal enqueued processing; the task sent a follow-up task.
    assert ran == {"django_task": 2, "product_enrichment": 1, "product_embedding": 1}
    product.refresh_from_db()
    assert product.embedding is not None and product.enrichment is not None
    assert [m.subject for m in mail.outbox] == ["Brass compass is live"]
    assert TaskResultRecord.objects.get(pk=result.id).return_value == "p-3"
    assert enqueued_jobs() == []


def test_nothing_reaches_the_shared_redis_namespace(jobs):
    broker = get_broker()
    before = namespace_keys(broker)

    Product.objects.create(external_id="p-4", title="Silk tie", status=ProductStatus.PUBLISHED)
    publish_product.enqueue(1, "editor@example.com")
    drain_jobs("catalog")

    assert namespace_keys(broker) == before
    assert not any(broker.job_pending(job.id) for job in jobs.enqueued_jobs())
