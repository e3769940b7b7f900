"""The dashboard's Queues page: per logical queue and band, ready, delayed, in flight and latency; pause and resume.

Pausing needs `gifting_jobs.pause_queues`: without it the page shows no
buttons and a POST answers 403. The forms post to their own URLs (CSRF
protected by the admin), which redirect back with a message; an unknown or
missing queue name gets the page back with the error and status 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import redis
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from gifting_jobs.dashboard.base import PAUSE_PERMISSION, DashboardPage
from gifting_jobs.dashboard.timespans import describe_span
from gifting_jobs.queue_control import UnknownQueueError, pause_queue, resume_queue
from gifting_jobs.status import BandStatus, QueueStatus, collect_queues

#: The broker and the registry count in milliseconds; spans are described in seconds.
MS_PER_SECOND = 1000

#: The URL name of the page (inside the admin namespace).
QUEUES_URL = "admin:gifting_jobs_dashboard_queues"
#: Shown for the latency of a band with no ready message.
NO_LATENCY = "-"


@dataclass(frozen=True)
class BandRow:
    band: BandStatus
    latency: str


@dataclass(frozen=True)
class QueueRow:
    queue: QueueStatus
    bands: tuple[BandRow, ...]
    latency: str


def _latency(ms: int, ready: int) -> str:
    return describe_span(ms / MS_PER_SECOND) if ready else NO_LATENCY


def queue_rows(queues: tuple[QueueStatus, ...]) -> list[QueueRow]:
    return [
        QueueRow(
            queue=queue,
            bands=tuple(BandRow(band=band, latency=_latency(band.latency_ms, band.ready)) for band in queue.bands),
            latency=_latency(queue.latency_ms, queue.total("ready")),
        )
        for queue in queues
    ]


class QueuesPage(DashboardPage):
    tab = "queues"
    template_name = "gifting_jobs/dashboard/queues.html"

    def live_data(self) -> dict[str, Any]:
        return {"queues": queue_rows(collect_queues())}


class QueueActionView(QueuesPage):
    """POST `queue=<name>`: pause or resume that logical queue, then back to the Queues page."""

    http_method_names = ["post"]
    #: "pause" or "resume".
    action: ClassVar[str]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(PAUSE_PERMISSION):
            raise PermissionDenied(f"pausing and resuming queues needs the permission {PAUSE_PERMISSION}")
        name = request.POST.get("queue", "").strip()
        if not name:
            return self._refused("no queue was named: post the field 'queue'")
        change = pause_queue if self.action == "pause" else resume_queue
        try:
            changed = change(name)
        except UnknownQueueError as exc:
            return self._refused(str(exc))
        except redis.RedisError as exc:
            return self._refused(f"the broker does not answer, nothing changed: {exc}", HTTPStatus.SERVICE_UNAVAILABLE)
        if self.action == "pause":
            text = (
                f"Queue {name} paused: workers stop fetching from it within a second and finish what they hold."
                if changed
                else f"Queue {name} was paused already."
            )
        else:
            text = f"Queue {name} resumed." if changed else f"Queue {name} was not paused."
        messages.success(request, text)
        return HttpResponseRedirect(reverse(QUEUES_URL))

    def _refused(self, error: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> HttpResponse:
        return self.render_to_response(self.get_context_data(action_error=error), status=status)


class PauseQueueView(QueueActionView):
    action = "pause"


class ResumeQueueView(QueueActionView):
    action = "resume"
