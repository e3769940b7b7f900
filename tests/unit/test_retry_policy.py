"""Backoff shape and error classification."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import OperationalError

from gifting_jobs.exceptions import EntityNotFound, PermanentJobError, TransientJobError, ValidationError
from gifting_jobs.retry_policy import ErrorKind, RetryPolicy, classify_error, retry_after_seconds


class HttpError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def test_backoff__grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(attempts=10, min_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=30))
    rng = random.Random(7)
    for failures, ceiling in [(1, 1000), (2, 2000), (3, 4000), (5, 16000), (6, 30000), (9, 30000)]:
        samples = [policy.backoff_ms(failures, rng=rng) for _ in range(200)]
        assert min(samples) >= ceiling / 2 and max(samples) <= ceiling
        assert len(set(samples)) > 50, "no jitter"


def test_backoff__rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(min_backoff=timedelta(seconds=5), max_backoff=timedelta(seconds=1))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientJobError("x"), ErrorKind.TRANSIENT),
        (TimeoutError(), ErrorKind.TRANSIENT),
        (ConnectionError(), ErrorKind.TRANSIENT),
        (OperationalError(), ErrorKind.TRANSIENT),
        (HttpError(429), ErrorKind.TRANSIENT),
        (HttpError(503), ErrorKind.TRANSIENT),
        (HttpError(400), ErrorKind.PERMANENT),
        (HttpError(401), ErrorKind.PERMANENT),
        (PermanentJobError("x"), ErrorKind.PERMANENT),
        (EntityNotFound("x"), ErrorKind.PERMANENT),
        (ValidationError("x"), ErrorKind.PERMANENT),
        (RuntimeError("unknown"), ErrorKind.TRANSIENT),
    ],
)
def test_classify_error__transient_and_permanent(error, kind):
    assert classify_error(error) is kind


def test_retry_after__read_from_transient_errors_only():
    assert retry_after_seconds(TransientJobError("x", retry_after=3.5)) == 3.5
    assert retry_after_seconds(TransientJobError("x")) is None
    assert retry_after_seconds(RuntimeError()) is None
