"""Fixtures of the recommendation tests: the labelled catalog, embedded by the offline provider."""

from __future__ import annotations

import pytest

from gifting_jobs.models import Product
from gifting_jobs.services import recommendations
from tests.data.relevance import create_products


@pytest.fixture(autouse=True)
def fresh_budget_estimates() -> None:
    """Each test's catalog is its own: a budget's row estimate from another test's catalog must not choose the path."""
    recommendations._budget_estimates.clear()


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    """The 40 products of the relevance set, by key (p01..p40)."""
    return create_products()
