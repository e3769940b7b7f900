"""Fixtures of the admin tests (pytest-django's `admin_client` is the superuser): a staff user
without the retry permission, dead letters, Redis queue contents."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from gifting_jobs.models import FailedJob
from tests.integration.admin.factories import create_failed_job


@pytest.fixture
def viewer_client(db: None) -> Client:
    """A client logged in as staff who may view dead letters but not retry or discard them."""
    user = User.objects.create_user("support", "support@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_failedjob"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def make_failed_job(db: None) -> Callable[..., FailedJob]:
    """Create an open dead letter of a product embedding (a payload the catalog accepts)."""
    return create_failed_job
