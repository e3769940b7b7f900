"""The dashboard's overview: processed, failed, retried and dead-lettered jobs over the last hour and day.

Read from the counters the workers' acks keep in Redis (`gifting_jobs.broker.stats`):
per minute over the last hour, per hour over the last 24 h, and since counting
began; p50/p95 processing time per job type come from the recent durations
`jobs_status` reports (the last `METRICS_WINDOW` runs of each type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString

from gifting_jobs.broker import RedisBroker, get_broker
from gifting_jobs.broker.stats import Counter, CounterSeries, JobKind, hour_series, minute_series, read_totals
from gifting_jobs.conf import get_settings
from gifting_jobs.dashboard.base import DashboardPage
from gifting_jobs.dashboard.charts import Line, line_chart
from gifting_jobs.status import QUANTILES, quantile

#: Each counter's label and line colour (the fallback of its CSS class), in legend order.
SERIES = {
    Counter.PROCESSED: ("processed", "#2563eb"),
    Counter.FAILED: ("failed", "#dc2626"),
    Counter.RETRIED: ("retried", "#d97706"),
    Counter.DEAD: ("dead-lettered", "#7c3aed"),
}
#: An x label on each round 10 minutes, and on each round 3 hours (local time).
MINUTE_TICKS, HOUR_TICKS = 10, 3


@dataclass(frozen=True)
class TotalsRow:
    """One line of the totals table: a span and its four counts."""

    span: str
    processed: int
    failed: int
    retried: int
    dead: int


@dataclass(frozen=True)
class JobTypeRow:
    """One job type and queue over the last 24 h, with its recent processing times."""

    job_type: str
    queue: str
    processed: int
    failed: int
    retried: int
    dead: int
    p50_ms: float | None
    p95_ms: float | None
    samples: int


def _chart(series: CounterSeries, *, title: str, hourly: bool) -> SafeString:
    times = [timezone.localtime(datetime.fromtimestamp(start / 1000, tz=UTC)) for start in series.starts_ms]
    labels = [moment.strftime("%H:00" if hourly else "%H:%M") for moment in times]
    ticks = [
        index
        for index, moment in enumerate(times)
        if (moment.hour % HOUR_TICKS == 0 if hourly else moment.minute % MINUTE_TICKS == 0)
    ]
    lines = [
        Line(name=counter.value, label=label, colour=colour, values=series.values[counter])
        for counter, (label, colour) in SERIES.items()
    ]
    return line_chart(title=title, x_labels=labels, lines=lines, ticks=ticks)


def _totals_row(span: str, counts: Mapping[Counter, int]) -> TotalsRow:
    return TotalsRow(
        span=span,
        processed=counts[Counter.PROCESSED],
        failed=counts[Counter.FAILED],
        retried=counts[Counter.RETRIED],
        dead=counts[Counter.DEAD],
    )


def _job_type_rows(broker: RedisBroker, day: CounterSeries) -> list[JobTypeRow]:
    rows = []
    for kind, counts in day.by_kind.items():
        durations = sorted(broker.recent_durations(kind.actor_name))
        p50, p95 = (quantile(durations, q) for q in QUANTILES)
        rows.append(
            JobTypeRow(
                job_type=kind.actor_name,
                queue=kind.queue,
                processed=counts[Counter.PROCESSED],
                failed=counts[Counter.FAILED],
                retried=counts[Counter.RETRIED],
                dead=counts[Counter.DEAD],
                p50_ms=p50,
                p95_ms=p95,
                samples=len(durations),
            )
        )
    return sorted(rows, key=lambda row: (-row.processed, row.job_type, row.queue))


def _all_time(counts: Mapping[JobKind, Mapping[Counter, int]]) -> dict[Counter, int]:
    return {counter: sum(per_kind[counter] for per_kind in counts.values()) for counter in Counter}


class OverviewPage(DashboardPage):
    """Charts per minute (last hour) and per hour (last 24 h), totals, and p50/p95 per job type."""

    tab = "overview"
    template_name = "gifting_jobs/dashboard/overview.html"

    def live_data(self) -> dict[str, Any]:
        broker = get_broker()
        hour = minute_series(broker)
        day = hour_series(broker)
        totals = read_totals(broker, get_settings().METRICS_DURATION_BUCKETS_MS)
        return dict(
            empty=day.empty,
            minute_chart=_chart(hour, title="Jobs per minute, last hour", hourly=False),
            hour_chart=_chart(day, title="Jobs per hour, last 24 hours", hourly=True),
            totals=[
                _totals_row("Last hour", {counter: hour.total(counter) for counter in Counter}),
                _totals_row("Last 24 hours", {counter: day.total(counter) for counter in Counter}),
                _totals_row("Since counting began", _all_time(totals.counts)),
            ],
            job_types=_job_type_rows(broker, day),
            metrics_window=get_settings().METRICS_WINDOW,
        )
