"""The webhook's answers to bodies it must refuse: which field, which status, and nothing stored."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from gifting_jobs.conf import DEFAULT_WEBHOOK_MAX_BODY_BYTES
from gifting_jobs.models import Product
from gifting_jobs.webhooks import sign
from tests.fuzz.webhook_bodies import DEEP_NESTING, HUGE_INTEGER_DIGITS
from tests.integration.ingestion.cms import event


def error_locs(response) -> list[list]:
    return [error["loc"] for error in response.json()["errors"]]


@pytest.mark.parametrize("updated_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize("name", ["product.created", "product.deleted"])
def test_webhook__updated_at_outside_every_time_zone_is_400(db, deliver, updated_at, name):
    response = deliver(event(name, updatedAt=updated_at))

    assert response.status_code == 400
    assert error_locs(response) == [["doc", "updatedAt"]]
    assert "UTC" in response.json()["errors"][0]["msg"]
    assert not Product.objects.exists()


def test_webhook__updated_at_at_the_edge_of_the_range_is_stored_and_stays_updatable(db, deliver):
    assert deliver(event("product.created", updatedAt="9999-12-30T00:00:00Z")).status_code == 202

    # The row reads back, and a later delete of it is answered normally.
    assert Product.objects.get().cms_updated_at.year == 9999
    assert deliver({"event": "product.deleted", "doc": {"id": "cms-prod-1"}}).json()["action"] == "archived"


@pytest.mark.parametrize("field", ["id", "title", "description", "brand"])
@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"], ids=["nul", "lone-surrogate"])
def test_webhook__unstorable_text_is_400_naming_the_field(db, deliver, field, text):
    response = deliver(event("product.created", **{field: text}))

    assert response.status_code == 400
    assert error_locs(response) == [["doc", field]]
    assert not Product.objects.exists()


def test_webhook__unstorable_tag_is_400_naming_its_index(db, deliver):
    response = deliver(event("product.created", tags=["fine", "bad\x00"]))

    assert response.status_code == 400
    assert error_locs(response) == [["doc", "tags", 1]]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * DEEP_NESTING + b"]" * DEEP_NESTING,
        b'{"event":"product.created","doc":{"id":1' + b"0" * HUGE_INTEGER_DIGITS + b"}}",
        b'{"event":"product.created","doc":{"id":"x","price":NaN}}',
        b"\xff\xfe not utf-8",
    ],
    ids=["deep", "huge-int", "nan", "not-utf8"],
)
def test_webhook__undecodable_json_is_400(db, deliver, raw):
    response = deliver(raw)

    assert response.status_code == 400
    assert response.json()["errors"][0]["type"] == "json_invalid"


def test_webhook__body_over_the_limit_is_413_json(db, client):
    raw = json.dumps(event(description="x" * DEFAULT_WEBHOOK_MAX_BODY_BYTES)).encode()

    response = client.post(
        reverse("gifting_jobs:payload-products"),
        raw,
        content_type="application/json",
        HTTP_X_SIGNATURE_256=sign(raw, settings.GIFTING_JOBS["WEBHOOK_SECRET"]),
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"] == [
        {"loc": [], "msg": f"at most {DEFAULT_WEBHOOK_MAX_BODY_BYTES} bytes are accepted", "type": "too_long"}
    ]
    assert not Product.objects.exists()


def test_webhook__body_limit_is_a_setting(db, deliver):
    small = {**settings.GIFTING_JOBS, "WEBHOOK_MAX_BODY_BYTES": 2048}
    body = event(description="x" * 1500)
    with override_settings(GIFTING_JOBS=small):
        assert deliver(body).status_code == 202
        assert deliver(event(description="x" * 2100, updatedAt="2026-11-02T00:00:00Z")).status_code == 413
    # Bodies above Django's own DATA_UPLOAD_MAX_MEMORY_SIZE are fine when the setting allows them.
    large = {**settings.GIFTING_JOBS, "WEBHOOK_MAX_BODY_BYTES": 4 * 1024 * 1024}
    with override_settings(GIFTING_JOBS=large):
        big = event(description="y" * (3 * 1024 * 1024), updatedAt="2026-11-03T00:00:00Z")
        assert deliver(big).status_code == 202
    assert Product.objects.get().cms_updated_at.isoformat().startswith("2026-11-03")
