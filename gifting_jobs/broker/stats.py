"""Job counters: what the ack script writes (per-minute and per-hour buckets, totals, a histogram) and how to read it.

Every acknowledged or dead-lettered message adds to counters per job type
(actor name) and logical queue, inside the script call that acks it (see
`scripts.ACK_BATCH` and `scripts.NACK_CLEANUP`): no extra round trip per job.

- processed: every attempt that ran (succeeded, failed, or snoozed by a rate limit);
- failed: attempts that raised (snoozes excepted);
- retried: failed attempts that were enqueued again;
- dead: messages that failed for good (dead-lettered).

Minute and hour buckets expire 48 h after their period ends; the totals and
the duration histogram are cumulative Prometheus counters and never expire
(a few fields per job type and queue). The processed total is the histogram's
count (every processed attempt has a duration), so a success costs four
HINCRBYs in the ack script: its minute, its hour, its histogram bucket and the
histogram's sum (integer microseconds). Keys: see `keys`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from dramatiq.common import current_millis

from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import QUARANTINE_SUFFIX

if TYPE_CHECKING:
    from gifting_jobs.broker.redis_broker import RedisBroker

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
#: Minute and hour buckets are kept this long after their period ended (seconds).
BUCKET_TTL_SECONDS = 48 * 3600
#: Minutes of the short series (the last hour) and hours of the long one (the last day).
DEFAULT_MINUTES = 60
DEFAULT_HOURS = 24
#: Separates the parts of a counter's field: `<counter>|<queue>|<actor>`.
FIELD_SEPARATOR = "|"
#: Field prefixes of the histogram in the totals hash.
BOUND_PREFIX = "le"
SUM_PREFIX = "sum"
#: The bound of the histogram's last bucket.
INFINITE_BOUND = "+Inf"
#: The histogram's sum is kept in integer microseconds (HINCRBY is cheaper than HINCRBYFLOAT).
MICROSECONDS_PER_MS = 1000


class Counter(StrEnum):
    PROCESSED = "processed"
    FAILED = "failed"
    RETRIED = "retried"
    DEAD = "dead"


_COUNTER_NAMES = frozenset(counter.value for counter in Counter)


class JobKind(NamedTuple):
    """What the counters are kept per: a logical queue and a job type (actor name)."""

    queue: str
    actor_name: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one processed message ended, handed by middleware to the ack that follows (`record_outcome`)."""

    actor_name: str
    counters: tuple[Counter, ...]
    #: The histogram bucket of the duration (`duration_bound`), "" when not measured.
    bound: str = ""
    duration_ms: float = 0.0


def counters_argument(counters: Sequence[Counter]) -> str:
    """The counters as the script takes them: "processed,failed"."""
    return ",".join(counters)


def label(physical_queue: str, actor_name: str) -> str:
    """`<logical queue>|<actor>`: bands, delay and quarantine lanes count under their logical queue."""
    return f"{logical_queue(physical_queue.removesuffix(QUARANTINE_SUFFIX))}{FIELD_SEPARATOR}{actor_name}"


def duration_us(duration_ms: float) -> int:
    """A duration as the histogram's sum adds it up."""
    return round(duration_ms * MICROSECONDS_PER_MS)


def bucket_expiries(now_ms: int) -> tuple[int, int, int, int]:
    """`(minute, hour, minute expiry, hour expiry)`: the buckets of `now_ms` and when they go (unix s)."""
    minute, hour = now_ms // MINUTE_MS, now_ms // HOUR_MS
    return (
        minute,
        hour,
        (minute + 1) * MINUTE_MS // 1000 + BUCKET_TTL_SECONDS,
        (hour + 1) * HOUR_MS // 1000 + BUCKET_TTL_SECONDS,
    )


def format_bound(bound: float) -> str:
    """A bucket's upper bound as stored and exposed (`100.0`, `+Inf`)."""
    return INFINITE_BOUND if math.isinf(bound) else repr(float(bound))


class _BoundLabels:
    """The stored labels of the configured bounds, recomputed only when the setting's tuple changes."""

    bounds: tuple[float, ...] = ()
    labels: tuple[str, ...] = (INFINITE_BOUND,)


def duration_bound(duration_ms: float, bounds: tuple[float, ...]) -> str:
    """The histogram bucket a duration falls in: the smallest bound >= it, else `+Inf`."""
    if bounds is not _BoundLabels.bounds:
        _BoundLabels.labels = (*(format_bound(b) for b in bounds), INFINITE_BOUND)
        _BoundLabels.bounds = bounds
    return _BoundLabels.labels[bisect_left(bounds, duration_ms)]


@dataclass(frozen=True)
class CounterSeries:
    """Counts per step (minute or hour), all job types summed, and per job type over the whole span."""

    step_ms: int
    #: Start of each step (epoch ms), oldest first; the last is the step now running.
    starts_ms: tuple[int, ...]
    values: Mapping[Counter, tuple[int, ...]]
    by_kind: Mapping[JobKind, Mapping[Counter, int]]

    def total(self, counter: Counter) -> int:
        return sum(self.values[counter])

    @property
    def empty(self) -> bool:
        return not any(self.total(counter) for counter in Counter)


@dataclass(frozen=True)
class Histogram:
    """The duration histogram of one job type and queue: cumulative `(bound, count)` buckets, the last `+Inf`."""

    kind: JobKind
    buckets: tuple[tuple[float, int], ...]
    sum_ms: float

    @property
    def count(self) -> int:
        return self.buckets[-1][1] if self.buckets else 0

    def quantile(self, q: float) -> float | None:
        """Estimated like Prometheus' `histogram_quantile` (linear within the bucket); None when empty.

        A quantile in the `+Inf` bucket is reported as the highest finite bound.
        """
        if not self.count:
            return None
        rank = q * self.count
        lower, below = 0.0, 0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower
                inside = cumulative - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, cumulative
        return lower


@dataclass(frozen=True)
class Totals:
    """Counts since the namespace began, and the duration histograms."""

    counts: Mapping[JobKind, Mapping[Counter, int]]
    histograms: tuple[Histogram, ...]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _parse_count_field(field: str) -> tuple[Counter, JobKind] | None:
    counter, _, rest = field.partition(FIELD_SEPARATOR)
    queue, _, actor_name = rest.partition(FIELD_SEPARATOR)
    if counter not in _COUNTER_NAMES or not actor_name:
        return None
    return Counter(counter), JobKind(queue, actor_name)


def minute_series(broker: RedisBroker, *, minutes: int = DEFAULT_MINUTES, now_ms: int | None = None) -> CounterSeries:
    """Counts per minute over the last `minutes` minutes, the current one included."""
    return _series(broker, MINUTE_MS, minutes, broker.keys.stats_minute, now_ms)


def hour_series(broker: RedisBroker, *, hours: int = DEFAULT_HOURS, now_ms: int | None = None) -> CounterSeries:
    """Counts per hour over the last `hours` hours, the current one included."""
    return _series(broker, HOUR_MS, hours, broker.keys.stats_hour, now_ms)


def _series(
    broker: RedisBroker, step_ms: int, steps: int, key: Callable[[int], str], now_ms: int | None
) -> CounterSeries:
    current = (current_millis() if now_ms is None else now_ms) // step_ms
    indexes = list(range(current - steps + 1, current + 1))
    pipe = broker.client.pipeline(transaction=False)
    for index in indexes:
        pipe.hgetall(key(index))
    values: dict[Counter, list[int]] = {counter: [0] * steps for counter in Counter}
    by_kind: dict[JobKind, dict[Counter, int]] = defaultdict(lambda: dict.fromkeys(Counter, 0))
    for position, bucket in enumerate(pipe.execute()):
        for raw_field, raw_count in bucket.items():
            parsed = _parse_count_field(_text(raw_field))
            if parsed is None:
                continue
            counter, kind = parsed
            count = int(raw_count)
            values[counter][position] += count
            by_kind[kind][counter] += count
    return CounterSeries(
        step_ms=step_ms,
        starts_ms=tuple(index * step_ms for index in indexes),
        values={counter: tuple(counts) for counter, counts in values.items()},
        by_kind=dict(sorted(by_kind.items())),
    )


def read_totals(broker: RedisBroker, bounds: Sequence[float]) -> Totals:
    """The totals and the histograms, bucketed by `bounds` (the configured ones, ascending).

    A bucket stored under a bound no longer configured counts in the next
    configured bound above it (never below: its durations were at most its bound).
    """
    finite = tuple(sorted(float(b) for b in bounds))
    all_bounds = (*finite, math.inf)
    counts: dict[JobKind, dict[Counter, int]] = defaultdict(lambda: dict.fromkeys(Counter, 0))
    per_bucket: dict[JobKind, list[int]] = defaultdict(lambda: [0] * len(all_bounds))
    sums: dict[JobKind, float] = defaultdict(float)
    for raw_field, raw_value in broker.client.hgetall(broker.keys.stats_totals).items():
        field = _text(raw_field)
        prefix, _, rest = field.partition(FIELD_SEPARATOR)
        if prefix == BOUND_PREFIX:
            queue, actor_name, bound = rest.split(FIELD_SEPARATOR)
            position = bisect_left(all_bounds, float(bound))
            per_bucket[JobKind(queue, actor_name)][min(position, len(all_bounds) - 1)] += int(raw_value)
        elif prefix == SUM_PREFIX:
            queue, _, actor_name = rest.partition(FIELD_SEPARATOR)
            sums[JobKind(queue, actor_name)] += int(raw_value) / MICROSECONDS_PER_MS
        elif (parsed := _parse_count_field(field)) is not None:
            counter, kind = parsed
            counts[kind][counter] += int(raw_value)
    histograms = []
    for kind in sorted(per_bucket):
        cumulative: list[tuple[float, int]] = []
        running = 0
        for upper, count in zip(all_bounds, per_bucket[kind], strict=True):
            running += count
            cumulative.append((upper, running))
        histograms.append(Histogram(kind=kind, buckets=tuple(cumulative), sum_ms=sums[kind]))
        # Every processed attempt is in the histogram: its count is the processed total.
        counts[kind][Counter.PROCESSED] += running
    return Totals(counts=dict(sorted(counts.items())), histograms=tuple(histograms))
