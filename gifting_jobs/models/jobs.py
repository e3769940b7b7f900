"""Jobs that live in Postgres: dead letters, and jobs held until the broker can take them."""

from __future__ import annotations

from django.db import models

from gifting_jobs.fingerprint import FINGERPRINT_LENGTH
from gifting_jobs.limits import ERROR_CLASS_MAX_LENGTH


class FailedJobStatus(models.TextChoices):
    OPEN = "open", "Open"
    RETRIED = "retried", "Retried"
    DISCARDED = "discarded", "Discarded"


class FailedJobReason(models.TextChoices):
    EXHAUSTED = "exhausted", "Attempts exhausted"
    PERMANENT = "permanent", "Permanent error"
    UNSENDABLE = "unsendable", "Could not be enqueued"
    CRASHED = "crashed", "Killed its worker repeatedly"
    RATE_LIMITED = "rate_limited", "Snoozed past its cap by rate limits"
    DEAD_SET = "dead_set", "Found in Dramatiq's dead set"


class FailedJob(models.Model):
    """A dead letter: a job that will not run again unless someone retries it."""

    job_id = models.CharField(max_length=255, db_index=True)
    message_id = models.CharField(max_length=64, blank=True, default="")
    job_type = models.CharField(max_length=100, db_index=True)
    queue = models.CharField(max_length=100, blank=True, default="")
    entity_id = models.CharField(max_length=100, blank=True, default="", db_index=True)
    payload = models.JSONField(default=dict)
    options = models.JSONField(default=dict, help_text="priority, attempts and queue it was sent with.")
    reason = models.CharField(max_length=16, choices=FailedJobReason.choices)
    error_class = models.CharField(max_length=ERROR_CLASS_MAX_LENGTH, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    fingerprint = models.CharField(
        max_length=FINGERPRINT_LENGTH,
        blank=True,
        default="",
        db_index=True,
        help_text="Job type, error class and message with ids masked, hashed: equal failures share it.",
    )
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=FailedJobStatus.choices, default=FailedJobStatus.OPEN)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    retried_at = models.DateTimeField(null=True, blank=True)
    retry_job_id = models.CharField(max_length=255, blank=True, default="", help_text="The job the retry sent.")
    retry_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="later_failures",
        help_text="The dead letter whose retry failed again into this one.",
    )
    chain_root = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chain_members",
        help_text="The first dead letter of this retry chain (empty: this one is the first).",
    )
    retry_error = models.TextField(
        blank=True, default="", help_text="Why the last retry could not be enqueued (the row stayed open)."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_failed_at", "-id"]
        permissions = [("retry_failedjob", "Can retry or discard failed jobs")]
        constraints = [
            models.UniqueConstraint(
                fields=["job_id"], condition=models.Q(status="open"), name="failedjob_one_open_per_job"
            ),
        ]
        indexes = [models.Index(fields=["status", "last_failed_at"], name="failedjob_status_last")]

    def __str__(self) -> str:
        return f"{self.job_type} {self.job_id} ({self.status})"

    @property
    def chain_key(self) -> int:
        """The id of the first dead letter of this one's retry chain (its own id if it is the first)."""
        return self.chain_root_id if self.chain_root_id is not None else self.pk


class HeldJobReason(models.TextChoices):
    OUTBOX = "outbox", "Enqueued in a transaction"
    BROKER_DOWN = "broker_down", "Broker unreachable at enqueue"
    DELAYED = "delayed", "Delay beyond the horizon"
    SNOOZED = "snoozed", "Snoozed by a rate limit beyond the horizon"


class HeldJob(models.Model):
    """A job kept in Postgres until it is due and the broker answers; the relay sends it.

    Three ways in: an enqueue inside a transaction (transactional outbox), an
    enqueue while the broker is down, and a delay longer than the horizon.
    """

    job_id = models.CharField(max_length=255, unique=True)
    message_id = models.CharField(max_length=64)
    job_type = models.CharField(max_length=100)
    queue = models.CharField(max_length=100)
    message = models.JSONField(help_text="The encoded Dramatiq message.")
    lock_ttl_ms = models.BigIntegerField()
    reason = models.CharField(max_length=16, choices=HeldJobReason.choices)
    due_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    relay_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["due_at", "id"]

    def __str__(self) -> str:
        return f"{self.job_type} {self.job_id} due {self.due_at:%Y-%m-%d %H:%M:%S} ({self.reason})"
