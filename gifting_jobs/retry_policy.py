"""Retry policy: how errors are classified and how long to wait between attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from pydantic import ValidationError as PydanticValidationError

from gifting_jobs.exceptions import GiftingJobsError, PermanentJobError, TransientJobError, ValidationError

#: HTTP statuses worth retrying: request timeout, conflict, rate limit, server errors.
TRANSIENT_HTTP_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class ErrorKind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def classify_error(exc: BaseException) -> ErrorKind:
    """Transient errors are retried, permanent ones go straight to the dead letters.

    Transient: our `TransientJobError`, timeouts, connection errors, lost DB
    connections, HTTP 408/409/425/429/5xx. Permanent: our `PermanentJobError`
    and `ValidationError`, pydantic validation errors, a missing row, an
    integrity error, a missing module or a configuration error, any other HTTP 4xx. Anything unknown is retried: a bug
    then costs a few attempts, never a silently dropped job.
    """
    if isinstance(exc, TransientJobError):
        return ErrorKind.TRANSIENT
    if isinstance(
        exc, (PermanentJobError, ValidationError, PydanticValidationError, ObjectDoesNotExist, IntegrityError)
    ):
        return ErrorKind.PERMANENT
    # A missing dependency or a wrong setting: no retry can fix the install.
    if isinstance(exc, (ImportError, ImproperlyConfigured)):
        return ErrorKind.PERMANENT
    status = _status_code(exc)
    if status is not None:
        return ErrorKind.TRANSIENT if status in TRANSIENT_HTTP_STATUSES or status >= 500 else ErrorKind.PERMANENT
    if isinstance(exc, (TimeoutError, ConnectionError, OperationalError, InterfaceError)):
        return ErrorKind.TRANSIENT
    if isinstance(exc, (DatabaseError, GiftingJobsError, TypeError, KeyError, AttributeError)):
        return ErrorKind.PERMANENT
    return ErrorKind.TRANSIENT


def retry_after_seconds(exc: BaseException) -> float | None:
    """The provider's Retry-After hint, when the error carries one."""
    if isinstance(exc, TransientJobError) and exc.retry_after is not None:
        return max(0.0, exc.retry_after)
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts (first included) and exponential backoff with full jitter."""

    attempts: int = 5
    min_backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if not timedelta(0) < self.min_backoff <= self.max_backoff:
            raise ValueError("backoff must satisfy 0 < min_backoff <= max_backoff")

    def backoff_ms(self, failed_attempts: int, *, rng: random.Random | None = None) -> int:
        """Delay before the next attempt after `failed_attempts` failures (>= 1).

        The ceiling doubles with each failure from `min_backoff` up to
        `max_backoff`; the delay is drawn uniformly between half the ceiling
        and the ceiling, so synchronised failures spread out.
        """
        ceiling = min(
            self.max_backoff.total_seconds() * 1000,
            self.min_backoff.total_seconds() * 1000 * 2 ** max(0, failed_attempts - 1),
        )
        return int((rng or random).uniform(ceiling / 2, ceiling))

    def with_attempts(self, attempts: int) -> RetryPolicy:
        return RetryPolicy(attempts=attempts, min_backoff=self.min_backoff, max_backoff=self.max_backoff)
