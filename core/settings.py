"""Django settings of the host project `core`: environment-driven, zero-config for dev.

Every environment variable the project reads is read here and nowhere else.
With nothing set, the embedded Postgres + pgvector and the local Redis (or an
embedded Valkey) are used, so `make demo` and `make test` run on a fresh clone.
Secure by default: DEBUG is off unless DJANGO_DEBUG=1, and the dev webhook
secret is used only with DEBUG on; `manage.py check --deploy` fails while the
dev SECRET_KEY or no real webhook secret is configured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core import local_services
from gifting_jobs import settings as gifting_settings
from gifting_jobs.conf import DEV_WEBHOOK_SECRET

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


#: Django's own prefix for keys unfit for production: `check --deploy` fails on it.
DEV_SECRET_KEY = "django-insecure-dev-only-key-change-me"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
DEBUG = _env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",") if h]

INSTALLED_APPS = gifting_settings.installed_apps(
    [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
    ]
)

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
DATABASES = {
    "default": gifting_settings.database_from_url(
        DATABASE_URL, conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", gifting_settings.DEFAULT_CONN_MAX_AGE))
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".local" / "static"

REDIS_URL = os.environ.get("REDIS_URL") or local_services.local_redis_url()

#: Dramatiq: the library's broker setting (broker class and complete middleware list).
DRAMATIQ_BROKER = gifting_settings.dramatiq_broker(
    REDIS_URL,
    namespace=os.environ.get("DRAMATIQ_NAMESPACE", gifting_settings.DEFAULT_NAMESPACE),
    heartbeat_timeout_ms=int(
        os.environ.get("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", gifting_settings.DEFAULT_HEARTBEAT_TIMEOUT_MS)
    ),
    maintenance_chance=int(os.environ.get("DRAMATIQ_MAINTENANCE_CHANCE", gifting_settings.DEFAULT_MAINTENANCE_CHANCE)),
    socket_timeout=float(os.environ.get("REDIS_SOCKET_TIMEOUT", gifting_settings.DEFAULT_SOCKET_TIMEOUT_SECONDS)),
    socket_connect_timeout=float(
        os.environ.get("REDIS_CONNECT_TIMEOUT", gifting_settings.DEFAULT_CONNECT_TIMEOUT_SECONDS)
    ),
    worker_timeout_ms=int(os.environ.get("DRAMATIQ_WORKER_TIMEOUT_MS", gifting_settings.DEFAULT_WORKER_TIMEOUT_MS)),
    enqueue_timeout=float(os.environ.get("REDIS_ENQUEUE_TIMEOUT", gifting_settings.DEFAULT_ENQUEUE_TIMEOUT_SECONDS)),
)

#: Django's task API (`@task`) runs on the gifting_jobs spine: Dramatiq workers, results in Postgres.
TASKS = {
    "default": {
        "BACKEND": "gifting_jobs.tasks.backend.SpineTaskBackend",
        "QUEUES": ["default"],
    }
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

GIFTING_JOBS: dict[str, Any] = {
    # The publicly known dev secret only when DEBUG was asked for; otherwise no secret, no deliveries.
    "WEBHOOK_SECRET": os.environ.get("GIFTING_WEBHOOK_SECRET") or (DEV_WEBHOOK_SECRET if DEBUG else ""),
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

#: The 500 debug page (DEBUG on) and error emails mask passwords inside URLs (DATABASE_URL, REDIS_URL).
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.error_reports.CredentialsHidingFilter"

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
