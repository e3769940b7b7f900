"""`manage.py process_overdue_reminders`: run the due-reminder sweep once, now.

The scheduler runs the same sweep every `REMINDER_SWEEP_SECONDS`; this command is
for a manual catch-up or a cron without `runscheduler`. Safe alongside the
scheduler: concurrent sweeps split the due rows (`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gifting_jobs.exceptions import ValidationError
from gifting_jobs.services.reminders import MAX_BATCH_SIZE, process_overdue_reminders, validate_batch_size

#: Rows claimed per transaction unless told otherwise (the service's default).
DEFAULT_BATCH_SIZE = 100


def batch_size(value: str) -> int:
    try:
        return validate_batch_size(int(value))
    except (ValueError, ValidationError):
        raise CommandError(f"--batch-size must be an integer in 1..{MAX_BATCH_SIZE}, got {value!r}") from None


class Command(BaseCommand):
    help = "Claim every due reminder and enqueue its dispatch (the scheduler's sweep, once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=str,
            default=str(DEFAULT_BATCH_SIZE),
            help=f"Rows claimed per transaction, 1..{MAX_BATCH_SIZE} (default {DEFAULT_BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        size = batch_size(options["batch_size"])
        enqueued = process_overdue_reminders(size)
        self.stdout.write(f"{enqueued} due reminders handed to the broker")
