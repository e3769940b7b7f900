"""Prometheus exposition of the job system at `GET /metrics/jobs/` (name `gifting_jobs:metrics`).

A custom collector turns one `collect_status()` snapshot into gauges; each
scrape builds a fresh `CollectorRegistry`, so nothing is shared between
requests or with the worker processes. Access: a staff session, or
`Authorization: Bearer <GIFTING_JOBS["METRICS_TOKEN"]>` when that token is set.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from http import HTTPStatus

import redis
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from gifting_jobs.conf import get_settings
from gifting_jobs.status import JobsStatus, collect_status

logger = logging.getLogger(__name__)

#: Prefix of every metric name.
NAMESPACE = "gifting_jobs"
BEARER_PREFIX = "Bearer "
MS_PER_SECOND = 1000


class JobsCollector:
    """Gauges over one status snapshot, read when the registry collects."""

    def __init__(self, source: Callable[[], JobsStatus] = collect_status) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        status = self._source()
        depth_help = {
            "ready": "Messages waiting in the queue band.",
            "delayed": "Delayed messages (in Redis and held in workers' memory until their eta).",
            "in_flight": "Messages fetched by a worker and not yet acknowledged.",
            "dead": "Entries of Dramatiq's dead set of the band not yet drained into FailedJob (see dead_letters).",
        }
        for attribute, documentation in depth_help.items():
            family = GaugeMetricFamily(f"{NAMESPACE}_queue_{attribute}", documentation, labels=["queue", "band"])
            for queue in status.queues:
                for band in queue.bands:
                    family.add_metric([queue.name, band.band], getattr(band, attribute))
            yield family

        latency = GaugeMetricFamily(
            f"{NAMESPACE}_queue_latency_seconds",
            "Age of the oldest ready message of the queue band (0 when none is ready).",
            labels=["queue", "band"],
        )
        paused = GaugeMetricFamily(
            f"{NAMESPACE}_queue_paused", "1 while the queue is paused (workers do not fetch from it).", labels=["queue"]
        )
        for queue in status.queues:
            paused.add_metric([queue.name], 1 if queue.paused else 0)
            for band in queue.bands:
                latency.add_metric([queue.name, band.band], band.latency_ms / MS_PER_SECOND)
        yield latency
        yield paused

        held = GaugeMetricFamily(f"{NAMESPACE}_held", "Jobs kept in Postgres until due and sent.", labels=["reason"])
        held_due = GaugeMetricFamily(
            f"{NAMESPACE}_held_due", "Held jobs already due (the relay's next batches).", labels=["reason"]
        )
        for count in status.held:
            held.add_metric([count.reason], count.total)
            held_due.add_metric([count.reason], count.due_now)
        yield held
        yield held_due

        failed = GaugeMetricFamily(
            f"{NAMESPACE}_failed_jobs", "Dead letters (FailedJob rows).", labels=["status", "job_type"]
        )
        for failed_count in status.failed:
            failed.add_metric([failed_count.status, failed_count.job_type], failed_count.count)
        yield failed
        yield GaugeMetricFamily(
            f"{NAMESPACE}_dead_letters",
            "Open dead letters (FailedJob rows): the count of dead jobs.",
            status.dead_letters,
        )

        duration = GaugeMetricFamily(
            f"{NAMESPACE}_duration_ms",
            "Processing time of recent jobs, by quantile (milliseconds).",
            labels=["job_type", "quantile"],
        )
        samples = GaugeMetricFamily(
            f"{NAMESPACE}_duration_samples",
            "Recent jobs the duration quantiles are computed from.",
            labels=["job_type"],
        )
        for stats in status.durations:
            samples.add_metric([stats.job_type], stats.count)
            for quantile, value in (("0.5", stats.p50_ms), ("0.95", stats.p95_ms)):
                if value is not None:
                    duration.add_metric([stats.job_type, quantile], value)
        yield duration
        yield samples
        yield from _provider_families(status)


def _provider_families(status: JobsStatus) -> Iterator[Metric]:
    """Per provider key: snoozed jobs, cooldown left, calls in the last minute and the configured limit."""
    gauges = {
        "snoozed": ("provider_snoozed_jobs", "Jobs snoozed by the provider's rate limit, not yet due back."),
        "cooldown_s": ("provider_cooldown_seconds", "Seconds left of the provider-wide cooldown (a Retry-After)."),
        "calls_last_minute": ("provider_calls_last_minute", "Calls admitted to the provider in the last 60 s."),
        "in_flight": ("provider_calls_in_flight", "Calls to the provider holding a concurrency slot."),
        "slowdown": (
            "provider_slowdown_factor",
            "Factor the provider's pace is slowed by after a 429 (1: as configured).",
        ),
    }
    for attribute, (name, documentation) in gauges.items():
        family = GaugeMetricFamily(f"{NAMESPACE}_{name}", documentation, labels=["provider"])
        for provider in status.providers:
            family.add_metric([provider.provider], getattr(provider, attribute))
        yield family
    limit = GaugeMetricFamily(
        f"{NAMESPACE}_provider_requests_per_minute_limit", "The configured requests per minute.", labels=["provider"]
    )
    for provider in status.providers:
        if provider.requests_per_minute is not None:
            limit.add_metric([provider.provider], provider.requests_per_minute)
    yield limit


def _plain(status: HTTPStatus, text: str) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


def _access_denied(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics, else the 401/403 answer."""
    header = request.headers.get("Authorization", "")
    if header:
        token = get_settings().METRICS_TOKEN
        offered = header.removeprefix(BEARER_PREFIX) if header.startswith(BEARER_PREFIX) else ""
        if token and offered and hmac.compare_digest(offered.encode(), token.encode()):
            return None
        response = _plain(HTTPStatus.UNAUTHORIZED, "invalid or disabled metrics token")
        response["WWW-Authenticate"] = 'Bearer realm="gifting_jobs metrics"'
        return response
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return None
    return _plain(HTTPStatus.FORBIDDEN, "staff or a metrics token required")


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition of `collect_status()`."""
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=HTTPStatus.METHOD_NOT_ALLOWED)
        response["Allow"] = "GET, HEAD"
        return response
    denied = _access_denied(request)
    if denied is not None:
        return denied
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsCollector())
    try:
        body = generate_latest(registry)
    except redis.RedisError:
        logger.error("metrics scrape failed: the broker does not answer", exc_info=True)
        return _plain(HTTPStatus.SERVICE_UNAVAILABLE, "broker unreachable")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


urlpatterns: list[URLPattern] = [
    path("metrics/jobs/", metrics_view, name="metrics"),
]
