"""`manage.py schedule_daily_collections [--date YYYY-MM-DD]`: enqueue the three surfaces' collections."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gifting_jobs.exceptions import GiftingJobsError
from gifting_jobs.payloads import CuratedCollectionsPayload
from gifting_jobs.services.collections import generate_daily_collections

#: The one date format `--date` accepts.
DATE_FORMAT = "%Y-%m-%d"


def parse_date(value: str) -> date:
    """`--date`'s value; a `CommandError` naming the expected format otherwise."""
    try:
        return datetime.strptime(value, DATE_FORMAT).date()
    except ValueError:
        raise CommandError(f"--date must be a date as YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Enqueue today's (or --date's) curated collections for every surface (home, discovery, occasion). "
        "Jobs already pending for the date are deduplicated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="The date to build for, as YYYY-MM-DD (default: today).")

    def handle(self, *args: Any, **options: Any) -> None:
        target = parse_date(options["date"]) if options["date"] else None
        try:
            jobs = generate_daily_collections(target)
        except GiftingJobsError as exc:
            raise CommandError(str(exc)) from exc
        for job in jobs:
            payload = cast(CuratedCollectionsPayload, job.payload)
            self.stdout.write(f"{payload.surface}\t{payload.target_date}\t{job.outcome}\t{job.id}")
