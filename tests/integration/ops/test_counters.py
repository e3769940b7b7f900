"""Job counters written by the ack: a real worker's successes, retries and dead letters, bucketed by minute."""

from __future__ import annotations

import math

import pytest
from django.conf import settings
from django.test import override_settings
from dramatiq.common import current_millis
from dramatiq.message import Message

from gifting_jobs.broker import RedisBroker
from gifting_jobs.broker.stats import (
    BUCKET_TTL_SECONDS,
    HOUR_MS,
    MINUTE_MS,
    Counter,
    JobKind,
    Outcome,
    hour_series,
    minute_series,
    read_totals,
)
from gifting_jobs.dispatch import enqueue
from gifting_jobs.models import FailedJob
from tests.conftest import wait_until

SUCCESS = JobKind("testing", "test_record")
RETRIED_ONCE = JobKind("testing", "test_flaky")
DEAD = JobKind("testing", "test_permanent")
#: What the three jobs of `run_three_jobs` add up to, per job type.
EXPECTED = {
    SUCCESS: {Counter.PROCESSED: 1, Counter.FAILED: 0, Counter.RETRIED: 0, Counter.DEAD: 0},
    RETRIED_ONCE: {Counter.PROCESSED: 2, Counter.FAILED: 1, Counter.RETRIED: 1, Counter.DEAD: 0},
    DEAD: {Counter.PROCESSED: 1, Counter.FAILED: 1, Counter.RETRIED: 0, Counter.DEAD: 1},
}
#: Two bounds: no job takes under a microsecond, every test job takes under ten minutes.
TWO_BUCKETS = (0.001, 600_000.0)


def run_three_jobs(broker: RedisBroker) -> None:
    """A success, a job that fails once then succeeds, and a permanent failure; returns when all are acked."""
    ids = [
        enqueue("test_record", {"key": "ok", "triggered_by": "manual"}, {}).id,
        enqueue("test_flaky", {"key": "flaky", "fail_times": 1, "triggered_by": "manual"}, {}).id,
        enqueue("test_permanent", {"key": "dead", "triggered_by": "manual"}, {}).id,
    ]
    wait_until(lambda: FailedJob.objects.filter(job_type="test_permanent").exists(), what="the dead letter")
    # The job id is freed by the very script that acks (or cleans up after the nack) and counts.
    wait_until(lambda: not any(broker.job_pending(job_id) for job_id in ids), what="every job acked")


def stats_keys(broker: RedisBroker) -> list[str]:
    return sorted(key.decode() for key in broker.client.scan_iter(match=broker.keys.own("stats", "*")))


def test_counters__a_worker_counts_successes_retries_and_dead_letters_per_minute(clean_broker, start_worker):
    before = current_millis()
    start_worker()

    run_three_jobs(clean_broker)

    after = current_millis()
    series = minute_series(clean_broker, minutes=3)
    assert {kind: dict(counts) for kind, counts in series.by_kind.items()} == EXPECTED
    assert series.total(Counter.PROCESSED) == 4 and series.total(Counter.DEAD) == 1
    # Every count is in the bucket of the minute its ack ran, and nowhere else.
    minutes = {stamp // MINUTE_MS for stamp in (before, after)}
    counted = [
        start // MINUTE_MS for start, n in zip(series.starts_ms, series.values[Counter.PROCESSED], strict=True) if n
    ]
    assert set(counted) <= minutes
    for minute in minutes:
        ttl = clean_broker.client.ttl(clean_broker.keys.stats_minute(minute))
        if minute in counted:
            # Expires 48 h after its minute ended.
            assert BUCKET_TTL_SECONDS - 5 < ttl <= BUCKET_TTL_SECONDS + MINUTE_MS // 1000
    hours = hour_series(clean_broker, hours=2)
    assert {kind: dict(counts) for kind, counts in hours.by_kind.items()} == EXPECTED
    hour_key = clean_broker.keys.stats_hour(after // HOUR_MS)
    assert BUCKET_TTL_SECONDS - 5 < clean_broker.client.ttl(hour_key) <= BUCKET_TTL_SECONDS + HOUR_MS // 1000
    # The totals are cumulative counters: no expiry.
    assert clean_broker.client.ttl(clean_broker.keys.stats_totals) == -1
    assert {kind: dict(counts) for kind, counts in read_totals(clean_broker, TWO_BUCKETS).counts.items()} == EXPECTED


def test_counters__the_histogram_counts_every_attempt_in_its_bucket(clean_broker, start_worker):
    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "METRICS_DURATION_BUCKETS_MS": TWO_BUCKETS}):
        start_worker()
        run_three_jobs(clean_broker)

    histograms = {h.kind: h for h in read_totals(clean_broker, TWO_BUCKETS).histograms}
    assert set(histograms) == set(EXPECTED)
    for kind, histogram in histograms.items():
        attempts = EXPECTED[kind][Counter.PROCESSED]
        assert histogram.buckets == ((0.001, 0), (600_000.0, attempts), (math.inf, attempts))
        assert histogram.count == attempts and histogram.sum_ms > 0
        assert 0.001 < histogram.quantile(0.5) <= 600_000.0


def test_counters__buckets_read_with_other_bounds_never_move_down(clean_broker, start_worker):
    # Given durations bucketed at (0.001, 600000)
    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "METRICS_DURATION_BUCKETS_MS": TWO_BUCKETS}):
        start_worker()
        run_three_jobs(clean_broker)

    # When the bounds are changed to (1, 10): the old 600000 bucket can only be counted in +Inf
    histogram = {h.kind: h for h in read_totals(clean_broker, (1.0, 10.0)).histograms}[RETRIED_ONCE]

    assert histogram.buckets == ((1.0, 0), (10.0, 0), (math.inf, 2))


def test_counters__a_broker_with_counters_off_writes_none(clean_broker, start_worker):
    clean_broker.counters = False
    try:
        start_worker()
        run_three_jobs(clean_broker)
    finally:
        clean_broker.counters = True

    assert stats_keys(clean_broker) == []
    assert FailedJob.objects.filter(job_type="test_permanent").count() == 1


@pytest.mark.django_db
def test_counters__an_empty_namespace_reads_as_zeros(clean_broker):
    now = current_millis()
    series = minute_series(clean_broker, now_ms=now)

    assert len(series.starts_ms) == 60 and series.empty and series.by_kind == {}
    assert series.starts_ms[-1] <= now < series.starts_ms[-1] + MINUTE_MS
    assert series.starts_ms[0] == series.starts_ms[-1] - 59 * MINUTE_MS
    assert read_totals(clean_broker, TWO_BUCKETS).histograms == ()


def fetched(broker: RedisBroker, queue: str) -> str:
    """Fetch one message as a worker would; returns its Redis message id."""
    (data,) = broker.do_fetch(queue, 1)
    return Message.decode(data).options["redis_message_id"]


def test_counters__an_ack_or_nack_dramatiq_repeats_counts_once(clean_broker, transactional_db):
    # Given two fetched messages whose processing ended (a success, and a failure for good)
    for key in ("once", "dead-once"):
        enqueue("test_record", {"key": key, "triggered_by": "manual"}, {})
    succeeded, dead = fetched(clean_broker, "testing"), fetched(clean_broker, "testing")
    clean_broker.record_outcome(succeeded, Outcome("test_record", (Counter.PROCESSED,), "1000.0", 12.5))
    clean_broker.record_outcome(dead, Outcome("test_record", (Counter.PROCESSED, Counter.FAILED), "1000.0", 7.5))

    # When each is acked (nacked) twice, as Dramatiq does when a reply was lost
    for _ in range(2):
        clean_broker.record_outcome(succeeded, Outcome("test_record", (Counter.PROCESSED,), "1000.0", 12.5))
        clean_broker.do_ack("testing", succeeded)
        clean_broker.record_outcome(dead, Outcome("test_record", (Counter.PROCESSED, Counter.FAILED), "1000.0", 7.5))
        clean_broker.do_nack("testing", dead)

    # Then each outcome counted once, and the histogram's sum is exact
    kind = JobKind("testing", "test_record")
    assert dict(minute_series(clean_broker, minutes=2).by_kind[kind]) == {
        Counter.PROCESSED: 2,
        Counter.FAILED: 1,
        Counter.RETRIED: 0,
        Counter.DEAD: 1,
    }
    (histogram,) = read_totals(clean_broker, (1000.0,)).histograms
    assert histogram.buckets == ((1000.0, 2), (math.inf, 2)) and histogram.sum_ms == 20.0
