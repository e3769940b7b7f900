"""Redis refused and Redis hung while jobs are enqueued: outside and inside transactions, and through the webhook."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import reverse

from gifting_jobs.dispatch import JobOutcome, enqueue
from gifting_jobs.models import HeldJob, Product
from gifting_jobs.webhooks import sign
from tests.faults.conftest import seconds, wait_for
from tests.faults.loads import duplicates, effects_done
from tests.integration.ingestion.cms import event
from tests.integration.resilience.conftest import HungRedis
from tests.integration.spine.conftest import StoppableRedis

pytestmark = pytest.mark.faults

#: The issue's targets: the first enqueue against a dead Redis, and the next ones while the breaker is open.
FIRST_SECONDS = 2.5
NEXT_SECONDS = 0.05
OUTSIDE, INSIDE = 5, 3
#: Jobs the webhook's product starts (enrichment and embedding).
WEBHOOK_JOBS = 2
RECOVERY_TIMEOUT = 90


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def attack(prefix: str, broker) -> dict[str, float]:
    """Enqueue outside a transaction, inside one (on commit) and through the webhook; the timings."""
    fields = lambda n: {"key": f"{prefix}-{n}", "triggered_by": "manual"}  # noqa: E731
    outside = [timed(lambda n=n: enqueue("test_effect", fields(n), {})) for n in range(OUTSIDE)]
    assert all(job.outcome is JobOutcome.HELD for job, _ in outside), outside

    broker.breaker.reset()  # Each path pays its own first timeout.

    def commit() -> None:
        with transaction.atomic():
            for n in range(OUTSIDE, OUTSIDE + INSIDE):
                assert enqueue("test_effect", fields(n), {}).outcome is JobOutcome.ON_COMMIT

    _, commit_seconds = timed(commit)

    broker.breaker.reset()
    body = json.dumps(event("product.created", id=f"{prefix}-product", title=f"Fault {prefix}")).encode()
    response, webhook_seconds = timed(
        lambda: Client().post(
            reverse("gifting_jobs:payload-products"),
            body,
            content_type="application/json",
            HTTP_X_SIGNATURE_256=sign(body, settings.GIFTING_JOBS["WEBHOOK_SECRET"]),
        )
    )
    assert response.status_code == 202, response.content
    return {
        "first": outside[0][1],
        "next": max(s for _, s in outside[1:]),
        "commit": commit_seconds,
        "webhook": webhook_seconds,
    }


def product_done(external_id: str) -> bool:
    product = Product.objects.filter(external_id=external_id).defer("embedding").first()
    return bool(product and product.enrichment_version and product.embedding_text_hash)


def recover(prefix: str, url: str, processes) -> float | None:
    """Start a worker on the Redis now back; seconds until every held job ran."""
    processes.worker(url)
    return wait_for(
        lambda: (
            len(effects_done(prefix)) == OUTSIDE + INSIDE
            and product_done(f"{prefix}-product")
            and not HeldJob.objects.exists()
        ),
        timeout=RECOVERY_TIMEOUT,
    )


def record(fault_row, name: str, prefix: str, timings: dict[str, float], recovery: float | None, *, hung: bool) -> bool:
    done = len(effects_done(prefix)) + (WEBHOOK_JOBS if product_done(f"{prefix}-product") else 0)
    sent = OUTSIDE + INSIDE + WEBHOOK_JOBS
    bounded = (
        timings["first"] <= FIRST_SECONDS and timings["commit"] <= FIRST_SECONDS and timings["webhook"] <= FIRST_SECONDS
    )
    fast = timings["next"] <= (NEXT_SECONDS if hung else FIRST_SECONDS)
    passed = done == sent and duplicates(prefix) == 0 and bounded and fast and recovery is not None
    fault_row(
        scenario=name,
        sent=sent,
        ran=done,
        lost=sent - done,
        ran_twice=duplicates(prefix),
        recovery=f"{seconds(recovery)} after Redis answered",
        passed=passed,
        note=(
            f"enqueue {timings['first']:.2f} s, next ones <= {timings['next'] * 1000:.0f} ms; "
            f"commit of {INSIDE} {timings['commit']:.2f} s; webhook {timings['webhook']:.2f} s"
        ),
    )
    return passed


def test_redis_refused_during_enqueue(redis_servers, use_redis, processes, fault_row):
    server = redis_servers()
    broker = use_redis(server.url)
    server.stop()  # The port now refuses connections.

    timings = attack("refused", broker)
    server.start()
    recovery = recover("refused", server.url, processes)

    assert record(
        fault_row, "Redis refused during enqueue (outside tx, in tx, webhook)", "refused", timings, recovery, hung=False
    )


def test_redis_hung_during_enqueue(tmp_path, use_redis, processes, fault_row):
    hung = HungRedis()
    broker = use_redis(hung.url)
    try:
        timings = attack("hung", broker)
    finally:
        hung.close()
    server = StoppableRedis(tmp_path, port=hung.port)
    server.start()
    try:
        recovery = recover("hung", server.url, processes)
        assert record(
            fault_row,
            "Redis hung (accepts, never answers) during enqueue (outside tx, in tx, webhook)",
            "hung",
            timings,
            recovery,
            hung=True,
        )
    finally:
        processes.stop_all()
        server.stop()
