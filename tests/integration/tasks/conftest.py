"""Fixtures of the `django.tasks` backend tests: quick retries, signal recorders, releasing blocked tasks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.tasks import TaskResult
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.test import override_settings

from gifting_jobs.broker import RedisBroker
from tests.jobapp.jobs import release_key

#: Retry backoffs of the `django_task` type scaled down to a few milliseconds.
FAST_BACKOFF_SCALE = 0.001


@pytest.fixture
def fast_retries() -> Iterator[None]:
    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "RETRY_BACKOFF_SCALE": FAST_BACKOFF_SCALE}):
        yield


@pytest.fixture
def signals() -> Iterator[list[tuple[str, str, str]]]:
    """Every task signal sent during the test, as (signal, result id, status)."""
    seen: list[tuple[str, str, str]] = []

    def recorder(name: str) -> Callable[..., None]:
        def receive(sender: Any, task_result: TaskResult, **kwargs: Any) -> None:
            seen.append((name, task_result.id, str(task_result.status)))

        return receive

    receivers = {
        task_enqueued: recorder("enqueued"),
        task_started: recorder("started"),
        task_finished: recorder("finished"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, weak=False)
    yield seen
    for signal, receiver in receivers.items():
        signal.disconnect(receiver)


@pytest.fixture
def release(clean_broker: RedisBroker) -> Callable[[str], None]:
    """Let the blocking test task waiting on `key` go on."""

    def go(key: str) -> None:
        clean_broker.client.set(release_key(key), 1)

    return go


# A Redis that can be stopped mid-test, and swapping the global broker to it (the spine tests' fixtures).
from tests.integration.spine.conftest import stoppable_redis  # noqa: E402,F401
