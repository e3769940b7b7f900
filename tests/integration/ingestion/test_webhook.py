"""The CMS webhook through the Django test client: answers, the mirror it writes, the jobs it starts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from gifting_jobs.models import HeldJob, Product, ProductStatus
from gifting_jobs.webhooks import sign
from tests.integration.ingestion.cms import FIRST_VERSION, OLDER_VERSION, SECOND_VERSION, event

URL_NAME = "gifting_jobs:payload-products"


def catalog_ids(queued) -> list[str]:
    """Ids of the messages waiting in the catalog queue's normal band (where product jobs go)."""
    return [m.message_id for m in queued("catalog")]


# --- accepted deliveries (real commits, real Redis) -------------------------------------------


def test_webhook__created_mirrors_every_field_and_enqueues_processing(transactional_db, clean_broker, deliver, queued):
    response = deliver(event("product.created"))

    assert response.status_code == 202
    body = response.json()
    product = Product.objects.get()
    assert body == {"external_id": "cms-prod-1", "product_id": product.pk, "action": "created"}
    assert product.external_id == "cms-prod-1"
    assert product.title == "Hand-thrown ceramic mug"
    assert product.description == "A speckled stoneware mug, glazed by hand."
    assert product.brand == "Clayworks"
    assert product.price == Decimal("24.50")
    assert product.currency == "EUR"
    assert product.status == ProductStatus.PUBLISHED
    assert product.visible_to_gifter is True
    assert product.is_featured is False
    assert product.tags == ["kitchen", "handmade"]
    assert product.cms_updated_at == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    # Both processing jobs are in Redis after the commit; the outbox is empty again.
    messages = queued("catalog")
    assert sorted(m.actor_name for m in messages) == ["product_embedding", "product_enrichment"]
    assert {m.args[0]["product_id"] for m in messages} == {product.pk}
    assert {m.args[0]["triggered_by"] for m in messages} == {"product.created"}
    assert HeldJob.objects.count() == 0


def test_webhook__redelivery_changes_nothing_and_enqueues_nothing(transactional_db, clean_broker, deliver, queued):
    first = deliver(event("product.created"))
    assert first.status_code == 202
    product = Product.objects.get()
    before = catalog_ids(queued)
    assert len(before) == 2

    again = deliver(event("product.created"))

    assert again.status_code == 202
    assert again.json() == {"external_id": "cms-prod-1", "product_id": product.pk, "action": "unchanged"}
    assert Product.objects.count() == 1
    # Nothing was saved: auto_now would have moved updated_at.
    assert Product.objects.get().updated_at == product.updated_at
    assert catalog_ids(queued) == before
    assert HeldJob.objects.count() == 0


def test_webhook__stale_update_is_ignored(transactional_db, clean_broker, deliver):
    deliver(event("product.created", updatedAt=FIRST_VERSION))
    product = Product.objects.get()

    response = deliver(event("product.updated", title="An older title", price=9, updatedAt=OLDER_VERSION))

    assert response.status_code == 202
    assert response.json()["action"] == "stale"
    stored = Product.objects.get()
    assert (stored.title, stored.price, stored.cms_updated_at) == (product.title, product.price, product.cms_updated_at)
    assert stored.updated_at == product.updated_at


def test_webhook__newer_update_is_applied_and_enqueues_processing(transactional_db, clean_broker, deliver, queued):
    # Given a draft (no jobs for drafts)
    deliver(event("product.created", status="DRAFT"))
    assert queued("catalog") == []

    # When the CMS publishes it with a new title and price
    response = deliver(
        event("product.updated", status="PUBLISHED", title="Large ceramic mug", price=31.9, updatedAt=SECOND_VERSION)
    )

    # Then the mirror follows and processing starts, triggered by the update
    assert response.status_code == 202
    assert response.json()["action"] == "updated"
    product = Product.objects.get()
    assert (product.title, product.price, product.status) == ("Large ceramic mug", Decimal("31.90"), "PUBLISHED")
    assert product.cms_updated_at == datetime(2026, 11, 1, 11, 30, tzinfo=UTC)
    messages = queued("catalog")
    assert sorted(m.actor_name for m in messages) == ["product_embedding", "product_enrichment"]
    assert {m.args[0]["triggered_by"] for m in messages} == {"product.updated"}


def test_webhook__deleted_archives_and_enqueues_nothing(transactional_db, clean_broker, deliver, queued):
    deliver(event("product.created"))
    product = Product.objects.get()
    before = catalog_ids(queued)

    response = deliver({"event": "product.deleted", "doc": {"id": "cms-prod-1", "updatedAt": FIRST_VERSION}})

    assert response.status_code == 202
    assert response.json() == {"external_id": "cms-prod-1", "product_id": product.pk, "action": "archived"}
    archived = Product.objects.get()
    assert archived.status == ProductStatus.ARCHIVED
    assert archived.title == product.title
    assert catalog_ids(queued) == before
    assert HeldJob.objects.count() == 0


# --- malformed bodies: 400 with field errors, nothing written ----------------------------------


@pytest.mark.django_db
def test_webhook__not_json_is_400(deliver):
    response = deliver(b'{"event": "product.created", "doc": ')

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "body is not valid JSON"
    assert body["errors"][0]["type"] == "json_invalid"
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_webhook__json_that_is_not_an_object_is_400(deliver):
    response = deliver(b'["product.created"]')

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"loc": [], "msg": "expected an object with 'event' and 'doc'", "type": "model_type"}
    ]


@pytest.mark.django_db
def test_webhook__unknown_event_is_400(deliver):
    response = deliver(event("product.renamed"))

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["loc"] for e in errors] == [["event"]]
    assert errors[0]["type"] == "enum"
    assert "product.created" in errors[0]["msg"]
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_webhook__missing_doc_id_is_400(deliver):
    body = event()
    del body["doc"]["id"]

    response = deliver(body)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"loc": ["doc", "id"], "msg": "Field required", "type": "missing"}]
    assert Product.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("price", "error_type"),
    [("cheap", "decimal_parsing"), (True, "decimal_type"), ([12], "decimal_type"), (-1, "greater_than_equal")],
)
def test_webhook__wrong_type_for_price_is_400(deliver, price, error_type):
    response = deliver(event(price=price))

    assert response.status_code == 400
    body = response.json()
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["doc", "price"], error_type)]
    assert "doc.price" in body["error"]
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_webhook__several_field_errors_are_all_reported(deliver):
    response = deliver(event(title="", visibleToGifter="yes", tags="kitchen", updatedAt="yesterday"))

    assert response.status_code == 400
    locs = sorted(tuple(e["loc"]) for e in response.json()["errors"])
    assert locs == [("doc", "tags"), ("doc", "title"), ("doc", "updatedAt"), ("doc", "visibleToGifter")]


# --- signatures: 401, nothing written -----------------------------------------------------------


@pytest.mark.django_db
def test_webhook__missing_signature_is_401(deliver):
    response = deliver(event(), signature=None)

    assert response.status_code == 401
    assert response.json() == {"error": "missing X-Signature-256 header"}
    assert "X-Signature-256" in response["WWW-Authenticate"]
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_webhook__wrong_signature_is_401(deliver):
    body = json.dumps(event()).encode()

    forged = deliver(body, signature=sign(body, "not-the-secret"))
    tampered = deliver(body.replace(b"24.50", b"0.01"), signature=sign(body, settings.GIFTING_JOBS["WEBHOOK_SECRET"]))

    assert (forged.status_code, tampered.status_code) == (401, 401)
    assert forged.json() == {"error": "signature does not match the body"}
    assert Product.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["sha1=abcdef", "deadbeef", "sha256=", "sha256=" + "z" * 64, "sha256=" + "a" * 63])
def test_webhook__malformed_signature_header_is_401(deliver, header):
    response = deliver(event(), signature=header)

    assert response.status_code == 401
    assert response.json()["error"].startswith("malformed X-Signature-256 header")
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_webhook__empty_secret_rejects_everything(deliver, caplog):
    body = json.dumps(event()).encode()
    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "WEBHOOK_SECRET": ""}):
        signed_with_empty_key = deliver(body, signature=sign(body, ""))
        unsigned = deliver(body, signature=None)

    assert (signed_with_empty_key.status_code, unsigned.status_code) == (401, 401)
    assert signed_with_empty_key.json() == {"error": "webhook signing is not configured on this server"}
    assert any(r.levelname == "ERROR" and "WEBHOOK_SECRET'] is empty" in r.getMessage() for r in caplog.records)
    assert Product.objects.count() == 0


# --- methods -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_webhook__other_methods_are_405(client, method):
    response = getattr(client, method)(reverse(URL_NAME))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert Product.objects.count() == 0


def test_webhook__url_is_fixed():
    assert reverse(URL_NAME) == "/webhooks/payload/products/"
