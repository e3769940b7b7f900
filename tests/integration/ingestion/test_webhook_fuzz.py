"""Hostile signed webhook bodies through the real view: never a 500, never an unreadable row.

The bodies come from `tests.fuzz.webhook_bodies` (seeded, so a failure
replays); the fault suite runs the same generator with more bodies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from gifting_jobs.conf import get_settings
from gifting_jobs.models import Product, ProductStatus
from gifting_jobs.webhooks import sign
from tests.fuzz.webhook_bodies import HostileBody, fuzzed_bodies, known_hostile_bodies

#: Seed of the fuzz run (set WEBHOOK_FUZZ_SEED to replay another one).
FUZZ_SEED = int(os.environ.get("WEBHOOK_FUZZ_SEED", "20261201"))
#: Bodies per run: the issue's attack sent 3,000.
FUZZ_COUNT = int(os.environ.get("WEBHOOK_FUZZ_COUNT", "3000"))
#: The answers a signed body may get.
ACCEPTED, BAD_REQUEST = 202, 400


def post_signed(client: Client, raw: bytes) -> HttpResponse:
    return client.post(
        reverse("gifting_jobs:payload-products"),
        raw,
        content_type="application/json",
        HTTP_X_SIGNATURE_256=sign(raw, get_settings().WEBHOOK_SECRET),
    )


def contract_violation(response: HttpResponse) -> str | None:
    """Why an answer breaks the webhook's contract (202, or 400 JSON with field errors), or None."""
    if response.status_code not in (ACCEPTED, BAD_REQUEST):
        return f"status {response.status_code}"
    if response["Content-Type"] != "application/json":
        return f"content type {response['Content-Type']}"
    body = json.loads(response.content)
    if response.status_code == BAD_REQUEST and not (isinstance(body.get("errors"), list) and body["errors"]):
        return f"400 without field errors: {body}"
    return None


def send_all(client: Client, bodies: Iterable[HostileBody]) -> tuple[int, list[str]]:
    """POST every body; the number accepted and the contract violations seen."""
    accepted, violations = 0, []
    for case in bodies:
        response = post_signed(client, case.body)
        problem = contract_violation(response)
        if problem is not None:
            violations.append(f"{case.label}: {problem}")
        accepted += response.status_code == ACCEPTED
    return accepted, violations


def assert_every_product_readable_and_updatable(client: Client) -> None:
    """Each stored row loads in Python, saves again, and takes a later delete through the webhook."""
    for product in Product.objects.order_by("pk"):
        assert product.cms_updated_at is None or product.cms_updated_at.utcoffset() is not None
        for text in (product.external_id, product.title, product.description, product.brand, *product.tags):
            assert "\x00" not in text
            text.encode()  # a lone surrogate would raise here
        product.save()
        response = post_signed(
            client, json.dumps({"event": "product.deleted", "doc": {"id": product.external_id}}).encode()
        )
        assert response.status_code == ACCEPTED, (product.external_id, response.content)
    assert not Product.objects.exclude(status=ProductStatus.ARCHIVED).exists()


@pytest.fixture
def lenient_client() -> Client:
    """A test client that turns a view's exception into the 500 a real client would get."""
    return Client(raise_request_exception=False)


def test_webhook_fuzz__known_hostile_bodies_get_400_or_202_and_store_nothing_unreadable(db, lenient_client):
    accepted, violations = send_all(lenient_client, known_hostile_bodies())

    assert violations == []
    assert accepted > 0  # the merely unusual values (emoji, long brand…) are still mirrored
    assert_every_product_readable_and_updatable(lenient_client)


def test_webhook_fuzz__seeded_bodies_never_answer_500(db, lenient_client):
    accepted, violations = send_all(lenient_client, fuzzed_bodies(FUZZ_SEED, FUZZ_COUNT))

    assert violations == [], f"{len(violations)} of {FUZZ_COUNT} bodies (seed {FUZZ_SEED}): {violations[:20]}"
    # The generator keeps a share of bodies valid, so the stored rows are exercised too.
    assert accepted >= FUZZ_COUNT // 10
    assert_every_product_readable_and_updatable(lenient_client)
