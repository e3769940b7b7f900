"""`GET /metrics/jobs/` exposes the workers' counters and duration histogram, read from Redis."""

from __future__ import annotations

import math

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from gifting_jobs.broker.stats import Counter
from tests.integration.ops.test_counters import EXPECTED, TWO_BUCKETS, run_three_jobs

#: Each counter's family, as Dramatiq's Prometheus middleware names it, with our prefix.
FAMILIES = {
    Counter.PROCESSED: "gifting_jobs_messages_total",
    Counter.FAILED: "gifting_jobs_message_errors_total",
    Counter.RETRIED: "gifting_jobs_message_retries_total",
    Counter.DEAD: "gifting_jobs_message_rejects_total",
}
HISTOGRAM = "gifting_jobs_message_duration_milliseconds"


@pytest.fixture
def staff_client(transactional_db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("ops", "ops@example.com", "pw", is_staff=True))
    return client


def scrape(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get(reverse("gifting_jobs:metrics"))
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics__counters_and_histogram_per_job_type_and_queue(clean_broker, start_worker, staff_client):
    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "METRICS_DURATION_BUCKETS_MS": TWO_BUCKETS}):
        start_worker()
        run_three_jobs(clean_broker)
        values = scrape(staff_client)

    for kind, counts in EXPECTED.items():
        labels = {"queue_name": kind.queue, "actor_name": kind.actor_name}
        for counter, family in FAMILIES.items():
            assert values[(family, frozenset(labels.items()))] == counts[counter], (family, kind)
        attempts = counts[Counter.PROCESSED]
        buckets = {
            le: values[(f"{HISTOGRAM}_bucket", frozenset({**labels, "le": le}.items()))]
            for le in ("0.001", "600000.0", "+Inf")
        }
        assert buckets == {"0.001": 0, "600000.0": attempts, "+Inf": attempts}
        assert values[(f"{HISTOGRAM}_count", frozenset(labels.items()))] == attempts
        assert 0 < values[(f"{HISTOGRAM}_sum", frozenset(labels.items()))] < math.inf
    # The existing gauges keep their names beside the new families.
    assert any(name == "gifting_jobs_queue_ready" for name, _ in values)
    assert any(name == "gifting_jobs_duration_samples" for name, _ in values)


def test_metrics__the_new_families_are_declared_with_no_jobs_yet(clean_broker, staff_client):
    response = staff_client.get(reverse("gifting_jobs:metrics"))

    families = {family.name: family.type for family in text_string_to_metric_families(response.content.decode())}
    assert families["gifting_jobs_messages"] == "counter"
    assert families["gifting_jobs_message_rejects"] == "counter"
    assert families[HISTOGRAM] == "histogram"
