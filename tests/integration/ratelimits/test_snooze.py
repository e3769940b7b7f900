"""Snoozes through a real worker: rate-limited jobs come back later without spending an attempt.

Jobs are enqueued with `attempts=1`: had a 429 or a refusal cost an attempt,
the job would be dead-lettered at once, so "no dead letter" proves it did not.
"""

from __future__ import annotations

from itertools import pairwise

import dramatiq
import pytest

from gifting_jobs.jobs import enqueue_product_embedding
from gifting_jobs.models import FailedJob, FailedJobReason, HeldJob, HeldJobReason, Product
from gifting_jobs.ratelimits import OPENAI_EMBEDDINGS, cool_down
from gifting_jobs.status import collect_status
from tests.conftest import wait_until
from tests.fake_openai import Fail
from tests.integration.ratelimits.conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


def embedded(*products: Product) -> bool:
    return Product.objects.filter(pk__in=[p.pk for p in products], embedding__isnull=False).count() == len(products)


def test_a_429_snoozes_the_job_and_cools_the_provider_down_for_every_worker(
    start_worker, openai_providers, make_product, limits
):
    # Given a provider that answers the first request 429 with Retry-After: 1 s
    openai_providers.script("embeddings", Fail(429, retry_after_ms="1000", message="Rate limit reached"))
    products = [make_product(title=f"Tea set {n}") for n in range(6)]

    # When six jobs of one attempt each run on 4 threads
    jobs = [enqueue_product_embedding(p.pk, triggered_by="manual", attempts=1) for p in products]
    start_worker(threads=4)
    for job in jobs:
        wait_for_job(job)

    # Then every job is done, none is dead-lettered, and the 429 cost no attempt
    assert embedded(*products)
    assert not FailedJob.objects.exists()
    requests = openai_providers.requests_to("embeddings")
    rejected = [r for r in requests if isinstance(r.behaviour, Fail)]
    assert len(rejected) == 1
    # Nobody called during the cooldown, except calls already on their way when the 429 came.
    during = [r for r in requests if rejected[0].received_at + 0.4 < r.received_at < rejected[0].received_at + 0.95]
    assert during == []


def test_a_refused_turn_snoozes_without_an_attempt_and_calls_keep_the_pace(
    start_worker, openai_providers, make_product, limits
):
    # 240 requests per minute over a 1 s window: 4 per second, a turn every 250 ms; no waiting in the worker.
    limits({OPENAI_EMBEDDINGS: {"requests_per_minute": 240, "window_seconds": 1, "max_wait_seconds": 0}})
    products = [make_product(title=f"Mug {n}") for n in range(8)]

    jobs = [enqueue_product_embedding(p.pk, triggered_by="manual", attempts=1) for p in products]
    start_worker(threads=4)
    for job in jobs:
        wait_for_job(job, timeout=30)

    assert embedded(*products)
    assert not FailedJob.objects.exists()
    times = sorted(r.received_at for r in openai_providers.requests_to("embeddings"))
    assert len(times) == 8  # each job called once: refusals never reached the provider
    # Turns 250 ms apart at least (arrivals may drift by a few ms from admissions).
    assert all(b - a >= 0.2 for a, b in pairwise(times))
    assert times[-1] - times[0] >= 7 * 0.25 - 0.05


def test_a_job_snoozed_beyond_the_horizon_waits_in_postgres_keeping_its_id(
    start_worker, openai_providers, make_product, limits
):
    # Given a horizon of 0.5 s and a cooldown of 2 s on the provider
    limits({}, DELAY_HORIZON_SECONDS=0.5)
    product = make_product(title="Candle")
    cool_down(OPENAI_EMBEDDINGS, 2.0)

    job = enqueue_product_embedding(product.pk, triggered_by="manual", attempts=1)
    start_worker(threads=2)

    # Then the job is held in Postgres as snoozed, its id still taken
    held = wait_until(lambda: HeldJob.objects.filter(job_id=job.id).first(), what="the snoozed job held")
    assert held.reason == HeldJobReason.SNOOZED
    assert held.message["options"]["snoozes"] == 1 and held.message["options"].get("retries", 0) == 0
    again = enqueue_product_embedding(product.pk, triggered_by="manual")
    assert again.deduplicated and again.message_id == job.message_id
    # And the relay hands it back when due; it runs once
    wait_for_job(job, timeout=20)
    assert embedded(product)
    assert len(openai_providers.requests_to("embeddings")) == 1
    assert not FailedJob.objects.exists() and not HeldJob.objects.exists()


def test_an_equal_job_enqueued_while_one_is_snoozed_is_deduplicated(
    start_worker, openai_providers, make_product, limits
):
    product = make_product(title="Notebook")
    cool_down(OPENAI_EMBEDDINGS, 1.5)
    job = enqueue_product_embedding(product.pk, triggered_by="manual", attempts=1)
    start_worker(threads=2)
    broker = dramatiq.get_broker()
    wait_until(lambda: broker.limits.figures(OPENAI_EMBEDDINGS).snoozed == 1, what="the job snoozed")

    again = enqueue_product_embedding(product.pk, triggered_by="manual")

    assert again.deduplicated and again.message_id == job.message_id
    wait_for_job(job)
    assert len(openai_providers.requests_to("embeddings")) == 1


def test_snoozing_past_the_cap_dead_letters_the_job_as_rate_limited(
    start_worker, openai_providers, make_product, limits
):
    limits({OPENAI_EMBEDDINGS: {"max_snooze_seconds": 1}})
    product = make_product(title="Scarf")
    cool_down(OPENAI_EMBEDDINGS, 5.0)

    job = enqueue_product_embedding(product.pk, triggered_by="manual", attempts=3)
    start_worker(threads=2)
    wait_for_job(job)

    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.RATE_LIMITED
    assert "ProviderRateLimited" in failed.error_class and "the cap is 1 s" in failed.error_message
    assert failed.attempts == 1  # no attempt was spent on the rate limit
    assert openai_providers.requests_to("embeddings") == []


def test_status_shows_snoozed_jobs_cooldown_and_recent_calls_per_provider(
    clean_broker, openai_providers, make_product, limits
):
    limits({OPENAI_EMBEDDINGS: {"requests_per_minute": 600}})
    from gifting_jobs.providers.embeddings import get_embedding_provider

    get_embedding_provider().embed(["a red scarf", "a blue scarf"])
    cool_down(OPENAI_EMBEDDINGS, 30)

    status = collect_status()

    [provider] = [p for p in status.providers if p.provider == OPENAI_EMBEDDINGS]
    assert provider.calls_last_minute == 1  # two texts, one request
    assert provider.requests_per_minute == 600
    assert 29 < provider.cooldown_s <= 30
    assert provider.snoozed == 0


def test_jobs_status_and_metrics_list_each_provider(clean_broker, limits, admin_client):
    from io import StringIO

    from django.core.management import call_command
    from django.urls import reverse
    from prometheus_client.parser import text_string_to_metric_families

    limits({"push": {"requests_per_minute": 120, "max_concurrent": 4}})
    cool_down("acme.translate", 12)  # a custom provider key, known from its Redis state alone

    out = StringIO()
    call_command("jobs_status", stdout=out)
    response = admin_client.get(reverse("gifting_jobs:metrics"))

    report = out.getvalue()
    assert "Provider rate limits" in report
    assert [line.split()[:2] for line in report.splitlines() if line.startswith(("push", "acme.translate"))] == [
        ["acme.translate", "0"],
        ["push", "0"],
    ]
    gauges = {
        (sample.name, sample.labels.get("provider")): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }
    assert gauges[("gifting_jobs_provider_requests_per_minute_limit", "push")] == 120
    assert 11 < gauges[("gifting_jobs_provider_cooldown_seconds", "acme.translate")] <= 12
    assert gauges[("gifting_jobs_provider_snoozed_jobs", "push")] == 0
    assert gauges[("gifting_jobs_provider_calls_last_minute", "push")] == 0


def test_a_quota_spent_by_another_client_costs_429s_but_no_attempt(
    start_worker, openai_providers, make_product, limits
):
    import time

    import httpx2

    # Given a strict provider (20 requests in any 2 s) and the limiter at 90% of it
    openai_providers.strict(20, window_seconds=2.0)
    limits({OPENAI_EMBEDDINGS: {"requests_per_minute": 18 * 30, "window_seconds": 2}})
    products = [make_product(title=f"Lamp {n}") for n in range(30)]
    jobs = [enqueue_product_embedding(p.pk, triggered_by="manual", attempts=1) for p in products]

    # When 30 one-attempt jobs run while another client spends the whole quota
    start_worker(threads=4)
    for _ in range(20):
        httpx2.post(f"{openai_providers.url}/embeddings", json={"input": "someone else", "model": "m"})
    foreign_done = time.monotonic()
    for job in jobs:
        wait_for_job(job, timeout=30)

    # Then our calls met 429s while the other client's calls filled the window, never after,
    # and every job was done without a dead letter: no 429 cost an attempt
    assert embedded(*products)
    assert not FailedJob.objects.exists()
    ours = [r for r in openai_providers.requests_to("embeddings") if r.body["input"] != "someone else"]
    rejected = [r for r in ours if isinstance(r.behaviour, Fail)]
    assert rejected
    assert all(r.received_at < foreign_done + 2.0 for r in rejected)
    assert len(ours) - len(rejected) == 30
