"""Fixtures of the ingestion tests: signed webhook deliveries and Redis queue contents."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.http import HttpResponse
from django.urls import reverse
from dramatiq.message import Message

from gifting_jobs.broker import RedisBroker
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


@pytest.fixture
def queued(broker: RedisBroker) -> Callable[[str], list[Message]]:
    """Read the messages waiting in a physical queue straight from Redis, in order."""

    def read(queue_name: str) -> list[Message]:
        key = f"{broker.namespace}:{queue_name}"
        ids = broker.client.lrange(key, 0, -1)
        if not ids:
            return []
        return [Message.decode(data) for data in broker.client.hmget(key + ".msgs", ids)]

    return read
