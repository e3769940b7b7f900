"""System checks: `manage.py check` (and every command) reports bad settings with the fix."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from gifting_jobs.exceptions import ConfigurationError

REQUIRED_MIDDLEWARE = [
    "gifting_jobs.middleware.Idempotency",
    "gifting_jobs.middleware.DeadLetters",
    "gifting_jobs.middleware.JobObservability",
    "gifting_jobs.middleware.JobRetries",
    "gifting_jobs.middleware.Relay",
]


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from gifting_jobs.conf import get_settings

    try:
        conf = get_settings()
    except ConfigurationError as exc:
        return [Error(str(exc), hint="Fix the GIFTING_JOBS dict in your settings.", id="gifting_jobs.E001")]
    errors: list[CheckMessage] = []
    from gifting_jobs.models.vectors import embedding_dimensions

    if not conf.WEBHOOK_SECRET:
        errors.append(
            Warning(
                "GIFTING_JOBS['WEBHOOK_SECRET'] is empty: the CMS webhook refuses every delivery",
                hint="Set it to the secret the CMS signs its webhooks with (env GIFTING_WEBHOOK_SECRET).",
                id="gifting_jobs.W001",
            )
        )

    if conf.EMBEDDING_DIMENSIONS != embedding_dimensions():
        errors.append(
            Error(
                f"GIFTING_JOBS['EMBEDDING_DIMENSIONS'] is {conf.EMBEDDING_DIMENSIONS} but the vector columns "
                f"were built with {embedding_dimensions()}",
                hint="Keep the dimension the migrations used, or re-create the vector columns and run "
                "`manage.py backfill_embeddings --all`.",
                id="gifting_jobs.E002",
            )
        )
    if conf.EMBEDDING_PROVIDER == "openai" and not conf.OPENAI_API_KEY:
        errors.append(
            Error(
                "EMBEDDING_PROVIDER is 'openai' but OPENAI_API_KEY is empty",
                hint="Set OPENAI_API_KEY, or use EMBEDDING_PROVIDER 'local'.",
                id="gifting_jobs.E003",
            )
        )
    for key in ("PUSH_BACKEND",):
        path = getattr(conf, key)
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(Error(f"GIFTING_JOBS[{key!r}] = {path!r} cannot be imported: {exc}", id="gifting_jobs.E004"))
    return errors


@register(Tags.compatibility)
def check_broker(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    broker = getattr(settings, "DRAMATIQ_BROKER", None)
    if not broker:
        return [
            Error(
                "DRAMATIQ_BROKER is not set; django_dramatiq's defaults do not work with dramatiq 2",
                hint="Set DRAMATIQ_BROKER with BROKER 'gifting_jobs.broker.RedisBroker' and an explicit MIDDLEWARE list.",
                id="gifting_jobs.E010",
            )
        ]
    errors = []
    if broker.get("BROKER") != "gifting_jobs.broker.RedisBroker":
        errors.append(
            Error(
                f"DRAMATIQ_BROKER['BROKER'] is {broker.get('BROKER')!r}",
                hint="Use 'gifting_jobs.broker.RedisBroker': deduplicated sends need it.",
                id="gifting_jobs.E011",
            )
        )
    middleware = list(broker.get("MIDDLEWARE", []))
    present = [m for m in middleware if m in REQUIRED_MIDDLEWARE]
    if present != REQUIRED_MIDDLEWARE:
        errors.append(
            Error(
                "DRAMATIQ_BROKER['MIDDLEWARE'] must list gifting_jobs' middleware in this order: "
                + ", ".join(REQUIRED_MIDDLEWARE),
                hint="Missing or out of order: after-hooks run in reverse, and each relies on the one before.",
                id="gifting_jobs.E012",
            )
        )
    if "dramatiq.middleware.Retries" in middleware:
        errors.append(
            Error(
                "dramatiq.middleware.Retries is listed alongside gifting_jobs.middleware.JobRetries",
                hint="Remove dramatiq.middleware.Retries: jobs would be retried twice.",
                id="gifting_jobs.E013",
            )
        )
    db = "django_dramatiq.middleware.DbConnectionsMiddleware"
    if db in middleware and present and middleware.index(db) > middleware.index(present[0]):
        errors.append(
            Error(
                "DbConnectionsMiddleware must come before gifting_jobs' middleware",
                hint="Otherwise each worker thread keeps a database connection open after dead-letter writes.",
                id="gifting_jobs.E014",
            )
        )
    return errors


#: Django marks keys unfit for production with this prefix (`startproject`, and the repo's dev key).
INSECURE_SECRET_KEY_PREFIX = "django-insecure-"


@register(Tags.security, deploy=True)
def check_deploy_secrets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """`check --deploy` fails while the secrets are empty or the publicly known development ones."""
    from gifting_jobs.conf import DEV_WEBHOOK_SECRET, get_settings

    try:
        secret = get_settings().WEBHOOK_SECRET
    except ConfigurationError:
        return []  # check_settings reports it
    errors: list[CheckMessage] = []
    if not settings.DEBUG and secret in ("", DEV_WEBHOOK_SECRET):
        errors.append(
            Error(
                "GIFTING_JOBS['WEBHOOK_SECRET'] is "
                + ("empty" if not secret else "the public development secret")
                + " with DEBUG off: the CMS webhook cannot be used safely",
                hint="Set it to the secret the CMS signs its webhooks with (env GIFTING_WEBHOOK_SECRET).",
                id="gifting_jobs.E020",
            )
        )
    if str(getattr(settings, "SECRET_KEY", "")).startswith(INSECURE_SECRET_KEY_PREFIX):
        errors.append(
            Error(
                f"SECRET_KEY starts with {INSECURE_SECRET_KEY_PREFIX!r}: it is a development key, known to anyone",
                hint="Set a long random SECRET_KEY (env DJANGO_SECRET_KEY), "
                "e.g. from django.core.management.utils.get_random_secret_key().",
                id="gifting_jobs.E021",
            )
        )
    return errors
