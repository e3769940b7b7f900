"""`manage.py resume_queue QUEUE ...`: workers fetch from these paused logical queues again."""

from __future__ import annotations

from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gifting_jobs.broker import get_broker
from gifting_jobs.queue_control import UnknownQueueError, check_queue, resume_queue


class Command(BaseCommand):
    help = "Resume paused logical queues: workers fetch from them again within about a second."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("queues", nargs="+", metavar="QUEUE", help="A logical queue name (e.g. catalog).")

    def handle(self, *args: Any, queues: list[str], **options: Any) -> None:
        try:
            broker = get_broker()
            for name in queues:  # All checked first: a typo in one name changes nothing.
                check_queue(name, broker)
            for name in queues:
                changed = resume_queue(name, broker=broker)
                self.stdout.write(f"{name}: {'resumed' if changed else 'was not paused'}")
        except UnknownQueueError as exc:
            raise CommandError(str(exc)) from exc
        except redis.RedisError as exc:
            raise CommandError(f"the broker does not answer: {exc}") from exc
