"""The one typed accessor of the `GIFTING_JOBS` settings dict, with every default.

Read lazily on each call (cached per dict identity), so `override_settings`
works in tests. Validation errors name the fix; `manage.py check` reports them
through the app's system checks.
"""

from __future__ import annotations

import difflib
from datetime import time, timedelta
from typing import Any, Literal

from django.conf import settings as django_settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError as PydanticValidationError, field_validator

from gifting_jobs.exceptions import ConfigurationError

#: The dimension of every vector column (fixed at migration time).
DEFAULT_EMBEDDING_DIMENSIONS = 256
#: The OpenAI embedding model used when EMBEDDING_PROVIDER is "openai".
DEFAULT_OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
#: The OpenAI chat model used for enrichment.
DEFAULT_OPENAI_ENRICHMENT_MODEL = "gpt-4o-mini"
#: Delays up to this long go through the broker; longer ones are held in Postgres.
DEFAULT_DELAY_HORIZON = timedelta(minutes=10)
#: Local time (the user's time zone) at which reminders are sent on their day.
DEFAULT_REMINDER_SEND_TIME = time(9, 0)
#: UTC time of the daily curated-collections run.
DEFAULT_DAILY_COLLECTIONS_AT = time(2, 0)


class JobTypeOverrides(BaseModel):
    """Per job type overrides of the catalog defaults (`GIFTING_JOBS["JOBS"][type]`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue: str | None = None
    priority: int | None = Field(default=None, ge=1, le=10)
    attempts: int | None = Field(default=None, ge=1, le=100)
    time_limit_seconds: float | None = Field(default=None, gt=0)


class GiftingJobsSettings(BaseModel):
    """Validated view of `settings.GIFTING_JOBS`; every key is optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: HMAC secret of the CMS webhook.
    WEBHOOK_SECRET: str = ""
    #: Bearer token for `GET /metrics/jobs/` besides staff sessions; empty turns token access off.
    METRICS_TOKEN: str = ""
    #: "local" (offline wordllama), "openai", or a dotted path to a provider class.
    EMBEDDING_PROVIDER: str = "local"
    EMBEDDING_MODEL: str = DEFAULT_OPENAI_EMBEDDING_MODEL
    EMBEDDING_DIMENSIONS: int = Field(default=DEFAULT_EMBEDDING_DIMENSIONS, ge=8, le=4000)
    EMBEDDING_BATCH_SIZE: int = Field(default=64, ge=1, le=2048)
    #: "local" (zero-shot tags by embedding similarity), "openai", or a dotted path.
    ENRICHMENT_PROVIDER: str = "local"
    ENRICHMENT_MODEL: str = DEFAULT_OPENAI_ENRICHMENT_MODEL
    #: Recorded with every enrichment; bump it to re-enrich the catalog.
    PROMPT_VERSION: str = "v1"
    OPENAI_API_KEY: str = ""
    OPENAI_BASE_URL: str | None = None
    OPENAI_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    #: Dotted path of the push backend class.
    PUSH_BACKEND: str = "gifting_jobs.providers.push.console.ConsolePushBackend"
    PUSH_URL: str = ""
    PUSH_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    #: Delays up to this go through the broker; longer ones wait in Postgres.
    DELAY_HORIZON_SECONDS: float = Field(default=DEFAULT_DELAY_HORIZON.total_seconds(), gt=0, le=86400)
    #: How often the relay in each worker looks for Postgres-held jobs that are due.
    RELAY_INTERVAL_SECONDS: float = Field(default=1.0, gt=0, le=60)
    RELAY_BATCH_SIZE: int = Field(default=500, ge=1, le=10000)
    #: A job whose worker keeps dying runs at most 1 + this many times, then is dead-lettered ("crashed").
    MAX_WORKER_CRASHES: int = Field(default=2, ge=1, le=100)
    #: How many recent durations per job type feed p50/p95.
    METRICS_WINDOW: int = Field(default=1000, ge=10, le=100000)
    #: Interval of the due-reminder sweep (the scheduler reads it).
    REMINDER_SWEEP_SECONDS: int = Field(default=60, ge=5, le=86400)
    #: Interval of the reconcile duty, which re-enqueues the jobs of stale products and profiles.
    RECONCILE_SECONDS: int = Field(default=3600, ge=5, le=86400)
    #: Stale rows of each kind one reconcile run re-enqueues at most.
    RECONCILE_LIMIT: int = Field(default=1000, ge=1, le=100000)
    #: Days kept of dispatched schedules, resolved dead letters and job executions.
    RETENTION_DAYS: int = Field(default=30, ge=1, le=3650)
    #: Bearer token of the HTTP push backend (sent as `Authorization: Bearer …`).
    PUSH_TOKEN: str = ""
    #: The `MAILERS` alias reminder emails are sent with.
    REMINDER_MAILER: str = "default"
    #: Local time, in the user's time zone, at which a reminder goes out on its day.
    REMINDER_SEND_TIME: time = DEFAULT_REMINDER_SEND_TIME
    #: Channels of a user who has no NotificationPreference.
    REMINDER_DEFAULT_CHANNELS: tuple[Literal["PUSH", "EMAIL"], ...] = ("PUSH",)
    #: Rows the reminder sweep claims per transaction.
    REMINDER_SWEEP_BATCH_SIZE: int = Field(default=1000, ge=1, le=10000)
    #: A claimed reminder whose dispatch never started is handed to the broker again after this.
    REMINDER_CLAIM_LEASE_SECONDS: int = Field(default=900, ge=1, le=86400)
    #: A reminder SENDING for longer than this is failed as "delivery unknown", never resent (at-most-once).
    REMINDER_SENDING_LEASE_SECONDS: int = Field(default=300, ge=1, le=86400)
    #: UTC time of the daily curated-collections run.
    DAILY_COLLECTIONS_AT: time = DEFAULT_DAILY_COLLECTIONS_AT
    #: How often a standby scheduler tries the leader lock, and the leader checks it still holds it.
    SCHEDULER_POLL_SECONDS: float = Field(default=5.0, gt=0, le=300)
    #: Multiplies every retry backoff (not a provider's Retry-After); below 1 only in tests.
    RETRY_BACKOFF_SCALE: float = Field(default=1.0, gt=0, le=100)
    #: Per job type overrides: {"product_embedding": {"attempts": 8}}.
    JOBS: dict[str, JobTypeOverrides] = Field(default_factory=dict)

    @field_validator("REMINDER_DEFAULT_CHANNELS")
    @classmethod
    def _channels_distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("must name one or more distinct channels among 'PUSH' and 'EMAIL'")
        return value

    @property
    def delay_horizon(self) -> timedelta:
        return timedelta(seconds=self.DELAY_HORIZON_SECONDS)


_cache: tuple[dict[str, Any], GiftingJobsSettings] | None = None


def _explain(exc: PydanticValidationError) -> str:
    known = list(GiftingJobsSettings.model_fields)
    lines = []
    for err in exc.errors(include_url=False):
        key = ".".join(map(str, err["loc"]))
        if err["type"] == "extra_forbidden":
            guess = difflib.get_close_matches(str(err["loc"][0]), known, n=1)
            hint = f", did you mean {guess[0]!r}?" if guess else f"; known keys: {', '.join(known)}"
            lines.append(f"unknown key {key!r}{hint}")
        else:
            lines.append(f"{key}: {err['msg']}")
    return "GIFTING_JOBS is invalid: " + "; ".join(lines)


def parse_settings(raw: dict[str, Any]) -> GiftingJobsSettings:
    """Validate a raw `GIFTING_JOBS` dict, raising `ConfigurationError` that names the fix."""
    try:
        return GiftingJobsSettings.model_validate(raw)
    except PydanticValidationError as exc:
        raise ConfigurationError(_explain(exc)) from None


def get_settings() -> GiftingJobsSettings:
    """The current, validated `GIFTING_JOBS` (re-read when the dict is replaced)."""
    global _cache
    raw = getattr(django_settings, "GIFTING_JOBS", {}) or {}
    if _cache is None or _cache[0] is not raw:
        _cache = (raw, parse_settings(raw))
    return _cache[1]
