"""Fixtures of the rate-limit tests: products, and settings with limits on a provider key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from tests.integration.products.conftest import make_product, wait_for_job  # noqa: F401  (fixture, helper)


@pytest.fixture
def limits(settings: Any) -> Callable[..., None]:
    """Set `GIFTING_JOBS["RATE_LIMITS"]` (and other keys) for the test: `limits({"push": {...}}, KEY=value)`."""

    def apply(rate_limits: dict[str, dict[str, Any]], **other: Any) -> None:
        settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "RATE_LIMITS": rate_limits, **other}

    return apply


__all__ = ["make_product", "override_settings"]
