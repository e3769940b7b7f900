"""A snapshot of the job system: queue depths per band, held jobs, dead letters, durations.

Read by `manage.py jobs_status` and the Prometheus endpoint. What Redis holds
is read through `gifting_jobs.broker.inspection`; the key layout is described
in `gifting_jobs.broker.keys`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone
from dramatiq.common import current_millis

from gifting_jobs.broker import RedisBroker, get_broker
from gifting_jobs.broker.bands import BAND_SUFFIX, Band
from gifting_jobs.broker.inspection import ack_counts, declared_logical_queues, queue_depths
from gifting_jobs.catalog import all_specs
from gifting_jobs.conf import get_settings
from gifting_jobs.models import FailedJob, FailedJobStatus, HeldJob, HeldJobReason

#: The quantiles reported for durations.
QUANTILES = (0.5, 0.95)


@dataclass(frozen=True)
class BandStatus:
    """Depths of one physical queue (one priority band of a logical queue)."""

    band: str
    queue_name: str
    ready: int
    #: Delayed messages still in Redis.
    delayed_in_redis: int
    #: Delayed messages a worker has fetched and keeps in memory until their eta.
    delayed_in_workers: int
    in_flight: int
    #: Entries of Dramatiq's dead set not yet drained into FailedJob (the relay drains them each tick);
    #: the count of dead jobs is `JobsStatus.dead_letters`.
    dead: int
    #: When the oldest ready message (the next one fetched) became ready; None when none is ready.
    oldest_ready_at: datetime | None = None
    #: Queue latency: how long that message has waited (ms), 0 when none is ready.
    latency_ms: int = 0

    @property
    def delayed(self) -> int:
        return self.delayed_in_redis + self.delayed_in_workers


@dataclass(frozen=True)
class QueueStatus:
    """A logical queue and its bands, most urgent first."""

    name: str
    bands: tuple[BandStatus, ...]
    #: Workers do not fetch from it (see `gifting_jobs.broker.pausing`).
    paused: bool = False

    def total(self, attribute: str) -> int:
        return sum(getattr(band, attribute) for band in self.bands)

    @property
    def latency_ms(self) -> int:
        """The queue's latency: its most waited-on band's."""
        return max((band.latency_ms for band in self.bands), default=0)


@dataclass(frozen=True)
class HeldCount:
    """Jobs kept in Postgres for one reason: due now (the relay's next batch) and later."""

    reason: str
    due_now: int
    later: int

    @property
    def total(self) -> int:
        return self.due_now + self.later


@dataclass(frozen=True)
class FailedCount:
    job_type: str
    status: str
    count: int


@dataclass(frozen=True)
class DurationStats:
    """Processing times (ms) of a job type's recent runs (the last `METRICS_WINDOW`)."""

    job_type: str
    count: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class ProviderStatus:
    """A provider key's rate limiting now: snoozed jobs, cooldown left, calls in the last minute vs its limit."""

    provider: str
    snoozed: int
    cooldown_s: float
    calls_last_minute: int
    #: The configured requests per minute (None: unlimited).
    requests_per_minute: float | None
    in_flight: int
    max_concurrent: int | None
    #: The factor the pace is slowed by after a 429 (1: the configured pace).
    slowdown: float = 1.0


@dataclass(frozen=True)
class JobsStatus:
    collected_at: datetime
    namespace: str
    queues: tuple[QueueStatus, ...]
    held: tuple[HeldCount, ...]
    failed: tuple[FailedCount, ...]
    durations: tuple[DurationStats, ...]
    job_types: tuple[str, ...] = field(default=())
    providers: tuple[ProviderStatus, ...] = field(default=())

    @property
    def dead_letters(self) -> int:
        """Open dead letters (FailedJob rows): the one count of dead jobs."""
        return sum(count.count for count in self.failed if count.status == FailedJobStatus.OPEN)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO 8601, computed totals included)."""
        data = asdict(self)
        data["dead_letters"] = self.dead_letters
        data["collected_at"] = self.collected_at.isoformat()
        for queue, raw in zip(self.queues, data["queues"], strict=True):
            raw["latency_ms"] = queue.latency_ms
            for band, raw_band in zip(queue.bands, raw["bands"], strict=True):
                raw_band["delayed"] = band.delayed
                raw_band["oldest_ready_at"] = band.oldest_ready_at.isoformat() if band.oldest_ready_at else None
        for held, raw in zip(self.held, data["held"], strict=True):
            raw["total"] = held.total
        return data


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank quantile of ascending values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def reported_queues(broker: RedisBroker) -> list[str]:
    """Logical queues: those of the catalog's job types plus any declared on the broker."""
    return sorted({spec.queue for spec in all_specs()} | declared_logical_queues(broker))


def _queue_statuses(broker: RedisBroker, queues: list[str]) -> tuple[QueueStatus, ...]:
    physical = [(queue, band, queue + BAND_SUFFIX[band]) for queue in queues for band in Band]
    depths = queue_depths(broker, [name for _, _, name in physical])
    acks = ack_counts(broker)
    paused = broker.paused_queues()
    now_ms = current_millis()
    bands: dict[str, list[BandStatus]] = defaultdict(list)
    for queue, band, name in physical:
        depth = depths[name]
        bands[queue].append(
            BandStatus(
                band=band.value,
                queue_name=name,
                ready=depth.ready,
                delayed_in_redis=depth.delayed,
                delayed_in_workers=acks.delayed_in_workers.get(name, 0),
                in_flight=acks.in_flight.get(name, 0),
                dead=depth.dead,
                oldest_ready_at=_from_ms(depth.oldest_ready_at_ms),
                latency_ms=0 if depth.oldest_ready_at_ms is None else max(0, now_ms - depth.oldest_ready_at_ms),
            )
        )
    return tuple(QueueStatus(name=queue, bands=tuple(bands[queue]), paused=queue in paused) for queue in queues)


def _from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def held_counts(now: datetime) -> tuple[HeldCount, ...]:
    rows = {
        row["reason"]: row
        for row in HeldJob.objects.values("reason").annotate(
            due_now=Count("id", filter=Q(due_at__lte=now)), later=Count("id", filter=Q(due_at__gt=now))
        )
    }
    empty = {"due_now": 0, "later": 0}
    return tuple(
        HeldCount(reason=reason.value, due_now=row["due_now"], later=row["later"])
        for reason in HeldJobReason
        for row in [rows.get(reason.value, empty)]
    )


def _failed_counts(job_types: list[str]) -> tuple[FailedCount, ...]:
    counts = {
        (row["job_type"], row["status"]): row["count"]
        for row in FailedJob.objects.values("job_type", "status").annotate(count=Count("id"))
    }
    # Every known type and status is reported (zeros included) so gauges and
    # tables do not appear and vanish; types no longer registered are kept too.
    types = sorted(set(job_types) | {job_type for job_type, _ in counts})
    return tuple(
        FailedCount(job_type=job_type, status=status.value, count=counts.get((job_type, status.value), 0))
        for job_type in types
        for status in FailedJobStatus
    )


def _duration_stats(broker: RedisBroker, job_types: list[str]) -> tuple[DurationStats, ...]:
    stats = []
    for job_type in job_types:
        values = sorted(broker.recent_durations(job_type))
        p50, p95 = (quantile(values, q) for q in QUANTILES)
        stats.append(DurationStats(job_type=job_type, count=len(values), p50_ms=p50, p95_ms=p95))
    return tuple(stats)


def _provider_statuses(broker: RedisBroker) -> tuple[ProviderStatus, ...]:
    """Every provider key configured in RATE_LIMITS or with limiter state in Redis (one script call each)."""
    conf = get_settings()
    statuses = []
    for provider in sorted(set(conf.RATE_LIMITS) | set(broker.limits.known_providers())):
        figures = broker.limits.figures(provider)
        limit = conf.rate_limit(provider)
        statuses.append(
            ProviderStatus(
                provider=provider,
                snoozed=figures.snoozed,
                cooldown_s=round(figures.cooldown_s, 3),
                calls_last_minute=figures.calls_last_minute,
                requests_per_minute=limit.requests_per_minute,
                in_flight=figures.in_flight,
                max_concurrent=limit.max_concurrent,
                slowdown=figures.slowdown,
            )
        )
    return tuple(statuses)


def collect_queues(broker: RedisBroker | None = None) -> tuple[QueueStatus, ...]:
    """Only the queues of the snapshot (depths, latency, paused), without the SQL queries.

    Raises `redis.RedisError` when the broker cannot be reached.
    """
    broker = broker or get_broker()
    return _queue_statuses(broker, reported_queues(broker))


def collect_status(broker: RedisBroker | None = None) -> JobsStatus:
    """Gather the whole snapshot (a few Redis round trips and three small SQL queries).

    Raises `redis.RedisError` when the broker cannot be reached.
    """
    broker = broker or get_broker()
    now = timezone.now()
    job_types = sorted(spec.name for spec in all_specs())
    return JobsStatus(
        collected_at=now,
        namespace=broker.namespace,
        queues=_queue_statuses(broker, reported_queues(broker)),
        held=held_counts(now),
        failed=_failed_counts(job_types),
        durations=_duration_stats(broker, job_types),
        job_types=tuple(job_types),
        providers=_provider_statuses(broker),
    )
