"""Pure reminder rules: offsets, texts, send times, SMTP error classes, reminder settings."""

from __future__ import annotations

import smtplib
import zoneinfo
from datetime import date, datetime, time

import pytest
from django.test import override_settings

from gifting_jobs.conf import parse_settings
from gifting_jobs.exceptions import ConfigurationError, PermanentJobError, TransientJobError, ValidationError
from gifting_jobs.models import Occasion
from gifting_jobs.services.reminders import reminder_content, send_time, validate_batch_size, validate_offsets
from gifting_jobs.work.reminders import classify_smtp_error, idempotency_key, message_id

UTC = zoneinfo.ZoneInfo("UTC")


@pytest.mark.parametrize(("offsets", "expected"), [((7, 3, 1), (7, 3, 1)), ([14], (14,)), (range(1, 4), (1, 2, 3))])
def test_validate_offsets__accepts_distinct_positive_days(offsets, expected):
    assert validate_offsets(offsets) == expected


def test_validate_offsets__reports_every_problem_with_its_position():
    with pytest.raises(ValidationError) as raised:
        validate_offsets((3, 0, "x", 3))
    locs = [tuple(e["loc"]) for e in raised.value.errors]
    assert locs == [("offsets_days", 1), ("offsets_days", 2), ("offsets_days",)]
    assert str(raised.value).startswith("invalid offsets_days: offsets_days.1: 0 is not in 1..366")


@pytest.mark.parametrize("size", [1, 100, 10_000])
def test_validate_batch_size__accepts_the_range(size):
    assert validate_batch_size(size) == size


def test_reminder_content__reads_like_the_seed():
    occasion = Occasion(pk=7, name="Mom's birthday", date=date(2027, 5, 14))

    three = reminder_content(occasion, 3)
    one = reminder_content(occasion, 1)

    assert three["title"] == "Mom's birthday is in 3 days"
    assert one["title"] == "Mom's birthday is tomorrow"
    assert three["body"] == "Find the perfect gift before Friday 14 May."
    assert three["data"] == {"occasion_id": "7", "occasion_date": "2027-05-14", "offset_days": "3"}


def test_send_time__is_the_configured_local_time_on_the_day():
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    assert send_time(date(2027, 7, 10), 3, paris) == datetime(2027, 7, 7, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert send_time(date(2027, 1, 10), 3, paris) == datetime(2027, 1, 7, 8, 0, tzinfo=UTC)  # 09:00 CET
    with override_settings(GIFTING_JOBS={"REMINDER_SEND_TIME": "18:30"}):
        assert send_time(date(2027, 1, 10), 1, UTC) == datetime(2027, 1, 9, 18, 30, tzinfo=UTC)


def test_reminder_settings__are_validated_with_the_fix_named():
    assert parse_settings({"REMINDER_DEFAULT_CHANNELS": ["EMAIL", "PUSH"]}).REMINDER_DEFAULT_CHANNELS == (
        "EMAIL",
        "PUSH",
    )
    assert parse_settings({}).REMINDER_SEND_TIME == time(9, 0)
    with pytest.raises(ConfigurationError, match="REMINDER_DEFAULT_CHANNELS"):
        parse_settings({"REMINDER_DEFAULT_CHANNELS": ["PUSH", "PUSH"]})
    with pytest.raises(ConfigurationError, match="REMINDER_DEFAULT_CHANNELS"):
        parse_settings({"REMINDER_DEFAULT_CHANNELS": ["SMS"]})
    with pytest.raises(ConfigurationError, match="REMINDER_SEND_TIME"):
        parse_settings({"REMINDER_SEND_TIME": "25:00"})
    with pytest.raises(ConfigurationError, match="did you mean 'REMINDER_SWEEP_SECONDS'"):
        parse_settings({"REMINDER_SWEEP_SECOND": 30})


@pytest.mark.parametrize(
    ("error", "kind", "fragment"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}), PermanentJobError, "recipient refused"),
        (smtplib.SMTPRecipientsRefused({"a@x": (451, b"greylisted")}), TransientJobError, "recipient deferred"),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no"), "b@x": (452, b"full")}), TransientJobError, "deferred"),
        (smtplib.SMTPSenderRefused(553, b"sender rejected", "r@x"), PermanentJobError, "(553)"),
        (smtplib.SMTPDataError(554, b"spam"), PermanentJobError, "refused the message (554): spam"),
        (smtplib.SMTPDataError(421, b"closing"), TransientJobError, "deferred the message (421)"),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), PermanentJobError, "(535)"),
        (smtplib.SMTPServerDisconnected("gone"), TransientJobError, "unreachable"),
        (ConnectionRefusedError(111, "refused"), TransientJobError, "unreachable"),
        (TimeoutError("timed out"), TransientJobError, "timed out"),
    ],
)
def test_classify_smtp_error__5xx_permanent_everything_else_transient(error, kind, fragment):
    classified = classify_smtp_error(error)
    assert type(classified) is kind and fragment in str(classified)


def test_reminder_ids__are_stable_per_schedule():
    assert idempotency_key(42) == "reminder-42"
    with override_settings(DEFAULT_FROM_EMAIL="Gifts <hello@gifts.example>"):
        assert message_id(42) == "<reminder-42@gifts.example>"
