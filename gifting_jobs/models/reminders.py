"""Occasions and the notification schedules that remind a user of them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


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


class NotificationSchedule(models.Model):
    """One reminder to send at `scheduled_for`; its status moves at most once to SENT."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gift_reminders")
    occasion = models.ForeignKey(Occasion, on_delete=models.CASCADE, related_name="schedules")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    offset_days = models.PositiveIntegerField(help_text="Days before the occasion.")
    scheduled_for = models.DateTimeField()
    payload = models.JSONField(default=dict, help_text="title, body and data of the message.")
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a sweep handed it to the broker.")
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_for", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["occasion", "offset_days", "channel"],
                condition=~Q(status="CANCELLED"),
                name="schedule_one_live_per_occasion_offset",
            ),
        ]
        indexes = [
            models.Index(
                fields=["scheduled_for"], condition=Q(status="QUEUED"), name="schedule_due_queued"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} reminder {self.pk} for {self.scheduled_for:%Y-%m-%d %H:%M} ({self.status})"
