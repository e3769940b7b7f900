"""`GET /metrics/jobs/`: access rules and the Prometheus lines for a known state."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

URL_NAME = "gifting_jobs:metrics"
TOKEN = "metrics-token-for-tests"


def samples(body: bytes) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def with_token(token: str):
    return override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "METRICS_TOKEN": token})


@pytest.fixture
def staff_client(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("ops", "ops@example.com", "pw", is_staff=True))
    return client


def test_metrics__staff_gets_the_gauges(known_state, staff_client):
    response = staff_client.get(reverse(URL_NAME))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    values = samples(response.content)
    for (queue, band), (ready, delayed, in_flight, dead) in known_state.bands.items():
        labels = frozenset({"queue": queue, "band": band}.items())
        assert values[("gifting_jobs_queue_ready", labels)] == ready
        assert values[("gifting_jobs_queue_delayed", labels)] == delayed
        assert values[("gifting_jobs_queue_in_flight", labels)] == in_flight
        assert values[("gifting_jobs_queue_dead", labels)] == dead
    assert values[("gifting_jobs_queue_ready", frozenset({"queue": "profiles", "band": "urgent"}.items()))] == 0
    assert values[("gifting_jobs_held", frozenset({"reason": "delayed"}.items()))] == 1
    assert values[("gifting_jobs_held_due", frozenset({"reason": "broker_down"}.items()))] == 1
    failed = frozenset({"status": "open", "job_type": "product_embedding"}.items())
    assert values[("gifting_jobs_failed_jobs", failed)] == 2
    p95 = frozenset({"job_type": "product_embedding", "quantile": "0.95"}.items())
    assert values[("gifting_jobs_duration_ms", p95)] == 100.0
    assert values[("gifting_jobs_duration_samples", frozenset({"job_type": "product_embedding"}.items()))] == 10
    text = response.content.decode()
    assert 'gifting_jobs_queue_ready{band="urgent",queue="catalog"} 2.0' in text.splitlines()
    # No quantile is invented for a type without samples.
    assert 'gifting_jobs_duration_ms{job_type="reminder_dispatch"' not in text


@pytest.mark.django_db
def test_metrics__anonymous_is_403(client):
    response = client.get(reverse(URL_NAME))

    assert response.status_code == 403
    assert b"gifting_jobs_" not in response.content


@pytest.mark.django_db
def test_metrics__non_staff_user_is_403(client):
    client.force_login(User.objects.create_user("gifter", "g@example.com", "pw"))

    assert client.get(reverse(URL_NAME)).status_code == 403


def test_metrics__bearer_token_grants_access(known_state, client):
    with with_token(TOKEN):
        response = client.get(reverse(URL_NAME), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert b"gifting_jobs_queue_in_flight" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN])
def test_metrics__wrong_token_is_401(client, header):
    with with_token(TOKEN):
        response = client.get(reverse(URL_NAME), HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_metrics__empty_token_turns_token_access_off(client):
    with with_token(""):
        response = client.get(reverse(URL_NAME), HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 401


@pytest.mark.django_db
def test_metrics__post_is_405(staff_client):
    response = staff_client.post(reverse(URL_NAME))

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_metrics__url_is_fixed():
    assert reverse(URL_NAME) == "/metrics/jobs/"
