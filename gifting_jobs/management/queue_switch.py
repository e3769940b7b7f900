"""The shared body of `pause_queue` and `resume_queue`: check every name first, then switch each queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gifting_jobs.broker import RedisBroker, get_broker
from gifting_jobs.queue_control import UnknownQueueError, check_queue


class QueueSwitchCommand(BaseCommand):
    """Pause or resume logical queues; a typo in one name changes nothing, a silent broker is a CommandError."""

    #: `pause_queue` or `resume_queue` of `gifting_jobs.queue_control`: True when the state changed.
    switch: ClassVar[Callable[..., bool]]
    #: What is printed per queue when the state changed, and when it was already so.
    changed_text: ClassVar[str]
    unchanged_text: ClassVar[str]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("queues", nargs="+", metavar="QUEUE", help="A logical queue name (e.g. catalog).")

    def handle(self, *args: Any, queues: list[str], **options: Any) -> None:
        try:
            broker: RedisBroker = get_broker()
            for name in queues:
                check_queue(name, broker)
            for name in queues:
                changed = type(self).switch(name, broker=broker)
                self.stdout.write(f"{name}: {self.changed_text if changed else self.unchanged_text}")
        except UnknownQueueError as exc:
            raise CommandError(str(exc)) from exc
        except redis.RedisError as exc:
            raise CommandError(f"the broker does not answer: {exc}") from exc
