"""Fixtures of the recommendation tests: the labelled catalog, embedded by the offline provider."""

from __future__ import annotations

import pytest

from gifting_jobs.models import Product
from tests.data.relevance import create_products


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    """The 40 products of the relevance set, by key (p01..p40)."""
    return create_products()
