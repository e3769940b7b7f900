"""Fixtures of the ops tests: dead letters and a known state of queues, held jobs and durations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from dramatiq.broker import Consumer, MessageProxy

from gifting_jobs.broker import RedisBroker
from gifting_jobs.jobs import enqueue_product_embedding, enqueue_product_enrichment
from gifting_jobs.models import FailedJob, FailedJobStatus, HeldJob, HeldJobReason
from tests.integration.admin.factories import create_failed_job

#: How long a test consumer waits for a message it knows is there (ms).
FETCH_TIMEOUT_MS = 2000


@pytest.fixture
def make_failed_job(db: None) -> Callable[..., FailedJob]:
    """Create an open dead letter of a product embedding (a payload the catalog accepts)."""
    return create_failed_job


def fetch(broker: RedisBroker, queue_name: str) -> tuple[MessageProxy, Consumer]:
    """Take one message from a physical queue as a worker would (it becomes unacked: in flight)."""
    consumer = broker.consume(queue_name, prefetch=1, timeout=FETCH_TIMEOUT_MS)
    message = next(consumer)
    assert message is not None, f"no message arrived on {queue_name}"
    return message, consumer


@dataclass(frozen=True)
class KnownState:
    """What the `known_state` fixture put where; the tests assert these exact numbers."""

    #: (queue, band) -> (ready, delayed, in flight, dead); every other band is all zeros.
    bands: dict[tuple[str, str], tuple[int, int, int, int]]
    embedding_durations: list[float]


@pytest.fixture
def known_state(transactional_db: None, clean_broker: RedisBroker) -> Iterator[KnownState]:
    """Messages in each catalog band (ready, delayed in Redis and in a worker, in flight, dead),
    held jobs (one due, one later), dead letters by status, and recorded durations."""
    broker = clean_broker
    # Urgent band: two ready.
    enqueue_product_embedding(1, triggered_by="manual", priority=2)
    enqueue_product_embedding(2, triggered_by="manual", priority=2)
    # Normal band: one ready, one delayed (still in Redis).
    enqueue_product_enrichment(1, triggered_by="manual")
    enqueue_product_enrichment(2, triggered_by="manual", delay=timedelta(minutes=5))
    # Bulk band: one in flight, one dead, one delayed held in a worker's memory.
    enqueue_product_enrichment(3, triggered_by="manual", priority=9)
    _in_flight, _ = fetch(broker, "catalog.bulk")
    enqueue_product_enrichment(4, triggered_by="manual", priority=9)
    dead, dead_consumer = fetch(broker, "catalog.bulk")
    dead_consumer.nack(dead)
    enqueue_product_enrichment(5, triggered_by="manual", priority=9, delay=timedelta(minutes=5))
    fetch(broker, "catalog.bulk.DQ")

    # Held in Postgres: a long delay (later) and a job kept while the broker was down (due).
    enqueue_product_embedding(6, triggered_by="manual", delay=timedelta(hours=2))
    HeldJob.objects.create(
        job_id="product-embedding:7:none",
        message_id="m-held",
        job_type="product_embedding",
        queue="catalog",
        message={},
        lock_ttl_ms=60_000,
        reason=HeldJobReason.BROKER_DOWN,
        due_at=timezone.now() - timedelta(seconds=5),
    )

    create_failed_job()
    create_failed_job()
    create_failed_job(status=FailedJobStatus.RETRIED)
    create_failed_job(job_type="reminder_dispatch", status=FailedJobStatus.DISCARDED)

    durations = [float(v) for v in range(10, 101, 10)]
    broker.record_durations({"product_embedding": durations, "product_enrichment": [7.5]}, window=1000)

    yield KnownState(
        bands={
            ("catalog", "urgent"): (2, 0, 0, 0),
            ("catalog", "normal"): (1, 1, 0, 0),
            ("catalog", "bulk"): (0, 1, 1, 1),
        },
        embedding_durations=durations,
    )
