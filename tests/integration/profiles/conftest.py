"""Fixtures of the taste-profile tests: users, blank profiles, a broker that is down, workers on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
from django.db import connection

from gifting_jobs.broker import RedisBroker
from gifting_jobs.models import TasteProfile
from tests.conftest import free_port


@pytest.fixture
def gifter(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("gifter", password="pw")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("someone-else", password="pw")


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


@pytest.fixture
def start_worker(clean_broker: RedisBroker, transactional_db: None) -> Iterator[Callable[[], dramatiq.Worker]]:
    """Start an in-process worker on the real broker when the test says so."""
    workers: list[dramatiq.Worker] = []

    def start() -> dramatiq.Worker:
        worker = dramatiq.Worker(clean_broker, worker_threads=2, worker_timeout=50)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(timeout=10_000)
    connection.close()
