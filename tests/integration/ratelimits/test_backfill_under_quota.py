"""2,000 embedding jobs on 2 worker processes against a provider enforcing its quota strictly.

The fake OpenAI server answers 429 past 100 requests in any 1 s window; the
limiter is configured a little below it (90 per 1 s: admission and arrival are
a few milliseconds apart, and the margin absorbs it). Every job has one attempt,
so a 429 or a refusal that cost an attempt would dead-letter it.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from gifting_jobs.jobs import enqueue_many
from gifting_jobs.models import FailedJob, Product, ProductStatus
from gifting_jobs.ratelimits import OPENAI_EMBEDDINGS
from tests.conftest import wait_until
from tests.fake_openai import Fail

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JOBS = 2000
#: The server's quota: requests per window.
SERVER_LIMIT = 100
WINDOW_SECONDS = 1.0
#: The limiter's share of the same window (90%).
LIMITER_PER_WINDOW = 90


def test_2000_embedding_jobs_on_2_workers_keep_within_the_providers_quota(fake_openai, worker_processes):
    # Given a strict provider and the limiter set just below its quota
    fake_openai.strict(SERVER_LIMIT, window_seconds=WINDOW_SECONDS)
    Product.objects.bulk_create(
        Product(
            external_id=f"cms-{n}",
            title=f"Gift {n}",
            price=Decimal("10.00"),
            currency="EUR",
            status=ProductStatus.DRAFT,
        )
        for n in range(JOBS)
    )
    ids = list(Product.objects.values_list("pk", flat=True))
    overrides = {
        "EMBEDDING_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-test-fake",
        "OPENAI_BASE_URL": fake_openai.url,
        "RATE_LIMITS": {
            OPENAI_EMBEDDINGS: {
                "requests_per_minute": LIMITER_PER_WINDOW * 60 / WINDOW_SECONDS,
                "window_seconds": WINDOW_SECONDS,
            }
        },
    }
    env = {"GIFTING_TEST_SETTINGS": json.dumps(overrides), "LOG_LEVEL": "WARNING"}

    # When 2,000 one-attempt jobs run on 2 worker processes of 8 threads
    results = enqueue_many(
        "product_embedding", [({"product_id": pk, "triggered_by": "manual"}, {"attempts": 1}) for pk in ids]
    )
    assert all(not isinstance(r, Exception) for r in results)
    workers = [worker_processes("--threads", "8", env=env) for _ in range(2)]

    def embedded() -> bool:
        for worker in workers:
            assert worker.proc.poll() is None, worker.output()[-3000:]
        return Product.objects.filter(embedding__isnull=False).count() == JOBS and not FailedJob.objects.exists()

    wait_until(embedded, timeout=240, interval=0.5, what=f"{JOBS} products embedded")

    # Then: no dead letter, every product embedded by exactly one request, no 429,
    # and no window of the server ever saw more than its quota
    assert not FailedJob.objects.exists()
    requests = fake_openai.requests_to("embeddings")
    assert [r for r in requests if isinstance(r.behaviour, Fail)] == []
    assert len(requests) == JOBS
    assert fake_openai.max_in_window(WINDOW_SECONDS) <= SERVER_LIMIT
    times = sorted(r.received_at for r in requests)
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"{JOBS} calls at {rate:.1f}/s, {rate / (LIMITER_PER_WINDOW / WINDOW_SECONDS):.2f} of the limiter's rate")
