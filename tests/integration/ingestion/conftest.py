"""Fixtures of the ingestion tests: signed webhook deliveries and Redis queue contents."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from gifting_jobs.conf import get_settings
from gifting_jobs.webhooks import sign

#: Use as `signature=` to send the body's correct signature.
SIGN = "sign"


@pytest.fixture
def deliver(client: Client) -> Callable[..., HttpResponse]:
    """POST a webhook body, signed with the configured secret unless `signature=` says otherwise."""

    def post(body: dict[str, Any] | bytes, *, signature: str | None = SIGN) -> HttpResponse:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {}
        if signature == SIGN:
            signature = sign(raw, get_settings().WEBHOOK_SECRET)
        if signature is not None:
            headers["HTTP_X_SIGNATURE_256"] = signature
        return client.post(reverse("gifting_jobs:payload-products"), raw, content_type="application/json", **headers)

    return post
