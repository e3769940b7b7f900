"""The Queues page: depths and latency per band; pause and resume behind their permission, CSRF and name checks."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from gifting_jobs.broker import RedisBroker
from gifting_jobs.dispatch import enqueue
from tests.integration.dashboard.conftest import staff_client

PAGE = "admin:gifting_jobs_dashboard_queues"
PAUSE = "admin:gifting_jobs_dashboard_queues_pause"
RESUME = "admin:gifting_jobs_dashboard_queues_resume"


@pytest.fixture
def queues_broker(clean_broker: RedisBroker, transactional_db: None) -> Iterator[RedisBroker]:
    """The broker with no queue paused after the test; sends are committed (the page reads Redis)."""
    yield clean_broker
    for name in clean_broker.paused_queues() | set(clean_broker.paused.names):
        clean_broker.resume_queue(name)


@pytest.fixture
def pauser(queues_broker: RedisBroker) -> Client:
    """Staff who may view the dashboard and pause queues."""
    return staff_client("pauser", "view_dashboard", "pause_queues")


def queue_block(html: str, queue: str) -> str:
    """The table body of one queue."""
    match = re.search(rf'<tbody class="queue[^"]*" data-queue="{queue}".*?</tbody>', html, re.S)
    assert match, f"no rows for {queue}"
    return match.group(0)


def band_cells(html: str, queue: str, band: str) -> list[str]:
    row = re.search(rf'<tr data-band="{band}">(.*?)</tr>', queue_block(html, queue), re.S)
    assert row
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row.group(1), re.S)
    ]


def test_queues_page__shows_ready_delayed_in_flight_and_latency_per_band(queues_broker, dashboard_client):
    enqueue("test_record", {"key": "a", "triggered_by": "manual"}, {"priority": 1})
    enqueue("test_record", {"key": "b", "triggered_by": "manual"}, {"priority": 1})
    enqueue("test_record", {"key": "c", "triggered_by": "manual"}, {"delay": 60_000})

    html = dashboard_client.get(reverse(PAGE)).content.decode()

    # Queue name (first row only), band, ready, delayed, in flight, latency, state
    urgent = band_cells(html, "testing", "urgent")
    assert urgent[:5] == ["testing", "urgent", "2", "0", "0"]
    assert re.fullmatch(r"\d+ ms|\d+ s", urgent[5]), urgent
    assert band_cells(html, "testing", "normal")[:5] == ["normal", "0", "1", "0", "-"]
    assert band_cells(html, "catalog", "bulk") == ["bulk", "0", "0", "0", "-"]
    assert "Running" in queue_block(html, "testing")
    # View permission alone: no buttons, no forms.
    assert "queue-pause" not in html and 'name="queue"' not in html


def test_queues_page__pause_then_resume_through_the_forms(queues_broker, pauser):
    html = pauser.get(reverse(PAGE)).content.decode()
    assert 'class="button queue-pause">Pause testing</button>' in queue_block(html, "testing")
    assert "csrfmiddlewaretoken" in queue_block(html, "testing")

    response = pauser.post(reverse(PAUSE), {"queue": "testing"}, follow=True)

    assert response.redirect_chain == [(reverse(PAGE), 302)]
    assert queues_broker.paused_queues() == {"testing"}
    html = response.content.decode()
    assert "Queue testing paused" in html
    block = queue_block(html, "testing")
    assert 'data-paused="1"' in block and "Paused" in block and "Resume testing" in block
    assert 'data-paused="0"' in queue_block(html, "catalog")

    response = pauser.post(reverse(RESUME), {"queue": "testing"}, follow=True)

    assert queues_broker.paused_queues() == set()
    assert "Queue testing resumed." in response.content.decode()
    assert "Pause testing" in queue_block(response.content.decode(), "testing")


def test_queues_page__pausing_twice_says_so(queues_broker, pauser):
    pauser.post(reverse(PAUSE), {"queue": "catalog"})
    response = pauser.post(reverse(PAUSE), {"queue": "catalog"}, follow=True)
    assert "Queue catalog was paused already." in response.content.decode()
    response = pauser.post(reverse(RESUME), {"queue": "testing"}, follow=True)
    assert "Queue testing was not paused." in response.content.decode()


def test_queues_page__without_the_pause_permission_a_post_is_403_and_changes_nothing(
    queues_broker, dashboard_client, plain_staff_client
):
    assert dashboard_client.post(reverse(PAUSE), {"queue": "testing"}).status_code == 403
    assert plain_staff_client.post(reverse(PAUSE), {"queue": "testing"}).status_code == 403
    queues_broker.pause_queue("testing")
    assert dashboard_client.post(reverse(RESUME), {"queue": "testing"}).status_code == 403
    assert queues_broker.paused_queues() == {"testing"}


def test_queues_page__an_unknown_or_missing_queue_is_a_400_with_the_reason(queues_broker, pauser):
    response = pauser.post(reverse(PAUSE), {"queue": "catalgo"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "unknown queue &#x27;catalgo&#x27;: the queues are " in html and "catalog, " in html
    assert 'id="dashboard-live"' in html  # The page itself, with its table.

    response = pauser.post(reverse(RESUME), {"queue": "catalog.urgent"})
    assert response.status_code == 400
    assert "unknown queue &#x27;catalog.urgent&#x27;" in response.content.decode()

    response = pauser.post(reverse(PAUSE), {})
    assert response.status_code == 400
    assert "no queue was named" in response.content.decode()
    assert queues_broker.paused_queues() == set()


def test_queues_page__actions_need_csrf_and_post(queues_broker):
    client = staff_client("csrf-pauser", "view_dashboard", "pause_queues")
    client.handler.enforce_csrf_checks = True

    assert client.post(reverse(PAUSE), {"queue": "testing"}).status_code == 403
    assert queues_broker.paused_queues() == set()

    page = client.get(reverse(PAGE)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(reverse(PAUSE), {"queue": "testing", "csrfmiddlewaretoken": token}).status_code == 302
    assert queues_broker.paused_queues() == {"testing"}

    assert client.get(reverse(PAUSE)).status_code == 405


def test_queues_page__anonymous_posts_go_to_the_login(queues_broker, client):
    response = client.post(reverse(PAUSE), {"queue": "testing"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert queues_broker.paused_queues() == set()
