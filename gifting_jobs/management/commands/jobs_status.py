"""`manage.py jobs_status [--json]`: queue depths per band, held jobs, dead letters, durations and provider limits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gifting_jobs.models import FailedJobStatus
from gifting_jobs.status import JobsStatus, collect_status

#: Shown for a quantile with no samples.
NO_VALUE = "-"
#: The state column of a paused queue's bands (empty while it runs).
PAUSED = "paused"
MS_PER_SECOND = 1000


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: text columns left-aligned, number columns right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(not isinstance(row[i], str) or row[i] == NO_VALUE for row in rows) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _ms(value: float | None) -> float | str:
    return NO_VALUE if value is None else round(value, 1)


def render_status(status: JobsStatus) -> str:
    """The human-readable report: one table per concern."""
    queue_rows = [
        (
            queue.name,
            band.band,
            band.ready,
            band.delayed,
            band.in_flight,
            band.dead,
            round(band.latency_ms / MS_PER_SECOND, 1),
            PAUSED if queue.paused else "",
        )
        for queue in status.queues
        for band in queue.bands
    ]
    held_rows = [(held.reason, held.due_now, held.later) for held in status.held]
    statuses = [s.value for s in FailedJobStatus]
    failed: dict[str, dict[str, int]] = {}
    for count in status.failed:
        failed.setdefault(count.job_type, {})[count.status] = count.count
    failed_rows = [(job_type, *(counts.get(s, 0) for s in statuses)) for job_type, counts in failed.items()]
    duration_rows = [(d.job_type, d.count, _ms(d.p50_ms), _ms(d.p95_ms)) for d in status.durations]
    provider_rows = [
        (
            p.provider,
            p.snoozed,
            round(p.cooldown_s, 1),
            p.calls_last_minute,
            NO_VALUE if p.requests_per_minute is None else round(p.requests_per_minute),
            p.in_flight,
            NO_VALUE if p.max_concurrent is None else p.max_concurrent,
            round(p.slowdown, 2),
        )
        for p in status.providers
    ]
    sections = [
        f"Jobs status at {status.collected_at:%Y-%m-%d %H:%M:%S %Z} (Redis namespace {status.namespace})",
        "Queues (Redis)\n"
        + render_table(
            ("queue", "band", "ready", "delayed", "in flight", "dead, not yet drained", "latency s", "state"),
            queue_rows,
        ),
        "Held in Postgres\n" + render_table(("reason", "due now", "later"), held_rows),
        f"Dead letters (FailedJob): {status.dead_letters} open\n" + render_table(("job type", *statuses), failed_rows),
        "Processing times, recent jobs (ms)\n" + render_table(("job type", "count", "p50", "p95"), duration_rows),
        "Provider rate limits\n"
        + render_table(
            (
                "provider",
                "snoozed",
                "cooldown s",
                "calls last min",
                "limit/min",
                "in flight",
                "max concurrent",
                "slowdown",
            ),
            provider_rows,
        ),
    ]
    return "\n\n".join(sections)


class Command(BaseCommand):
    help = (
        "Show queue depths (ready, delayed, in flight, dead), latency and paused queues per priority band, held jobs, "
        "dead letters and p50/p95 durations."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON document instead of tables."
        )

    def handle(self, *args: Any, as_json: bool = False, **options: Any) -> None:
        try:
            status = collect_status()
        except redis.RedisError as exc:
            raise CommandError(f"the broker does not answer: {exc}") from exc
        if as_json:
            self.stdout.write(json.dumps(status.as_dict(), indent=2, sort_keys=True))
        else:
            self.stdout.write(render_status(status))
