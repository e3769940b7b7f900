"""The counters' pure parts: duration buckets, quantiles from a histogram, and the buckets setting."""

from __future__ import annotations

import math

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from gifting_jobs.broker.stats import (
    BUCKET_TTL_SECONDS,
    Histogram,
    JobKind,
    bucket_expiries,
    duration_bound,
    label,
)
from gifting_jobs.conf import DEFAULT_METRICS_DURATION_BUCKETS_MS, get_settings, parse_settings
from gifting_jobs.exceptions import ConfigurationError

TEN_MINUTES_MS = 600_000


def test_duration_bound__the_smallest_bound_at_or_above_the_duration():
    bounds = (10.0, 100.0)
    assert duration_bound(0.5, bounds) == "10.0"
    assert duration_bound(10.0, bounds) == "10.0"  # Prometheus buckets are "less than or equal".
    assert duration_bound(10.01, bounds) == "100.0"
    assert duration_bound(100.5, bounds) == "+Inf"


def test_label__bands_delay_and_quarantine_lanes_count_under_their_logical_queue():
    for physical in ("catalog", "catalog.urgent", "catalog.bulk", "catalog.quarantine", "catalog.DQ"):
        assert label(physical, "product_embedding") == "catalog|product_embedding"


def test_bucket_expiries__48_hours_after_the_minute_and_the_hour_end():
    now_ms = 1_700_000_123_456
    minute, hour, minute_until, hour_until = bucket_expiries(now_ms)
    assert minute == now_ms // 60_000 and hour == now_ms // 3_600_000
    assert minute_until == (minute + 1) * 60 + BUCKET_TTL_SECONDS
    assert hour_until == (hour + 1) * 3600 + BUCKET_TTL_SECONDS


def test_histogram_quantile__interpolates_within_the_bucket_like_prometheus():
    histogram = Histogram(kind=JobKind("q", "a"), buckets=((10.0, 0), (20.0, 10), (math.inf, 10)), sum_ms=150.0)
    assert histogram.count == 10
    assert histogram.quantile(0.5) == pytest.approx(15.0)
    assert histogram.quantile(0.95) == pytest.approx(19.5)


def test_histogram_quantile__in_the_inf_bucket_is_the_highest_bound_and_empty_is_none():
    slow = Histogram(kind=JobKind("q", "a"), buckets=((10.0, 1), (math.inf, 4)), sum_ms=1e6)
    assert slow.quantile(0.95) == 10.0
    assert Histogram(kind=JobKind("q", "a"), buckets=((10.0, 0), (math.inf, 0)), sum_ms=0).quantile(0.5) is None


def test_buckets_setting__the_default_reaches_ten_minutes_for_llm_jobs():
    assert max(get_settings().METRICS_DURATION_BUCKETS_MS) >= TEN_MINUTES_MS
    assert list(DEFAULT_METRICS_DURATION_BUCKETS_MS) == sorted(set(DEFAULT_METRICS_DURATION_BUCKETS_MS))


def test_buckets_setting__a_list_of_numbers_is_taken():
    assert parse_settings({"METRICS_DURATION_BUCKETS_MS": [50, 1000, 1_800_000]}).METRICS_DURATION_BUCKETS_MS == (
        50.0,
        1000.0,
        1_800_000.0,
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "give 1 to 40 bucket bounds"),
        (list(range(1, 50)), "give 1 to 40 bucket bounds"),
        ([100, 10], "strictly ascending"),
        ([10, 10], "strictly ascending"),
        ([0, 10], "finite milliseconds > 0"),
        ([-5, 10], "finite milliseconds > 0"),
        ([10, math.inf], r"finite milliseconds > 0 \(\+Inf is implied\)"),
        (["fast", "slow"], "valid number"),
        ("100,1000", "valid tuple"),
    ],
)
def test_buckets_setting__bad_values_name_the_key_and_the_fix(value, message):
    with pytest.raises(ConfigurationError, match=r"GIFTING_JOBS\['METRICS_DURATION_BUCKETS_MS'\]") as error:
        parse_settings({"METRICS_DURATION_BUCKETS_MS": value})
    assert error.match(message)


@pytest.mark.django_db
def test_buckets_setting__manage_py_check_reports_a_bad_value():
    with (
        override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "METRICS_DURATION_BUCKETS_MS": [5, 1]}),
        pytest.raises(SystemCheckError, match="METRICS_DURATION_BUCKETS_MS"),
    ):
        call_command("check")
