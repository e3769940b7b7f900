"""Fixtures of the dashboard tests: staff clients with and without the dashboard's permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.integration.spine.conftest import stoppable_redis  # noqa: F401 (a fixture: the held page's relay test)


def staff_client(username: str, *codenames: str) -> Client:
    """A client logged in as a staff user holding exactly the permissions `codenames`."""
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="gifting_jobs", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def dashboard_client(db: None) -> Client:
    """Staff who may view the dashboard, but not pause queues or retry dead letters."""
    return staff_client("operator", "view_dashboard")


@pytest.fixture
def plain_staff_client(db: None) -> Client:
    """Staff without any dashboard permission."""
    return staff_client("plain-staff")
