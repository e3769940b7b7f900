"""Fixtures of the taste-profile tests: blank profiles and a broker that is down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest

from gifting_jobs.broker import RedisBroker
from gifting_jobs.models import TasteProfile
from tests.conftest import free_port


@pytest.fixture
def blank_profile(gifter: Any) -> TasteProfile:
    """A profile onboarding created but the user has not filled in yet."""
    return TasteProfile.objects.create(user=gifter)


@pytest.fixture
def down_broker(clean_broker: RedisBroker) -> Iterator[RedisBroker]:
    """Make the global broker one whose Redis does not answer; the real one is restored after."""
    broker = RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0", namespace=clean_broker.namespace, middleware=[])
    dramatiq.set_broker(broker)
    try:
        yield broker
    finally:
        dramatiq.set_broker(clean_broker)
        broker.client.connection_pool.disconnect()
