"""The shared OpenAI HTTP layer: client settings and Retry-After parsing."""

from __future__ import annotations

import email.utils
import time

import pytest

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ConfigurationError, PermanentJobError, TransientJobError
from gifting_jobs.providers.openai_client import build_client, openai_errors, retry_after_seconds
from tests.fake_openai import openai_settings


def test_build_client__takes_key_url_timeout_and_never_retries(settings, fake_openai):
    settings.GIFTING_JOBS = openai_settings(fake_openai, settings.GIFTING_JOBS, OPENAI_TIMEOUT_SECONDS=7.5)

    client = build_client()

    assert client.api_key == "sk-test-fake"
    assert str(client.base_url).rstrip("/") == fake_openai.url
    assert client.max_retries == 0
    assert client.timeout == 7.5


def test_build_client__empty_key_names_the_setting(settings):
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "OPENAI_API_KEY": ""}

    with pytest.raises(ConfigurationError, match=r"GIFTING_JOBS\['OPENAI_API_KEY'\] is empty"):
        build_client(get_settings())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "never"}, None),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "999999"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_seconds__reads_ms_then_seconds(headers, expected):
    assert retry_after_seconds(headers) == (pytest.approx(expected) if expected is not None else None)


def test_retry_after_seconds__reads_an_http_date():
    in_ten_seconds = email.utils.formatdate(time.time() + 10, usegmt=True)

    assert retry_after_seconds({"retry-after": in_ten_seconds}) == pytest.approx(10, abs=1.5)


def test_openai_errors__passes_our_job_errors_through():
    with pytest.raises(TransientJobError, match="already ours"), openai_errors("test"):
        raise TransientJobError("already ours")


def test_openai_errors__a_value_error_while_parsing_is_permanent():
    with pytest.raises(PermanentJobError, match="does not fit the expected schema") as caught, openai_errors("test"):
        raise ValueError("No embedding data received")

    assert isinstance(caught.value.__cause__, ValueError)
