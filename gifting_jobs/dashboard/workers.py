"""The dashboard's Workers page: every live worker process with its threads, queues, beats and running jobs.

Read from the worker registry (`gifting_jobs.broker.registry`): a worker that
dies drops off when its heartbeat times out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dramatiq.common import current_millis

from gifting_jobs.broker import get_broker
from gifting_jobs.broker.inspection import live_workers
from gifting_jobs.broker.registry import RunningJob, WorkerRecord
from gifting_jobs.dashboard.base import DashboardPage
from gifting_jobs.dashboard.timespans import describe_span

#: The broker and the registry count in milliseconds; spans are described in seconds.
MS_PER_SECOND = 1000


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class JobRow:
    job: RunningJob
    running_for: str


@dataclass(frozen=True)
class WorkerRow:
    worker: WorkerRecord
    started_at: datetime
    last_beat_at: datetime
    beat_age: str
    jobs: tuple[JobRow, ...]


def worker_rows(records: list[WorkerRecord], now_ms: int) -> list[WorkerRow]:
    return [
        WorkerRow(
            worker=record,
            started_at=_at(record.started_at_ms),
            last_beat_at=_at(record.beat_at_ms),
            beat_age=describe_span(max(0, now_ms - record.beat_at_ms) / MS_PER_SECOND),
            jobs=tuple(
                JobRow(job=job, running_for=describe_span(job.running_ms(now_ms) / MS_PER_SECOND))
                for job in record.running
            ),
        )
        for record in records
    ]


class WorkersPage(DashboardPage):
    tab = "workers"
    template_name = "gifting_jobs/dashboard/workers.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        broker = get_broker()
        context["heartbeat_timeout"] = describe_span(broker.heartbeat_timeout / MS_PER_SECOND)
        return context

    def live_data(self) -> dict[str, Any]:
        return {"workers": worker_rows(live_workers(get_broker()), current_millis())}
