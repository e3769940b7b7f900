"""The host project's settings lines, produced by the library: one source of truth.

A host project's `settings.py` needs three things from gifting_jobs: its apps in
`INSTALLED_APPS` (django_dramatiq first), a `DRAMATIQ_BROKER` with our broker
class and the complete middleware list in the right order, and a Postgres
database. `manage.py check` names any of them that is missing or wrong.

    from gifting_jobs import settings as gifting_settings
    INSTALLED_APPS = gifting_settings.installed_apps(INSTALLED_APPS)
    DRAMATIQ_BROKER = gifting_settings.dramatiq_broker(REDIS_URL)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

# The broker's own defaults, re-exported for host settings (core/settings.py reads them here).
from gifting_jobs.broker.redis_broker import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS as DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_ENQUEUE_TIMEOUT_SECONDS as DEFAULT_ENQUEUE_TIMEOUT_SECONDS,
    DEFAULT_SOCKET_TIMEOUT_SECONDS as DEFAULT_SOCKET_TIMEOUT_SECONDS,
)
from gifting_jobs.broker.wakeups import DEFAULT_WORKER_TIMEOUT_MS as DEFAULT_WORKER_TIMEOUT_MS

#: Must come first in INSTALLED_APPS: it configures the broker before other apps declare actors.
DRAMATIQ_APP = "django_dramatiq"
#: The apps gifting_jobs needs besides Django's defaults, in the order they are appended.
REQUIRED_APPS: tuple[str, ...] = ("django.contrib.postgres", "django_apscheduler", "gifting_jobs")
#: The broker class: deduplicated sends, crash counting and cheap acks are Redis scripts.
BROKER_CLASS = "gifting_jobs.broker.RedisBroker"
#: The complete broker middleware list, in order. `after_*` hooks run in reverse, so
#: DbConnections closes a worker thread's connection after our hooks wrote to the DB;
#: TimeLimit must be there because every actor declares a `time_limit`.
MIDDLEWARE: tuple[str, ...] = (
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.ShutdownNotifications",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "gifting_jobs.middleware.Idempotency",
    "gifting_jobs.middleware.DeadLetters",
    "gifting_jobs.middleware.JobObservability",
    "gifting_jobs.middleware.JobRetries",
    "gifting_jobs.middleware.Relay",
)
#: Redis key prefix of queues and job state.
DEFAULT_NAMESPACE = "gifting"
#: A dead worker's messages come back after this (Dramatiq's default).
DEFAULT_HEARTBEAT_TIMEOUT_MS = 60_000
#: Per million fetches, how often a consumer runs Redis maintenance (Dramatiq's default).
DEFAULT_MAINTENANCE_CHANCE = 1000
#: Seconds a database connection is reused (workers: between jobs).
DEFAULT_CONN_MAX_AGE = 60


def installed_apps(host_apps: Iterable[str]) -> list[str]:
    """`host_apps` with django_dramatiq first and gifting_jobs' other apps appended, each once."""
    apps = [app for app in host_apps if app != DRAMATIQ_APP]
    return [DRAMATIQ_APP, *apps, *(app for app in REQUIRED_APPS if app not in apps)]


def dramatiq_broker(
    redis_url: str,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    heartbeat_timeout_ms: int = DEFAULT_HEARTBEAT_TIMEOUT_MS,
    maintenance_chance: int = DEFAULT_MAINTENANCE_CHANCE,
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_SECONDS,
    socket_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    worker_timeout_ms: int = DEFAULT_WORKER_TIMEOUT_MS,
    enqueue_timeout: float = DEFAULT_ENQUEUE_TIMEOUT_SECONDS,
    extra_middleware: Sequence[str] = (),
) -> dict[str, Any]:
    """The complete `DRAMATIQ_BROKER` setting: our Redis broker and every middleware in order.

    `extra_middleware` (e.g. Prometheus) is appended after ours; Dramatiq's
    `Retries` must not be listed (`JobRetries` replaces it).
    """
    return {
        "BROKER": BROKER_CLASS,
        "OPTIONS": {
            "url": redis_url,
            "namespace": namespace,
            "heartbeat_timeout": heartbeat_timeout_ms,
            "maintenance_chance": maintenance_chance,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_connect_timeout,
            # Longest wait of an idle consumer for a send to wake it.
            "worker_timeout": worker_timeout_ms,
            # Total time an enqueue may wait on Redis before the job is held in Postgres.
            "enqueue_timeout": enqueue_timeout,
        },
        "MIDDLEWARE": [*MIDDLEWARE, *extra_middleware],
    }


def database_from_url(url: str, *, conn_max_age: int = DEFAULT_CONN_MAX_AGE) -> dict[str, Any]:
    """A Django `DATABASES` entry from a `postgres://` URL (`?host=/socket/dir` works)."""
    parts = urlparse(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"the database URL must be a postgres:// URL, got scheme {parts.scheme!r}")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": query.pop("host", parts.hostname or ""),
        "PORT": str(parts.port or ""),
        "OPTIONS": query,
        # Workers reuse connections between jobs (opening one costs about half of a small job).
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": True,
    }
