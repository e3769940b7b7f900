"""The settings accessor validates with errors that name the fix."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from gifting_jobs.conf import get_settings, parse_settings
from gifting_jobs.exceptions import ConfigurationError


def test_settings__unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigurationError, match="did you mean 'WEBHOOK_SECRET'"):
        parse_settings({"WEBHOOK_SECRETS": "x"})


def test_settings__bad_value_names_the_key():
    with pytest.raises(ConfigurationError, match="DELAY_HORIZON_SECONDS"):
        parse_settings({"DELAY_HORIZON_SECONDS": -1})


def test_settings__override_settings_is_seen():
    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "PROMPT_VERSION": "v9"}):
        assert get_settings().PROMPT_VERSION == "v9"
    assert get_settings().PROMPT_VERSION != "v9"


#: Django's model checks ask Postgres its version for the generated `Product.search_vector`.
needs_database_version = pytest.mark.django_db


@needs_database_version
def test_checks__report_bad_settings():
    with (
        override_settings(GIFTING_JOBS={"EMBEDDING_PROVIDR": "openai"}),
        pytest.raises(SystemCheckError, match="EMBEDDING_PROVIDER"),
    ):
        call_command("check")


@needs_database_version
def test_checks__report_a_broken_middleware_list():
    broker = {**settings.DRAMATIQ_BROKER, "MIDDLEWARE": ["dramatiq.middleware.Retries"]}
    with override_settings(DRAMATIQ_BROKER=broker), pytest.raises(SystemCheckError, match=r"gifting_jobs.E012"):
        call_command("check")


@needs_database_version
def test_checks__warn_about_an_empty_webhook_secret():
    from django.core.checks import run_checks

    with override_settings(GIFTING_JOBS={**settings.GIFTING_JOBS, "WEBHOOK_SECRET": ""}):
        ids = [message.id for message in run_checks()]
    assert "gifting_jobs.W001" in ids
