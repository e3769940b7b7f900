"""Django settings of the host project `core`: environment-driven, zero-config for dev.

Every environment variable the project reads is read here and nowhere else.
With nothing set, the embedded Postgres + pgvector and the local Redis (or an
embedded Valkey) are used, so `make demo` and `make test` run on a fresh clone.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from core import local_services

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_from_url(url: str) -> dict[str, object]:
    parts = urlparse(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"DATABASE_URL must be a postgres:// URL, got scheme {parts.scheme!r}")
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
        "CONN_MAX_AGE": int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        "CONN_HEALTH_CHECKS": True,
    }


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = _env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",") if h]

INSTALLED_APPS = [
    # django_dramatiq first: it configures the broker before other apps import actors.
    "django_dramatiq",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_apscheduler",
    "gifting_jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"
ASGI_APPLICATION = "core.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or local_services.embedded_database_url()
DATABASES = {"default": _database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".local" / "static"

REDIS_URL = os.environ.get("REDIS_URL") or local_services.local_redis_url()

#: Dramatiq: the broker and an explicit middleware list (django_dramatiq's
#: defaults are broken on dramatiq 2). Order matters: `after_*` hooks run in
#: reverse, so DbConnections closes connections after our hooks wrote to the DB.
DRAMATIQ_BROKER = {
    "BROKER": "gifting_jobs.broker.RedisBroker",
    "OPTIONS": {
        "url": REDIS_URL,
        "namespace": os.environ.get("DRAMATIQ_NAMESPACE", "gifting"),
        "heartbeat_timeout": int(os.environ.get("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", "60000")),
        "maintenance_chance": int(os.environ.get("DRAMATIQ_MAINTENANCE_CHANCE", "1000")),
        "socket_timeout": float(os.environ.get("REDIS_SOCKET_TIMEOUT", "5")),
        "socket_connect_timeout": float(os.environ.get("REDIS_CONNECT_TIMEOUT", "1")),
        "enqueue_timeout": float(os.environ.get("REDIS_ENQUEUE_TIMEOUT", "2")),
    },
    "MIDDLEWARE": [
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.ShutdownNotifications",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "gifting_jobs.middleware.Idempotency",
        "gifting_jobs.middleware.DeadLetters",
        "gifting_jobs.middleware.JobObservability",
        "gifting_jobs.middleware.JobRetries",
        "gifting_jobs.middleware.Relay",
    ],
}

#: Django 6.1 mailers (the EMAIL_* settings are deprecated). Console by default;
#: set EMAIL_HOST to send over SMTP.
MAILERS = {
    "default": (
        {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ["EMAIL_HOST"],
                "port": int(os.environ.get("EMAIL_PORT", "25")),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": _env_bool("EMAIL_USE_TLS", False),
                "timeout": 10,
            },
        }
        if os.environ.get("EMAIL_HOST")
        else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    ),
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "reminders@gifting.example")

OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")

GIFTING_JOBS = {
    "WEBHOOK_SECRET": os.environ.get("GIFTING_WEBHOOK_SECRET", "dev-webhook-secret"),
    "METRICS_TOKEN": os.environ.get("GIFTING_METRICS_TOKEN", ""),
    "EMBEDDING_PROVIDER": "openai" if OPENAI_API_KEY else "local",
    "ENRICHMENT_PROVIDER": "openai" if OPENAI_API_KEY else "local",
    "OPENAI_API_KEY": OPENAI_API_KEY,
    "OPENAI_BASE_URL": os.environ.get("OPENAI_BASE_URL") or None,
    "PUSH_BACKEND": os.environ.get("GIFTING_PUSH_BACKEND", "gifting_jobs.providers.push.console.ConsolePushBackend"),
    "PUSH_URL": os.environ.get("GIFTING_PUSH_URL", ""),
    "REMINDER_SWEEP_SECONDS": int(os.environ.get("GIFTING_REMINDER_SWEEP_SECONDS", "60")),
    "RECONCILE_SECONDS": int(os.environ.get("GIFTING_RECONCILE_SECONDS", "3600")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"()": "gifting_jobs.observability.KeyValueFormatter"}},
    "filters": {"job_context": {"()": "gifting_jobs.observability.JobContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "kv", "filters": ["job_context"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "dramatiq": {"level": os.environ.get("DRAMATIQ_LOG_LEVEL", "WARNING")},
        "apscheduler": {"level": "WARNING"},
    },
}
