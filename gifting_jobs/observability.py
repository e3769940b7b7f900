"""Structured job logging: the current job's context, a filter and a key=value formatter.

While a job runs, every log record (from the spine or from the work itself)
carries `job_id`, `job_type`, `entity_id` and `attempt`; the middleware adds
`duration_ms` to the lines it writes when a job ends.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from dramatiq.broker import MessageProxy
    from dramatiq.message import Message

#: The record attributes that make a log line about a job.
JOB_FIELDS = ("job_id", "job_type", "entity_id", "attempt", "duration_ms", "outcome", "message_id", "queue")


@dataclass(frozen=True)
class JobContext:
    job_id: str
    job_type: str
    entity_id: str
    attempt: int
    message_id: str
    queue: str
    #: The job's attempt budget, first run included (0 when the message does not say).
    attempts: int = 0

    @classmethod
    def of(cls, message: Message[Any] | MessageProxy) -> JobContext:
        options = message.options
        return cls(
            job_id=str(options.get("job_id", message.message_id)),
            job_type=message.actor_name,
            entity_id=str(options.get("entity_id", "")),
            attempt=int(options.get("retries", 0)) + 1,
            message_id=message.message_id,
            queue=message.queue_name,
            attempts=int(options.get("attempts", 0)),
        )

    def extra(self, **more: object) -> dict[str, object]:
        """`extra=` for a log call: the context plus `more` (e.g. duration_ms)."""
        return {
            "job_id": self.job_id,
            "job_type": self.job_type,
            "entity_id": self.entity_id,
            "attempt": self.attempt,
            "message_id": self.message_id,
            "queue": self.queue,
            **more,
        }


current_job: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar("gifting_job", default=None)


class JobContextFilter(logging.Filter):
    """Adds the running job's context to records that do not carry it already."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_job.get()
        if context is not None:
            for key, value in context.extra().items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


class KeyValueFormatter(logging.Formatter):
    """`time level logger message key=value…`, with the job fields a record carries."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [f"{key}={getattr(record, key)}" for key in JOB_FIELDS if getattr(record, key, None) is not None]
        if pairs:
            first, newline, rest = line.partition("\n")
            line = f"{first} {' '.join(pairs)}{newline}{rest}"
        return line
