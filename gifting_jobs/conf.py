"""The one typed accessor of the `GIFTING_JOBS` settings dict, with every default.

Read lazily on each call (cached per dict identity), so `override_settings`
works in tests. Validation errors name the fix; `manage.py check` reports them
through the app's system checks.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import typing
from datetime import time, timedelta
from typing import Any, Literal

from django.conf import settings as django_settings
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError as PydanticValidationError,
    field_validator,
    model_validator,
)

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
#: The publicly known webhook secret of development checkouts: refused whenever DEBUG is off.
DEV_WEBHOOK_SECRET = "dev-webhook-secret"
#: Largest CMS webhook body accepted (1 MiB); a longer one is answered 413.
DEFAULT_WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
#: Upper bounds (ms) of the job duration histogram's buckets: 5 ms to 10 minutes, for LLM jobs too.
DEFAULT_METRICS_DURATION_BUCKETS_MS: tuple[float, ...] = (
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000,
)  # fmt: skip
#: Most buckets a duration histogram may have (each is a time series per job type and queue).
MAX_METRICS_DURATION_BUCKETS = 40


class JobTypeOverrides(BaseModel):
    """Per job type overrides of the catalog defaults (`GIFTING_JOBS["JOBS"][type]`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue: str | None = None
    priority: int | None = Field(default=None, ge=1, le=10)
    attempts: int | None = Field(default=None, ge=1, le=100)
    time_limit_seconds: float | None = Field(default=None, gt=0)


#: Provider keys are dotted lowercase names: "openai.embeddings", "push", "acme.translate".
PROVIDER_KEY_PATTERN = r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$"
#: A snoozed job is dead-lettered ("rate_limited") once it has been snoozed this long in all.
DEFAULT_MAX_SNOOZE_SECONDS = 24 * 3600


class ProviderRateLimit(BaseModel):
    """Limits of one provider key (`GIFTING_JOBS["RATE_LIMITS"][key]`), shared by every worker through Redis.

    Requests are spaced evenly (`window_seconds / allowed requests` apart) and
    tokens are counted in a sliding window, so no window of `window_seconds`
    ever holds more than its share of either. None means unlimited.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: float | None = Field(default=None, gt=0)
    #: OpenAI: estimated from the texts before a call, corrected from the answer's usage.
    tokens_per_minute: int | None = Field(default=None, ge=1)
    max_concurrent: int | None = Field(default=None, ge=1, le=10000)
    #: The window the per-minute figures are enforced over (scaled to it); shorter only in tests.
    window_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: A call whose turn comes within this waits for it in the worker; a later turn snoozes the job.
    max_wait_seconds: float = Field(default=1.0, ge=0, le=60)
    #: Total snoozing after which a job is dead-lettered with reason "rate_limited".
    max_snooze_seconds: float = Field(default=DEFAULT_MAX_SNOOZE_SECONDS, gt=0, le=30 * 86400)
    #: A concurrency slot of a worker that died mid-call is freed after this.
    lease_seconds: float = Field(default=300.0, gt=0, le=86400)

    @property
    def requests_per_window(self) -> float | None:
        return None if self.requests_per_minute is None else self.requests_per_minute * self.window_seconds / 60

    @property
    def tokens_per_window(self) -> int | None:
        return None if self.tokens_per_minute is None else int(self.tokens_per_minute * self.window_seconds / 60)

    @model_validator(mode="after")
    def _window_holds_a_call(self) -> ProviderRateLimit:
        if self.requests_per_window is not None and self.requests_per_window < 1:
            raise ValueError(
                f"requests_per_minute={self.requests_per_minute} allows no request in a window of "
                f"{self.window_seconds}s: raise window_seconds or the limit"
            )
        return self


class GiftingJobsSettings(BaseModel):
    """Validated view of `settings.GIFTING_JOBS`; every key is optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: HMAC secret of the CMS webhook.
    WEBHOOK_SECRET: str = ""
    #: Largest webhook body in bytes; longer ones get a JSON 413 (replaces DATA_UPLOAD_MAX_MEMORY_SIZE there).
    WEBHOOK_MAX_BODY_BYTES: int = Field(default=DEFAULT_WEBHOOK_MAX_BODY_BYTES, ge=1024, le=64 * 1024 * 1024)
    #: Bearer token for `GET /metrics/jobs/` besides staff sessions; empty turns token access off.
    METRICS_TOKEN: str = ""
    #: "local" (offline all-MiniLM-L6-v2), "wordllama" (offline, faster, less relevant), "openai",
    #: or a dotted path to a provider class.
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
    #: Upper bounds (ms, ascending) of `gifting_jobs_message_duration_milliseconds`' buckets; `+Inf` is implied.
    METRICS_DURATION_BUCKETS_MS: tuple[float, ...] = DEFAULT_METRICS_DURATION_BUCKETS_MS
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
    #: Per provider key limits: {"openai.embeddings": {"requests_per_minute": 3000, "tokens_per_minute": 1000000}}.
    RATE_LIMITS: dict[str, ProviderRateLimit] = Field(default_factory=dict)

    @field_validator("REMINDER_DEFAULT_CHANNELS")
    @classmethod
    def _channels_distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("must name one or more distinct channels among 'PUSH' and 'EMAIL'")
        return value

    @field_validator("METRICS_DURATION_BUCKETS_MS")
    @classmethod
    def _buckets_ascending(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not 1 <= len(value) <= MAX_METRICS_DURATION_BUCKETS:
            raise ValueError(f"give 1 to {MAX_METRICS_DURATION_BUCKETS} bucket bounds in ms, e.g. (100, 1000, 600000)")
        if not all(math.isfinite(bound) and bound > 0 for bound in value):
            raise ValueError(f"bucket bounds are finite milliseconds > 0 (+Inf is implied); got {list(value)}")
        if any(later <= earlier for earlier, later in itertools.pairwise(value)):
            raise ValueError(f"bucket bounds must be strictly ascending; got {list(value)}")
        return value

    @field_validator("RATE_LIMITS")
    @classmethod
    def _provider_keys(cls, value: dict[str, ProviderRateLimit]) -> dict[str, ProviderRateLimit]:
        bad = [key for key in value if not re.match(PROVIDER_KEY_PATTERN, key)]
        if bad:
            raise ValueError(f"provider keys are dotted lowercase names like 'openai.embeddings'; got {bad}")
        return value

    def rate_limit(self, provider: str) -> ProviderRateLimit:
        """The limits of a provider key (unlimited, cooldowns only, when it is not configured)."""
        return self.RATE_LIMITS.get(provider) or _UNLIMITED

    @property
    def delay_horizon(self) -> timedelta:
        return timedelta(seconds=self.DELAY_HORIZON_SECONDS)


_UNLIMITED = ProviderRateLimit()
_cache: tuple[dict[str, Any], GiftingJobsSettings] | None = None


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys known at the depth of an error's location (a field of a model, or of a dict's values)."""
    model: Any = GiftingJobsSettings
    index = 0
    while index < len(loc) - 1:
        annotation = model.model_fields[loc[index]].annotation
        if typing.get_origin(annotation) is dict:
            # Skip the dict key (a job type name): its values are the next model.
            annotation = typing.get_args(annotation)[1]
            index += 1
        model = annotation
        index += 1
    return list(model.model_fields)


def setting_path(loc: tuple[Any, ...]) -> str:
    """`GIFTING_JOBS['JOBS']['product_embedding']` for a location, as a user writes it."""
    return "GIFTING_JOBS" + "".join(f"[{part!r}]" for part in loc)


def _explain(exc: PydanticValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            known = _fields_at(loc)
            guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f", did you mean {guess[0]!r}?" if guess else f"; known keys: {', '.join(known)}"
            lines.append(f"{setting_path(loc[:-1])} has an unknown key {loc[-1]!r}{hint}")
        else:
            lines.append(f"{setting_path(loc)}: {err['msg']}")
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
