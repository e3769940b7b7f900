"""The HTTP push backend's pure parts: Retry-After, status classes, request body, configuration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import override_settings

from gifting_jobs.exceptions import ConfigurationError, PermanentJobError, TransientJobError
from gifting_jobs.providers.push import PushMessage
from gifting_jobs.providers.push.http import HttpPushBackend, classify_status, parse_retry_after


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), ("-5", 0.0), ("1.5", 1.5), ("999999", 3600.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after__delta_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_parse_retry_after__an_http_date():
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now=now) == 0.0


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 599])
def test_classify_status__retryable_statuses_are_transient(status):
    error = classify_status(status, "busy", 7.0)
    assert isinstance(error, TransientJobError) and error.retry_after == 7.0 and str(status) in str(error)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_classify_status__other_4xx_are_permanent(status):
    error = classify_status(status, "x" * 1000, None)
    assert isinstance(error, PermanentJobError) and len(str(error)) < 400


def test_http_push_backend__body_carries_the_user_the_notification_and_the_data():
    backend = HttpPushBackend(url="https://push.example/v1/send", token="t")
    body = backend.request_body(
        PushMessage(user_id=5, title="T", body="B", data={"k": "v"}, idempotency_key="reminder-1")
    )
    assert body == {"to": {"user_id": "5"}, "notification": {"title": "T", "body": "B"}, "data": {"k": "v"}}
    assert backend.supports_idempotency_key


def test_http_push_backend__needs_an_http_url():
    with (
        override_settings(GIFTING_JOBS={"PUSH_URL": ""}),
        pytest.raises(ConfigurationError, match=r"PUSH_URL'\] to be an http\(s\) URL"),
    ):
        HttpPushBackend()
    with override_settings(GIFTING_JOBS={"PUSH_URL": "https://push.example/v1", "PUSH_TOKEN": "s3cret"}):
        backend = HttpPushBackend()
    assert (backend.url, backend.token, backend.timeout) == ("https://push.example/v1", "s3cret", 10.0)
