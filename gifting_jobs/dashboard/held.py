"""The dashboard's Held jobs page: jobs kept in Postgres until the relay sends them.

Jobs are held for four reasons (`HeldJobReason`): enqueued inside a transaction
(outbox, sent on commit), enqueued while the broker was down, delayed beyond the
horizon, snoozed by a rate limit beyond the horizon. "Due now" rows are the
relay's next batch: they should leave within a relay interval, so an old one
means no relay runs (no worker) or the broker refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from gifting_jobs.conf import get_settings
from gifting_jobs.dashboard.base import DashboardPage
from gifting_jobs.dashboard.timespans import describe_span
from gifting_jobs.models import HeldJob, HeldJobReason
from gifting_jobs.status import HeldCount, held_counts

#: Rows listed under "Next due".
NEXT_DUE_ROWS = 25
#: A due row older than this (or than `STALE_RELAY_INTERVALS` relay intervals, if longer) is flagged.
STALE_DUE_AFTER = timedelta(minutes=1)
#: Relay intervals a due row may wait before it is flagged (the relay may be between two rounds).
STALE_RELAY_INTERVALS = 3
#: Characters of a row's last error shown in the table (the admin page has it whole).
ERROR_PREVIEW_CHARS = 160


@dataclass(frozen=True)
class ReasonCounts:
    """One reason's counts, with its label and a link to its rows in the admin."""

    reason: str
    label: str
    due_now: int
    later: int
    url: str

    @property
    def total(self) -> int:
        return self.due_now + self.later


@dataclass(frozen=True)
class TypeCounts:
    """Held jobs of one job type for one reason."""

    reason: str
    job_type: str
    due_now: int
    later: int


@dataclass(frozen=True)
class HeldRow:
    """A held job as listed under "Next due"."""

    job: HeldJob
    url: str
    #: Seconds until due (negative: due that long ago).
    due_in_s: float
    error_preview: str

    @property
    def due_in(self) -> str:
        return describe_span(abs(self.due_in_s))


@dataclass(frozen=True)
class DueBacklog:
    """The oldest due-now row: how long the relay has left it, and whether that is too long."""

    oldest_due_at: datetime
    age_s: float
    threshold_s: float
    #: The relay tried the oldest row and failed (the broker refused it), rather than never trying.
    relay_failing: bool
    last_error: str

    @property
    def age(self) -> str:
        return describe_span(self.age_s)

    @property
    def threshold(self) -> str:
        return describe_span(self.threshold_s)

    @property
    def stale(self) -> bool:
        return self.age_s > self.threshold_s


def stale_threshold() -> timedelta:
    """How old a due row may get before the page flags it."""
    return max(STALE_DUE_AFTER, timedelta(seconds=get_settings().RELAY_INTERVAL_SECONDS * STALE_RELAY_INTERVALS))


def _changelist_url() -> str:
    return reverse("admin:gifting_jobs_heldjob_changelist")


def reason_counts(counts: tuple[HeldCount, ...]) -> list[ReasonCounts]:
    """`status.held_counts` with labels and admin links, every reason listed (zeros too)."""
    labels = dict(HeldJobReason.choices)
    changelist = _changelist_url()
    return [
        ReasonCounts(
            reason=count.reason,
            label=labels[count.reason],
            due_now=count.due_now,
            later=count.later,
            url=f"{changelist}?reason__exact={count.reason}",
        )
        for count in counts
    ]


def type_counts(now: datetime) -> list[TypeCounts]:
    """Due-now and later counts per (reason, job type) that hold any row, in the reasons' order."""
    order = {reason.value: index for index, reason in enumerate(HeldJobReason)}
    rows = HeldJob.objects.values("reason", "job_type").annotate(
        due_now=Count("id", filter=Q(due_at__lte=now)), later=Count("id", filter=Q(due_at__gt=now))
    )
    counts = [TypeCounts(**row) for row in rows]
    return sorted(counts, key=lambda c: (order.get(c.reason, len(order)), c.job_type))


def next_due(now: datetime, *, limit: int = NEXT_DUE_ROWS) -> list[HeldRow]:
    """The `limit` rows the relay sends first (oldest due first), each linked to its admin page."""
    rows = HeldJob.objects.order_by("due_at", "id")[:limit]
    return [
        HeldRow(
            job=row,
            url=reverse("admin:gifting_jobs_heldjob_change", args=[row.pk]),
            due_in_s=(row.due_at - now).total_seconds(),
            error_preview=row.last_error[:ERROR_PREVIEW_CHARS]
            + ("…" if len(row.last_error) > ERROR_PREVIEW_CHARS else ""),
        )
        for row in rows
    ]


def due_backlog(now: datetime) -> DueBacklog | None:
    """The oldest due-now row's age against the threshold; None when nothing is due."""
    first = HeldJob.objects.filter(due_at__lte=now).order_by("due_at", "id").first()
    if first is None:
        return None
    return DueBacklog(
        oldest_due_at=first.due_at,
        age_s=(now - first.due_at).total_seconds(),
        threshold_s=stale_threshold().total_seconds(),
        relay_failing=first.relay_attempts > 0,
        last_error=first.last_error,
    )


class HeldJobsPage(DashboardPage):
    """Held jobs by reason and job type, due now and later, the next due rows, and a stuck relay flagged."""

    tab = "held"
    template_name = "gifting_jobs/dashboard/held.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        now = timezone.now()
        reasons = reason_counts(held_counts(now))
        return {
            **super().get_context_data(**kwargs),
            "now": now,
            "reasons": reasons,
            "total_due_now": sum(r.due_now for r in reasons),
            "total_later": sum(r.later for r in reasons),
            "type_counts": type_counts(now),
            "next_due": next_due(now),
            "next_due_limit": NEXT_DUE_ROWS,
            "backlog": due_backlog(now),
            "relay_interval_s": get_settings().RELAY_INTERVAL_SECONDS,
            "changelist_url": _changelist_url(),
        }
