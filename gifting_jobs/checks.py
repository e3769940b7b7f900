"""System checks: `manage.py check` (and every command) names each missing or wrong settings line.

Every message carries the line to add or change, as `gifting_jobs.settings`
produces it, so a host project is set up by following the checks alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from gifting_jobs import settings as gifting_settings
from gifting_jobs.exceptions import ConfigurationError

#: The settings line that produces a correct DRAMATIQ_BROKER.
BROKER_LINE = "DRAMATIQ_BROKER = gifting_settings.dramatiq_broker(REDIS_URL)"
#: The settings line that produces a correct INSTALLED_APPS.
APPS_LINE = "INSTALLED_APPS = gifting_settings.installed_apps(INSTALLED_APPS)"
#: Where the two lines above get `gifting_settings` from.
IMPORT_LINE = "from gifting_jobs import settings as gifting_settings"
#: The models holding a vector column, as (app label, model name).
VECTOR_MODELS = (("gifting_jobs", "product"), ("gifting_jobs", "tasteprofile"))
#: The vector column of those models.
VECTOR_COLUMN = "embedding"


@register(Tags.compatibility)
def check_installed_apps(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """django_dramatiq first (it sets up the broker), and every app gifting_jobs needs."""
    return installed_apps_errors(list(settings.INSTALLED_APPS))


def installed_apps_errors(apps: Sequence[str]) -> list[CheckMessage]:
    """The INSTALLED_APPS problems of `apps`, each naming the line to add."""
    errors: list[CheckMessage] = []
    fix = f"{IMPORT_LINE}\n\t{APPS_LINE}"
    if gifting_settings.DRAMATIQ_APP not in apps:
        errors.append(
            Error(
                "'django_dramatiq' is not in INSTALLED_APPS: DRAMATIQ_BROKER is never applied "
                "(jobs would go to Dramatiq's default RabbitMQ broker) and `manage.py rundramatiq` does not exist",
                hint=f"Add 'django_dramatiq' first in INSTALLED_APPS, or write:\n\t{fix}",
                id="gifting_jobs.E020",
            )
        )
    elif "gifting_jobs" in apps and apps.index(gifting_settings.DRAMATIQ_APP) > apps.index("gifting_jobs"):
        errors.append(
            Error(
                "'django_dramatiq' comes after 'gifting_jobs' in INSTALLED_APPS: actors would be declared "
                "before the broker is configured",
                hint=f"Move 'django_dramatiq' first in INSTALLED_APPS, or write:\n\t{fix}",
                id="gifting_jobs.E021",
            )
        )
    for app in gifting_settings.REQUIRED_APPS:
        if app not in apps:
            errors.append(
                Error(
                    f"{app!r} is not in INSTALLED_APPS",
                    hint=f"Add {app!r} to INSTALLED_APPS, or write:\n\t{fix}",
                    id="gifting_jobs.E022",
                )
            )
    return errors


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """GIFTING_JOBS itself: known keys at every depth, known job types, importable providers."""
    from gifting_jobs.conf import get_settings

    try:
        conf = get_settings()
    except ConfigurationError as exc:
        return [
            Error(str(exc), hint="Fix that line of the GIFTING_JOBS dict in your settings.", id="gifting_jobs.E001")
        ]
    errors: list[CheckMessage] = []
    if not conf.WEBHOOK_SECRET:
        errors.append(
            Warning(
                "GIFTING_JOBS['WEBHOOK_SECRET'] is empty: the CMS webhook refuses every delivery",
                hint="Set it to the secret the CMS signs its webhooks with (env GIFTING_WEBHOOK_SECRET).",
                id="gifting_jobs.W001",
            )
        )
    if conf.EMBEDDING_PROVIDER == "openai" and not conf.OPENAI_API_KEY:
        errors.append(
            Error(
                "EMBEDDING_PROVIDER is 'openai' but OPENAI_API_KEY is empty",
                hint="Set GIFTING_JOBS['OPENAI_API_KEY'], or use EMBEDDING_PROVIDER 'local'.",
                id="gifting_jobs.E003",
            )
        )
    errors.extend(_provider_errors(conf))
    errors.extend(_job_type_errors(conf.JOBS))
    errors.extend(_migrated_dimension_errors(conf.EMBEDDING_DIMENSIONS))
    return errors


def _provider_errors(conf: Any) -> list[CheckMessage]:
    """Each provider setting resolves to a class whose optional dependency is installed."""
    from gifting_jobs.providers import embeddings, enrichment, push
    from gifting_jobs.providers.requirements import resolve_provider_class

    errors: list[CheckMessage] = []
    for setting, aliases in (
        ("EMBEDDING_PROVIDER", embeddings.ALIASES),
        ("ENRICHMENT_PROVIDER", enrichment.ALIASES),
        ("PUSH_BACKEND", push.ALIASES),
    ):
        try:
            resolve_provider_class(setting, getattr(conf, setting), aliases)
        except ConfigurationError as exc:
            errors.append(Error(str(exc), id="gifting_jobs.E004"))
    return errors


def _job_type_errors(overrides: dict[str, Any]) -> list[CheckMessage]:
    """Every key of GIFTING_JOBS['JOBS'] is a registered job type."""
    from gifting_jobs.catalog import registered_names

    known = registered_names()
    errors: list[CheckMessage] = []
    for name in overrides:
        if name in known:
            continue
        guess = difflib.get_close_matches(name, known, n=1)
        hint = f"Did you mean {guess[0]!r}?" if guess else f"Job types: {', '.join(sorted(known))}."
        errors.append(
            Error(f"GIFTING_JOBS['JOBS'] has an unknown job type {name!r}", hint=hint, id="gifting_jobs.E005")
        )
    return errors


def _migrated_dimension_errors(dimensions: int) -> list[CheckMessage]:
    """EMBEDDING_DIMENSIONS against the vector columns the migrations build (no database needed)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    leaves = loader.graph.leaf_nodes("gifting_jobs")
    if not leaves:
        return []
    state = loader.project_state(leaves[0])
    errors: list[CheckMessage] = []
    for key in VECTOR_MODELS:
        built = state.models[key].fields[VECTOR_COLUMN].dimensions
        if built != dimensions:
            errors.append(_dimension_error(dimensions, built, f"the migrations build {key[1]}.{VECTOR_COLUMN}"))
            break
    return errors


def _dimension_error(dimensions: int, built: int, where: str) -> Error:
    return Error(
        f"GIFTING_JOBS['EMBEDDING_DIMENSIONS'] is {dimensions} but {where} with {built} dimensions",
        hint=f"Set GIFTING_JOBS['EMBEDDING_DIMENSIONS'] = {built}, or migrate the vector columns to "
        f"{dimensions} dimensions and run `manage.py backfill_embeddings --all`.",
        id="gifting_jobs.E002",
    )


@register(Tags.database)
def check_vector_columns(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """EMBEDDING_DIMENSIONS against the vector columns in the database (`check --database default`, `migrate`).

    Skipped when the table does not exist yet or the database does not answer:
    `migrate` runs the checks before it creates anything.
    """
    from django.apps import apps
    from django.db import router

    from gifting_jobs.conf import get_settings

    try:
        dimensions = get_settings().EMBEDDING_DIMENSIONS
    except ConfigurationError:
        return []  # check_settings reports it.
    errors: list[CheckMessage] = []
    for app_label, model_name in VECTOR_MODELS:
        model = apps.get_model(app_label, model_name)
        alias = router.db_for_read(model) or DEFAULT_DB_ALIAS
        if databases is None or alias not in databases:
            continue
        built = _column_dimensions(alias, model._meta.db_table, model._meta.get_field(VECTOR_COLUMN).column)
        if built is not None and built != dimensions:
            errors.append(
                _dimension_error(dimensions, built, f"the column {model._meta.db_table}.{VECTOR_COLUMN} was migrated")
            )
    return errors


def _column_dimensions(alias: str, table: str, column: str) -> int | None:
    """The dimension of a pgvector column (its type modifier), None if absent or unknown."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
                [table, column],
            )
            row = cursor.fetchone()
    except DatabaseError:
        return None
    return row[0] if row and row[0] > 0 else None


@register(Tags.security, deploy=True)
def check_deploy_metrics_token(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """`check --deploy`: without a metrics token, Prometheus cannot scrape `/metrics/jobs/`."""
    from gifting_jobs.conf import get_settings

    try:
        token = get_settings().METRICS_TOKEN
    except ConfigurationError:
        return []  # check_settings reports it.
    if token:
        return []
    return [
        Warning(
            "GIFTING_JOBS['METRICS_TOKEN'] is empty: only staff sessions can read /metrics/jobs/, "
            "so Prometheus cannot scrape it",
            hint="Set GIFTING_JOBS['METRICS_TOKEN'] to a long random token (env GIFTING_METRICS_TOKEN) "
            "and give it to the scraper as a bearer token.",
            id="gifting_jobs.W020",
        )
    ]


@register(Tags.compatibility)
def check_broker(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """DRAMATIQ_BROKER: our broker class and the complete middleware list, in order."""
    broker = getattr(settings, "DRAMATIQ_BROKER", None)
    fix = f"{IMPORT_LINE}\n\t{BROKER_LINE}"
    if not broker:
        return [
            Error(
                "DRAMATIQ_BROKER is not set; django_dramatiq's defaults do not work with dramatiq 2",
                hint=f"Write:\n\t{fix}",
                id="gifting_jobs.E010",
            )
        ]
    errors: list[CheckMessage] = []
    if broker.get("BROKER") != gifting_settings.BROKER_CLASS:
        errors.append(
            Error(
                f"DRAMATIQ_BROKER['BROKER'] is {broker.get('BROKER')!r}",
                hint=f"Use {gifting_settings.BROKER_CLASS!r} (deduplicated sends need it), or write:\n\t{fix}",
                id="gifting_jobs.E011",
            )
        )
    middleware = list(broker.get("MIDDLEWARE", []))
    missing = [m for m in gifting_settings.MIDDLEWARE if m not in middleware]
    if missing:
        errors.append(
            Error(
                "DRAMATIQ_BROKER['MIDDLEWARE'] lacks " + ", ".join(missing),
                hint="The list must hold, in this order: "
                + ", ".join(gifting_settings.MIDDLEWARE)
                + f". Or write:\n\t{fix}",
                id="gifting_jobs.E012",
            )
        )
    present = [m for m in middleware if m in gifting_settings.MIDDLEWARE]
    expected = [m for m in gifting_settings.MIDDLEWARE if m in middleware]
    if present != expected:
        errors.append(
            Error(
                "DRAMATIQ_BROKER['MIDDLEWARE'] is out of order: " + ", ".join(present),
                hint="after_* hooks run in reverse, and each middleware relies on the ones before it; "
                "the order is " + ", ".join(gifting_settings.MIDDLEWARE) + f". Or write:\n\t{fix}",
                id="gifting_jobs.E014",
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
                id="gifting_jobs.E030",
            )
        )
    if str(getattr(settings, "SECRET_KEY", "")).startswith(INSECURE_SECRET_KEY_PREFIX):
        errors.append(
            Error(
                f"SECRET_KEY starts with {INSECURE_SECRET_KEY_PREFIX!r}: it is a development key, known to anyone",
                hint="Set a long random SECRET_KEY (env DJANGO_SECRET_KEY), "
                "e.g. from django.core.management.utils.get_random_secret_key().",
                id="gifting_jobs.E031",
            )
        )
    return errors
