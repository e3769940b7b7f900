"""The app's exception root and its families.

Every error the app raises on purpose derives from `GiftingJobsError`; each
family also inherits the built-in a caller already catches (`ValueError`,
`LookupError`, `ImproperlyConfigured`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from django.core.exceptions import ImproperlyConfigured


class FieldError(TypedDict):
    """One field error, shaped as pydantic reports them, so an API returns them as they are."""

    loc: list[str | int]
    msg: str
    type: str


def field_error(loc: str | int | Sequence[str | int], msg: str, kind: str = "value_error") -> FieldError:
    """A field error at `loc` (a field name, an index, or a path of them; empty for the root)."""
    path = [loc] if isinstance(loc, (str, int)) else list(loc)
    return {"loc": path, "msg": msg, "type": kind}


class GiftingJobsError(Exception):
    """Root of every error raised on purpose by gifting_jobs."""


class ConfigurationError(GiftingJobsError, ImproperlyConfigured):
    """A `GIFTING_JOBS` setting or the broker set-up is wrong; the message names the fix."""


class ValidationError(GiftingJobsError, ValueError):
    """Bad input to a public function; nothing was sent or saved.

    `errors` holds one dict per field error (`loc`, `msg`, `type`), as pydantic
    reports them, so an API can return them as they are.
    """

    def __init__(self, message: str, errors: Sequence[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors: list[FieldError] = list(errors or [])

    @classmethod
    def from_errors(cls, what: str, errors: Sequence[FieldError]) -> ValidationError:
        """The error of `what` with these field errors, its message listing each one."""
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors)
        return cls(f"invalid {what}: {details}", errors)

    @classmethod
    def for_field(
        cls, loc: str | int | Sequence[str | int], msg: str, kind: str = "value_error", *, message: str
    ) -> ValidationError:
        """An error about one field, with a sentence (`message`) that names the fix."""
        return cls(message, [field_error(loc, msg, kind)])

    @classmethod
    def from_pydantic(cls, exc: Any, what: str) -> ValidationError:
        """Wrap a `pydantic.ValidationError`, keeping its field errors."""
        return cls.from_errors(
            what,
            [
                field_error(err["loc"], err["msg"], err["type"])
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ],
        )


class JobError(GiftingJobsError):
    """Raised by the work of a job; its class says whether to retry."""


class TransientJobError(JobError):
    """Worth retrying: a timeout, a 429, a 5xx, a lost connection.

    `retry_after` (seconds), when the provider said so, is honoured as the
    minimum delay before the next attempt.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        #: The provider's HTTP status, when the error is an answer (429 and 503 start a cooldown).
        self.status = status


class ProviderRateLimited(TransientJobError):
    """A provider's quota is spent (our limiter said so, or it answered 429/503 with Retry-After).

    The job is snoozed, not retried: re-enqueued after `retry_after` seconds
    with its attempt count unchanged (see `gifting_jobs.middleware.snooze`).
    """

    def __init__(self, provider: str, retry_after: float, *, reason: str) -> None:
        super().__init__(
            f"provider {provider!r} rate limited ({reason}): try again in {retry_after:.3f}s", retry_after=retry_after
        )
        self.provider = provider
        self.reason = reason


class PermanentJobError(JobError):
    """Retrying cannot help (bad request, missing entity): dead-lettered at once."""


class EntityNotFound(PermanentJobError, LookupError):
    """The row a job is about no longer exists."""


class RecommendationError(GiftingJobsError, LookupError):
    """Recommendations cannot be served yet; the message is fit for the user."""


class ProfileNotFound(RecommendationError):
    """The user has no taste profile: onboarding is not complete."""


class ProfileBeingProcessed(RecommendationError):
    """The profile exists but its embedding is not ready; it has been enqueued."""
