"""`manage.py pause_queue QUEUE ...`: workers stop fetching from these logical queues (all bands)."""

from __future__ import annotations

from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gifting_jobs.broker import get_broker
from gifting_jobs.queue_control import UnknownQueueError, check_queue, pause_queue


class Command(BaseCommand):
    help = "Pause logical queues: workers stop fetching from them and finish what they hold. Undo with resume_queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("queues", nargs="+", metavar="QUEUE", help="A logical queue name (e.g. catalog).")

    def handle(self, *args: Any, queues: list[str], **options: Any) -> None:
        try:
            broker = get_broker()
            for name in queues:  # All checked first: a typo in one name changes nothing.
                check_queue(name, broker)
            for name in queues:
                changed = pause_queue(name, broker=broker)
                self.stdout.write(f"{name}: {'paused' if changed else 'was paused already'}")
        except UnknownQueueError as exc:
            raise CommandError(str(exc)) from exc
        except redis.RedisError as exc:
            raise CommandError(f"the broker does not answer: {exc}") from exc
