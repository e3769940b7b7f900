"""The DEBUG 500 page never shows a password from DATABASE_URL, REDIS_URL or the environment."""

from __future__ import annotations

import sys

import pytest
from django.test import RequestFactory, override_settings
from django.views.debug import technical_500_response

#: A password that must appear nowhere on the page.
PASSWORD = "s3cr3t-" + "Pa55word"  # joined, so the source lines on the page do not contain it
DATABASE_URL = f"postgres://gifting:{PASSWORD}@db.internal:5432/gifting"


def connect(url: str) -> None:
    conninfo = f"host=db.internal user=gifting password={PASSWORD}"
    # The frame's locals (url, conninfo) are shown on the page; the message names no password.
    raise ConnectionError(f"could not connect to {conninfo.split()[0]}")


def debug_page() -> str:
    request = RequestFactory().get("/boom/", DATABASE_URL=DATABASE_URL, REDIS_URL=f"redis://:{PASSWORD}@cache:6379/0")
    try:
        connect(DATABASE_URL)
    except ConnectionError:
        response = technical_500_response(request, *sys.exc_info())
    return response.content.decode()


@override_settings(DEBUG=True, DATABASE_URL=DATABASE_URL, REDIS_URL=f"rediss://default:{PASSWORD}@cache:6380/0")
def test_debug_500_page__masks_passwords_in_settings_environment_and_frames():
    page = debug_page()

    assert "postgres://gifting:********************@db.internal:5432/gifting" in page
    assert "DATABASE_URL" in page and "REDIS_URL" in page
    assert PASSWORD not in page


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:********************@h/db"),
        ("redis://:p%40ss@h:6379/0", "redis://:********************@h:6379/0"),
        ("postgres://user@h/db", "postgres://user@h/db"),
        ("host=h password='a b' dbname=x", "host=h password=******************** dbname=x"),
    ],
)
def test_credentials_hiding_filter__masks_url_and_conninfo_passwords(text, masked):
    from core.error_reports import CredentialsHidingFilter

    assert CredentialsHidingFilter().mask(text) == masked
