"""Fixtures of the recommendation tests: users and the labelled catalog, embedded by the offline provider."""

from __future__ import annotations

from typing import Any

import pytest

from gifting_jobs.models import Product
from tests.data.relevance import create_products


@pytest.fixture
def gifter(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("gifter", password="pw")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("someone-else", password="pw")


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    """The 40 products of the relevance set, by key (p01..p40)."""
    return create_products()
