"""Occasions and the notification schedules that remind a user of them."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from gifting_jobs.limits import PROVIDER_MESSAGE_ID_MAX_LENGTH


class Channel(models.TextChoices):
    PUSH = "PUSH", "Push"
    EMAIL = "EMAIL", "Email"


class NotificationStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    SENDING = "SENDING", "Sending"
    SENT = "SENT", "Sent"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


class Occasion(models.Model):
    """A date a user wants to give a gift on (a birthday, an anniversary…)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gift_occasions")
    recipient = models.ForeignKey(
        "gifting_jobs.Recipient", on_delete=models.SET_NULL, null=True, blank=True, related_name="occasions"
    )
    name = models.CharField(max_length=200)
    date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date", "id"]

    def __str__(self) -> str:
        return f"{self.name} on {self.date}"


def validate_timezone(value: str) -> None:
    """An IANA time zone name that this Python knows (`Europe/Paris`, `UTC`)."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. 'Europe/Paris')") from None


def validate_channels(value: list[str]) -> None:
    if len(set(value)) != len(value):
        raise ValidationError("each channel may be listed once")


class NotificationPreference(models.Model):
    """How a user wants to be reminded: channels, the address for email, and their time zone.

    A user without a row gets `GIFTING_JOBS["REMINDER_DEFAULT_CHANNELS"]`, their account
    email and the project's `TIME_ZONE`.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gift_notification_preference"
    )
    channels = ArrayField(
        models.CharField(max_length=8, choices=Channel.choices),
        default=list,
        blank=True,
        validators=[validate_channels],
        help_text="Channels reminders go out on; empty turns reminders off.",
    )
    email = models.EmailField(blank=True, default="", help_text="Overrides the account email for reminders.")
    timezone = models.CharField(
        max_length=64, default="UTC", validators=[validate_timezone], help_text="IANA name, e.g. Europe/Paris."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"reminders for user {self.user_id}: {', '.join(self.channels) or 'off'}"


class NotificationSchedule(models.Model):
    """One reminder to send at `scheduled_for`; its status moves at most once to SENT.

    QUEUED rows wait in Postgres until a sweep claims them (`claimed_at`) and hands
    them to the broker; the dispatch job then moves QUEUED → SENDING → SENT (or
    FAILED) with conditional updates, so one schedule is sent at most once.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gift_reminders")
    occasion = models.ForeignKey(Occasion, on_delete=models.CASCADE, related_name="schedules")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    offset_days = models.PositiveIntegerField(help_text="Days before the occasion.")
    occasion_date = models.DateField(help_text="The occasion's date this reminder was made for.")
    scheduled_for = models.DateTimeField()
    payload = models.JSONField(default=dict, help_text="title, body and data of the message.")
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a sweep handed it to the broker.")
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=PROVIDER_MESSAGE_ID_MAX_LENGTH, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_for", "id"]
        constraints = [
            # A moved occasion gets new reminders; the ones already sent for the old date stay as history.
            models.UniqueConstraint(
                fields=["occasion", "occasion_date", "offset_days", "channel"],
                condition=~Q(status="CANCELLED"),
                name="schedule_one_live_per_occasion_offset",
            ),
        ]
        indexes = [
            # The sweep's scan: due rows not yet handed to the broker.
            models.Index(
                fields=["scheduled_for"],
                condition=Q(status="QUEUED", claimed_at__isnull=True),
                name="schedule_due_unclaimed",
            ),
            # The sweep's recovery scans: claims whose dispatch never started, sends that never finished.
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="QUEUED", claimed_at__isnull=False),
                name="schedule_claimed_queued",
            ),
            models.Index(fields=["sending_started_at"], condition=Q(status="SENDING"), name="schedule_sending"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} reminder {self.pk} for {self.scheduled_for:%Y-%m-%d %H:%M} ({self.status})"
