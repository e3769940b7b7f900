"""`manage.py runscheduler`: run the periodic duties, one active scheduler per database.

Start it on as many machines as you like: one holds the Postgres leader lock and
runs the duties, the others stand by and take over within `SCHEDULER_POLL_SECONDS`
of its death. SIGTERM or SIGINT stops it cleanly: the running duty finishes, the
scheduler shuts down, the lock is released, and the process exits 0.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gifting_jobs.conf import get_settings
from gifting_jobs.scheduling import DUTIES, SchedulerRunner
from gifting_jobs.scheduling.duties import schedule_of

#: Bounds of the test and diagnosis options.
MAX_TICK_SECONDS = 86400
MAX_POLL_SECONDS = 300.0


class Command(BaseCommand):
    help = "Run the periodic duties (django-apscheduler) under a Postgres leader lock; others stand by."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=None,
            help="How often a standby tries the leader lock and the leader checks it (default: "
            "GIFTING_JOBS['SCHEDULER_POLL_SECONDS']). Bounds the takeover time.",
        )
        parser.add_argument(
            "--tick-seconds",
            type=int,
            default=None,
            help="Test and diagnosis hook: run every duty every N seconds instead of on its own schedule.",
        )
        parser.add_argument(
            "--list", action="store_true", dest="list_duties", help="Print the duties and their schedules, then exit."
        )

    def handle(
        self, *args: Any, poll_seconds: float | None, tick_seconds: int | None, list_duties: bool, **options: Any
    ) -> None:
        if poll_seconds is not None and not 0 < poll_seconds <= MAX_POLL_SECONDS:
            raise CommandError(f"--poll-seconds must be in (0, {MAX_POLL_SECONDS}], got {poll_seconds}")
        if tick_seconds is not None and not 1 <= tick_seconds <= MAX_TICK_SECONDS:
            raise CommandError(f"--tick-seconds must be in 1..{MAX_TICK_SECONDS}, got {tick_seconds}")
        if list_duties:
            for duty in DUTIES:
                schedule = schedule_of(duty, tick_seconds=tick_seconds).describe()
                self.stdout.write(f"{duty.name:<28} {schedule:<22} {duty.description}")
            return
        runner = SchedulerRunner(
            poll_seconds=poll_seconds or get_settings().SCHEDULER_POLL_SECONDS, tick_seconds=tick_seconds
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            runner.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        runner.run()
