"""Who may open the dashboard pages, and where the admin links to them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gifting_jobs.broker import RedisBroker
from gifting_jobs.dashboard.base import TABS

PAGE_NAMES = [f"admin:{tab.url_name}" for tab in TABS]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_opens_for_staff_with_the_view_permission(dashboard_client: Client, name: str) -> None:
    response = dashboard_client.get(reverse(name))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="dashboard-live"' in body
    for tab in TABS:
        assert reverse(f"admin:{tab.url_name}") in body


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_staff_without_the_permission_get_403(plain_staff_client: Client, name: str) -> None:
    assert plain_staff_client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_anonymous_users_are_sent_to_the_login(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_admin_index_links_the_dashboard_for_permitted_staff_only(
    dashboard_client: Client, plain_staff_client: Client
) -> None:
    overview = reverse("admin:gifting_jobs_dashboard_overview")
    assert overview in dashboard_client.get(reverse("admin:index")).content.decode()
    assert overview not in plain_staff_client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["admin:gifting_jobs_dashboard_queues", "admin:gifting_jobs_dashboard_workers"])
def test_a_broker_that_does_not_answer_is_said_in_place_of_the_figures(
    dashboard_client: Client, swap_broker: Any, name: str
) -> None:
    swap_broker(RedisBroker(url="redis://127.0.0.1:1/0", namespace="gj-nowhere", socket_connect_timeout=0.2))

    response = dashboard_client.get(reverse(name))

    assert response.status_code == 200
    body = response.content.decode()
    assert re.search(r'id="broker-error">The broker at [^<]*127\.0\.0\.1:1\b[^<]*does not answer', body)
