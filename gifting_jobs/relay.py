"""The relay: hands Postgres-held jobs to the broker when they are due and it answers.

Held jobs come from the transactional outbox, from enqueues while the broker
was down, and from delays beyond the horizon. The relay runs inside the
workers (see `middleware.relay.Relay`), one active at a time across all of
them thanks to a Postgres advisory lock; no extra process is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from dramatiq.message import Message

from gifting_jobs.broker import RedisBroker
from gifting_jobs.catalog import get_spec
from gifting_jobs.dead_letters import record_failure
from gifting_jobs.dispatch import send_held
from gifting_jobs.exceptions import ConfigurationError
from gifting_jobs.limits import ERROR_EXCERPT_CHARS
from gifting_jobs.models import FailedJobReason, HeldJob

logger = logging.getLogger(__name__)

#: Key of the Postgres advisory lock that makes one relay active at a time.
RELAY_LOCK_KEY = 0x6A6F6273  # "jobs"


@dataclass(frozen=True)
class RelayResult:
    sent: int = 0
    deduplicated: int = 0
    failed: int = 0
    broker_down: bool = False

    @property
    def handled(self) -> int:
        return self.sent + self.deduplicated + self.failed


def try_relay_lock() -> bool:
    """Take the session-level relay lock on this thread's DB connection, without waiting."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RELAY_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def release_relay_lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [RELAY_LOCK_KEY])


def relay_due_jobs(broker: RedisBroker, *, batch_size: int) -> RelayResult:
    """Send up to `batch_size` due held jobs; rows are deleted once the broker has them.

    Rows are claimed with `FOR UPDATE SKIP LOCKED`, so a second relay (or a
    test calling this) never sends the same row twice at the same time. If the
    broker stops answering midway, the rows already sent are deleted and the
    rest wait for the next round.
    """
    sent = deduplicated = failed = 0
    broker_down = False
    with transaction.atomic():
        rows = list(
            HeldJob.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=timezone.now())
            .order_by("due_at", "id")[:batch_size]
        )
        done: list[int] = []
        for row in rows:
            try:
                message: Message[Any] = Message(**{**row.message, "args": tuple(row.message["args"])})
                get_spec(message.actor_name)
            except (TypeError, KeyError, ConfigurationError) as exc:
                _dead_letter_unsendable(row, exc)
                failed += 1
                done.append(row.pk)
                continue
            try:
                owner = send_held(broker, message, row.lock_ttl_ms)
            except redis.RedisError as exc:
                broker_down = True
                # Counted per row, so the dashboard's held page tells "never tried" from "tried, failing".
                HeldJob.objects.filter(pk__in=[r.pk for r in rows if r.pk not in done]).update(
                    last_error=str(exc)[:ERROR_EXCERPT_CHARS], relay_attempts=F("relay_attempts") + 1
                )
                break
            if owner is None:
                sent += 1
            else:
                deduplicated += 1
            done.append(row.pk)
        HeldJob.objects.filter(pk__in=done).delete()
    result = RelayResult(sent=sent, deduplicated=deduplicated, failed=failed, broker_down=broker_down)
    if result.handled:
        logger.info(
            "relay sent %d held jobs (%d already pending, %d unsendable)",
            sent,
            deduplicated,
            failed,
        )
    return result


def _dead_letter_unsendable(row: HeldJob, exc: Exception) -> None:
    logger.error(
        "held job %s cannot be sent: %s", row.job_id, exc, extra={"job_id": row.job_id, "job_type": row.job_type}
    )
    message: Message[Any] = Message(
        queue_name=row.queue,
        actor_name=row.job_type,
        args=tuple((row.message or {}).get("args", ())),
        kwargs={},
        options=dict((row.message or {}).get("options", {}), job_id=row.job_id),
        message_id=row.message_id,
    )
    record_failure(message, reason=FailedJobReason.UNSENDABLE, error_class=type(exc).__name__, error_message=str(exc))
