"""End to end over real HTTP: `runserver` takes a signed CMS webhook, a `rundramatiq` worker
embeds and enriches the product (offline providers)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings

from gifting_jobs.models import Product, ProductStatus
from gifting_jobs.webhooks import sign
from tests.conftest import ManagePyProcess, free_port, wait_until

#: Generous: the worker loads the local embedding model on its first job, on a shared 2-core machine.
PROCESSING_TIMEOUT = 120.0
SERVER_START_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Server(ManagePyProcess):
    """`manage.py runserver --noreload` on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        super().__init__("runserver", "--noreload", "--skip-checks", f"127.0.0.1:{self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/payload/products/"


@pytest.fixture
def server(transactional_db: None) -> Iterator[Server]:
    server = Server()
    try:
        wait_until(
            lambda: accepts_connections(server.port) or server.proc.poll() is not None,
            timeout=SERVER_START_TIMEOUT,
            what="runserver to listen",
        )
        assert server.proc.poll() is None, f"runserver exited:\n{server.output()}"
        yield server
    finally:
        server.stop()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_webhook_http__signed_delivery_is_embedded_and_enriched(server: Server, worker_processes: Callable[..., Any]):
    worker = worker_processes()
    body = json.dumps(
        {
            "event": "product.created",
            "doc": {
                "id": "e2e-1",
                "title": "Cast-iron teapot",
                "description": "A Japanese tetsubin that keeps tea hot for an hour.",
                "brand": "Iwachu",
                "price": 89.0,
                "currency": "EUR",
                "status": "PUBLISHED",
                "visibleToGifter": True,
                "isFeatured": True,
                "tags": ["tea", "kitchen"],
                "updatedAt": "2026-11-20T08:00:00Z",
            },
        }
    ).encode()
    secret = settings.GIFTING_JOBS["WEBHOOK_SECRET"]

    # A forged delivery is refused and writes nothing.
    status, answer = post(server.url, body, {"X-Signature-256": sign(body, "wrong-secret")})
    assert (status, answer) == (401, {"error": "signature does not match the body"})
    assert not Product.objects.exists()

    status, answer = post(server.url, body, {"X-Signature-256": sign(body, secret)})
    assert status == 202, server.output()
    assert answer["action"] == "created"

    def processed() -> Product | None:
        return Product.objects.filter(external_id="e2e-1", embedding__isnull=False, enrichment__isnull=False).first()

    product = wait_until(processed, timeout=PROCESSING_TIMEOUT, what=f"embedding and enrichment\n{worker.output()}")
    assert product.pk == answer["product_id"]
    assert product.status == ProductStatus.PUBLISHED
    assert len(product.embedding) == settings.GIFTING_JOBS.get("EMBEDDING_DIMENSIONS", 256)
    assert product.embedding_text_hash == product.text_hash()
    assert product.embedding_model

    # A redelivery over HTTP is accepted and changes nothing.
    status, answer = post(server.url, body, {"X-Signature-256": sign(body, secret)})
    assert (status, answer["action"]) == (202, "unchanged")
    assert Product.objects.get().updated_at == product.updated_at
