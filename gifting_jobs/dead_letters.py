"""The dead-letter service: recording failed jobs, retrying and discarding them.

The worker middleware, the relay, the admin actions and the
`retry_failed_jobs` command all go through these functions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from dramatiq.message import Message

from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import base_queue
from gifting_jobs.broker.redis_broker import QUARANTINED_FROM
from gifting_jobs.limits import ERROR_CLASS_MAX_LENGTH
from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus
from gifting_jobs.payloads import TriggeredBy

if TYPE_CHECKING:
    from dramatiq.broker import MessageProxy

    from gifting_jobs.broker import RedisBroker
    from gifting_jobs.dispatch import Job

logger = logging.getLogger(__name__)


def record_failure(
    message: Message[Any] | MessageProxy,
    *,
    reason: FailedJobReason,
    error_class: str,
    error_message: str,
    traceback: str = "",
) -> FailedJob:
    """Write (or refresh) the open dead letter of a message's job id."""
    options = message.options
    now = timezone.now()
    payload = message.args[0] if message.args else {}
    fields: dict[str, Any] = {
        "message_id": message.message_id,
        "job_type": message.actor_name,
        "queue": base_queue(options.get(QUARANTINED_FROM) or message.queue_name),
        "entity_id": str(options.get("entity_id", "")),
        "payload": payload,
        "options": {k: options[k] for k in ("priority", "attempts", "triggered_by") if k in options},
        "reason": reason,
        "error_class": error_class[:ERROR_CLASS_MAX_LENGTH],
        "error_message": error_message,
        "traceback": traceback,
        "attempts": int(options.get("retries", 0)) or 1,
        "last_failed_at": now,
        "retry_of_id": options.get("retry_of"),
    }
    job_id = job_id_of(message)
    for _ in range(2):
        updated = FailedJob.objects.filter(job_id=job_id, status=FailedJobStatus.OPEN)
        if updated.update(**fields):
            return updated.get()
        try:
            with transaction.atomic():
                return FailedJob.objects.create(job_id=job_id, first_failed_at=now, **fields)
        except IntegrityError:
            continue  # Another worker opened the row meanwhile: update it instead.
    return FailedJob.objects.get(job_id=job_id, status=FailedJobStatus.OPEN)


def job_id_of(message: Message[Any] | MessageProxy) -> str:
    """The job id a message carries (its message id for a message sent without one)."""
    return str(message.options.get("job_id", message.message_id))


def record_failure_or_keep(
    broker: RedisBroker,
    message: Message[Any] | MessageProxy,
    *,
    reason: FailedJobReason,
    error_class: str,
    error_message: str,
    traceback: str = "",
) -> FailedJob | None:
    """`record_failure`; if Postgres cannot take it, keep the dead letter in Redis and return None.

    The relay writes kept dead letters once Postgres answers
    (`flush_kept_dead_letters`), so a job that fails for good during an outage
    still ends up where the admin and `retry_failed_jobs` see it.
    """
    try:
        return record_failure(
            message, reason=reason, error_class=error_class, error_message=error_message, traceback=traceback
        )
    except DatabaseError as exc:
        # The connection is broken: drop it, so the next job opens a fresh one.
        connection.close_if_unusable_or_obsolete()
        job_id = job_id_of(message)
        fields = {"reason": reason, "error_class": error_class, "error_message": error_message, "traceback": traceback}
        broker.keep_dead_letter(job_id, {"message": message.asdict(), **fields})
        logger.error(
            "dead letter of job %s kept in Redis until Postgres answers: %s",
            job_id,
            exc,
            extra={"job_id": job_id, "job_type": message.actor_name, "entity_id": message.options.get("entity_id")},
        )
        return None


def flush_kept_dead_letters(broker: RedisBroker, *, limit: int) -> int:
    """Write dead letters kept in Redis during a Postgres outage; returns how many were written.

    Each is dropped from Redis only after its row is written (a rewrite updates
    the same open row), and only if no newer failure of its job replaced it.
    Raises `DatabaseError` while Postgres is still down.
    """
    written = 0
    for job_id, data in broker.pending_dead_letters(limit=limit):
        record = json.loads(data)
        raw = record.pop("message")
        message: Message[Any] = Message(**{**raw, "args": tuple(raw.get("args", ()))})
        record_failure(message, **record)
        broker.drop_dead_letter(job_id, data)
        written += 1
    if written:
        logger.info("wrote %d dead letters kept in Redis during a database outage", written)
    return written


@dataclass(frozen=True)
class RetryResult:
    failed_job: FailedJob
    job: Job


def retry_failed_job(failed_job: FailedJob) -> RetryResult:
    """Enqueue an open dead letter again, with a fresh attempt count, linked back to it.

    Uses the job's original id, so a retry is itself idempotent: if an equal
    job is already pending, nothing new is sent (`job.deduplicated`).
    """
    from gifting_jobs.dispatch import enqueue, is_valid_queue, release_job_id

    if failed_job.status != FailedJobStatus.OPEN:
        raise ValueError(f"failed job {failed_job.pk} is {failed_job.status}, only open ones can be retried")
    # The failed run frees its id just after writing this row; if support is
    # quicker than that, free it here (only if the failed run still holds it).
    if failed_job.message_id:
        release_job_id(failed_job.job_id, failed_job.message_id)
    fields = {**failed_job.payload, "triggered_by": TriggeredBy.RETRY.value}
    opts = {"job_id": failed_job.job_id}
    if "priority" in failed_job.options:
        opts["priority"] = failed_job.options["priority"]
    queue = logical_queue(failed_job.queue) if failed_job.queue else ""
    if is_valid_queue(queue):
        # Back where it was sent (a `queue=` option, a django.tasks queue_name), not the type's default.
        opts["queue"] = queue
    job = enqueue(failed_job.job_type, fields, opts, retry_of=failed_job.pk)
    FailedJob.objects.filter(pk=failed_job.pk).update(
        status=FailedJobStatus.RETRIED, retried_at=timezone.now(), retry_job_id=job.id, resolved_at=timezone.now()
    )
    failed_job.refresh_from_db()
    logger.info(
        "dead letter %s retried as job %s (%s)",
        failed_job.pk,
        job.id,
        job.outcome,
        extra={"job_id": job.id, "job_type": job.job_type, "entity_id": failed_job.entity_id},
    )
    return RetryResult(failed_job=failed_job, job=job)


def retry_failed_jobs(failed_jobs: Iterable[FailedJob]) -> list[RetryResult]:
    """Retry each open dead letter; ones that are not open are left as they are."""
    return [retry_failed_job(f) for f in failed_jobs if f.status == FailedJobStatus.OPEN]


def discard_failed_jobs(failed_jobs: Iterable[FailedJob]) -> int:
    """Mark open dead letters as discarded (kept for the record); returns how many."""
    ids = [f.pk for f in failed_jobs if f.status == FailedJobStatus.OPEN]
    return FailedJob.objects.filter(pk__in=ids, status=FailedJobStatus.OPEN).update(
        status=FailedJobStatus.DISCARDED, resolved_at=timezone.now()
    )
