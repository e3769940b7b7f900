"""`manage.py retry_failed_jobs [--type TYPE ...] [--since WHEN] [--fingerprint HASH] [--dry-run]`: retry open dead letters.

Each retry goes through `gifting_jobs.dead_letters` (the admin's action does
the same): the job is enqueued again under its original id with a fresh attempt
count and a link back to its FailedJob, so running the command twice, or while
an equal job is pending, sends nothing twice.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from gifting_jobs.catalog import all_specs
from gifting_jobs.dead_letters import DeadLetterSelection, InvalidSelectionError, retry_failed_jobs
from gifting_jobs.exceptions import GiftingJobsError
from gifting_jobs.models import FailedJob, FailedJobStatus

#: A relative age: a number and a unit (seconds, minutes, hours, days, weeks).
RELATIVE_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: Dead letters are read from the database this many at a time.
CHUNK_SIZE = 200


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """An aware datetime from `2026-11-01`, `2026-11-01T08:00[:00][+01:00]` or an age like `30m`, `2h`, `3d`.

    A date means its midnight and a naive datetime its wall time, both in the
    current time zone. Raises `ValueError` naming the accepted forms.
    """
    now = now or timezone.now()
    relative = RELATIVE_AGE.match(value)
    if relative:
        amount, unit = relative.groups()
        return now - timedelta(**{AGE_UNITS[unit]: int(amount)})
    try:
        moment = parse_datetime(value.strip())
        if moment is None:
            day = parse_date(value.strip())
            moment = datetime(day.year, day.month, day.day) if day is not None else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(
            f"--since {value!r} is neither an ISO date/datetime (2026-11-01, 2026-11-01T08:00:00+00:00) "
            "nor an age like 45s, 30m, 2h, 3d, 1w"
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > now:
        raise ValueError(f"--since {value!r} is in the future: no dead letter can have failed since then")
    return moment


class Command(BaseCommand):
    help = "Retry open dead letters (FailedJob rows), optionally only some job types or recent failures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--type",
            action="append",
            dest="types",
            default=[],
            metavar="TYPE",
            help="Only this job type (repeat for several).",
        )
        parser.add_argument(
            "--since",
            metavar="WHEN",
            help="Only dead letters last failed at or after WHEN: an ISO date/datetime or an age (30m, 2h, 3d).",
        )
        parser.add_argument(
            "--fingerprint",
            metavar="HASH",
            help="Only one error group (the hash the dashboard's dead letters page and the admin show).",
        )
        parser.add_argument("--dry-run", action="store_true", help="List what would be retried; change nothing.")

    def handle(
        self,
        *args: Any,
        types: list[str],
        since: str | None,
        fingerprint: str | None,
        dry_run: bool,
        **options: Any,
    ) -> None:
        failed_jobs = self._selection(types, since, fingerprint)
        total = failed_jobs.count()
        if dry_run:
            self._report_dry_run(failed_jobs, total)
            return
        retried = deduplicated = 0
        errors: list[str] = []
        for failed_job in failed_jobs.iterator(chunk_size=CHUNK_SIZE):
            try:
                results = retry_failed_jobs([failed_job])
            except GiftingJobsError as exc:
                errors.append(f"FailedJob {failed_job.pk} ({failed_job.job_type} {failed_job.job_id}): {exc}")
                continue
            retried += len(results)
            deduplicated += sum(result.job.deduplicated for result in results)
        self.stdout.write(
            f"retried {retried} of {total} open dead letters "
            f"({retried - deduplicated} sent, {deduplicated} deduplicated: an equal job was already pending)"
        )
        if errors:
            for line in errors:
                self.stderr.write(line)
            raise CommandError(f"{len(errors)} dead letters could not be retried (listed above); they stay open")

    def _selection(self, types: list[str], since: str | None, fingerprint: str | None) -> QuerySet[FailedJob]:
        valid = sorted(spec.name for spec in all_specs())
        unknown = sorted(set(types) - set(valid))
        if unknown:
            raise CommandError(f"unknown job type(s) {', '.join(map(repr, unknown))}; valid types: {', '.join(valid)}")
        failed_jobs = FailedJob.objects.filter(status=FailedJobStatus.OPEN).order_by("last_failed_at", "id")
        if types:
            failed_jobs = failed_jobs.filter(job_type__in=types)
        if fingerprint is not None:
            try:
                failed_jobs = failed_jobs.filter(
                    pk__in=DeadLetterSelection.from_params({"fingerprint": fingerprint}).queryset().values("pk")
                )
            except InvalidSelectionError as exc:
                raise CommandError(f"--fingerprint: {exc}") from None
        if since is not None:
            try:
                failed_jobs = failed_jobs.filter(last_failed_at__gte=parse_since(since))
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        return failed_jobs

    def _report_dry_run(self, failed_jobs: QuerySet[FailedJob], total: int) -> None:
        by_type = Counter(failed_jobs.values_list("job_type", flat=True))
        self.stdout.write(f"dry run: would retry {total} open dead letters")
        for job_type, count in sorted(by_type.items()):
            self.stdout.write(f"  {job_type}: {count}")
