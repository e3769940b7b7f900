"""The dead-letter service: recording failed jobs, retrying and discarding them, one at a time or in bulk.

The worker middleware, the relay, the admin actions, the dashboard's dead
letters page and the `retry_failed_jobs` command all go through these
functions. `FailedJob` is the one truth for "dead": the relay drains
Dramatiq's own dead sets into it (`drain_dead_sets`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from dramatiq.message import Message

from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import base_queue
from gifting_jobs.broker.redis_broker import QUARANTINED_FROM
from gifting_jobs.catalog import all_specs
from gifting_jobs.exceptions import GiftingJobsError
from gifting_jobs.fingerprint import FINGERPRINT_LENGTH, error_fingerprint
from gifting_jobs.limits import ERROR_CLASS_MAX_LENGTH, ERROR_EXCERPT_CHARS
from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus
from gifting_jobs.payloads import TriggeredBy

if TYPE_CHECKING:
    from dramatiq.broker import MessageProxy

    from gifting_jobs.broker import RedisBroker
    from gifting_jobs.dispatch import Job

logger = logging.getLogger(__name__)

#: Dead letters claimed, enqueued and marked per transaction by the bulk actions.
DEFAULT_BULK_BATCH_SIZE = 500
#: Longest search text a selection accepts.
SEARCH_MAX_LENGTH = 200
#: Error class of a dead letter found only in Dramatiq's dead set, without the error that put it there.
DEAD_SET_ERROR_CLASS = "DeadLettered"


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
    retry_of = options.get("retry_of")
    error_class = error_class[:ERROR_CLASS_MAX_LENGTH]
    fields: dict[str, Any] = {
        "message_id": message.message_id,
        "job_type": message.actor_name,
        "queue": base_queue(options.get(QUARANTINED_FROM) or message.queue_name),
        "entity_id": str(options.get("entity_id", "")),
        "payload": payload,
        "options": {k: options[k] for k in ("priority", "attempts", "triggered_by") if k in options},
        "reason": reason,
        "error_class": error_class,
        "error_message": error_message,
        "fingerprint": error_fingerprint(message.actor_name, error_class, error_message),
        "traceback": traceback,
        "attempts": int(options.get("retries", 0)) or 1,
        "last_failed_at": now,
        "retry_of_id": retry_of,
        "chain_root_id": _chain_root_of(retry_of),
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


def _chain_root_of(retry_of: int | None) -> int | None:
    """The first dead letter of the chain a retry of dead letter `retry_of` continues."""
    if retry_of is None:
        return None
    root = FailedJob.objects.filter(pk=retry_of).values_list("chain_root_id", flat=True).first()
    return root if root is not None else retry_of


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


class NotOpenError(GiftingJobsError, ValueError):
    """The dead letter is not open (any more): retried or discarded, maybe just now by someone else."""


class InvalidSelectionError(GiftingJobsError, ValueError):
    """A dead-letter filter names an unknown value; the message says which and what is valid."""


@dataclass(frozen=True)
class RetryResult:
    failed_job: FailedJob
    job: Job


def retry_failed_job(failed_job: FailedJob) -> RetryResult:
    """Enqueue an open dead letter again, with a fresh attempt count, linked back to it.

    Uses the job's original id, so a retry is itself idempotent: if an equal
    job is already pending, nothing new is sent (`job.deduplicated`). The row
    is claimed first (a conditional UPDATE moving it out of OPEN): of two
    clicks or two operators, one sends and the other gets `NotOpenError`. If the
    enqueue fails, the row is open again with the error in `retry_error`.
    """
    now = timezone.now()
    claimed = FailedJob.objects.filter(pk=failed_job.pk, status=FailedJobStatus.OPEN).update(
        status=FailedJobStatus.RETRIED, retried_at=now, resolved_at=now, retry_job_id="", retry_error=""
    )
    if not claimed:
        failed_job.refresh_from_db(fields=["status"])
        raise NotOpenError(f"failed job {failed_job.pk} is {failed_job.status}, only open ones can be retried")
    try:
        job = _enqueue_retry(failed_job)
    except Exception as exc:
        _reopen(failed_job, exc)
        raise
    FailedJob.objects.filter(pk=failed_job.pk).update(retry_job_id=job.id)
    failed_job.refresh_from_db()
    _log_retried(failed_job, job)
    return RetryResult(failed_job=failed_job, job=job)


def _enqueue_retry(failed_job: FailedJob) -> Job:
    """Send a dead letter's job again under its id (through the outbox inside a transaction)."""
    from gifting_jobs.dispatch import enqueue, is_valid_queue, release_job_id

    # The failed run frees its id just after writing this row; if support is
    # quicker than that, free it here (only if the failed run still holds it).
    if failed_job.message_id:
        try:
            release_job_id(failed_job.job_id, failed_job.message_id)
        except redis.RedisError:
            pass  # The broker is down: the enqueue holds the job in Postgres, and the id's lock expires.
    fields = {**failed_job.payload, "triggered_by": TriggeredBy.RETRY.value}
    opts = {"job_id": failed_job.job_id}
    if "priority" in failed_job.options:
        opts["priority"] = failed_job.options["priority"]
    queue = logical_queue(failed_job.queue) if failed_job.queue else ""
    if is_valid_queue(queue):
        # Back where it was sent (a `queue=` option, a django.tasks queue_name), not the type's default.
        opts["queue"] = queue
    return enqueue(failed_job.job_type, fields, opts, retry_of=failed_job.pk)


def _reopen(failed_job: FailedJob, exc: Exception) -> None:
    """Put a claimed dead letter back to OPEN after its enqueue failed, noting why."""
    note = f"{type(exc).__name__}: {exc}"[:ERROR_EXCERPT_CHARS]
    logger.error(
        "retry of dead letter %s could not be enqueued; it stays open: %s",
        failed_job.pk,
        exc,
        exc_info=True,
        extra={"job_id": failed_job.job_id, "job_type": failed_job.job_type, "entity_id": failed_job.entity_id},
    )
    reopened = {"retried_at": None, "resolved_at": None, "retry_error": note}
    try:
        with transaction.atomic():
            FailedJob.objects.filter(pk=failed_job.pk).update(status=FailedJobStatus.OPEN, **reopened)
    except IntegrityError:
        # A newer failure of the same job opened a row meanwhile: that one stands for the job now.
        FailedJob.objects.filter(pk=failed_job.pk).update(status=FailedJobStatus.DISCARDED, **reopened)


def _log_retried(failed_job: FailedJob, job: Job) -> None:
    logger.info(
        "dead letter %s retried as job %s (%s)",
        failed_job.pk,
        job.id,
        job.outcome,
        extra={"job_id": job.id, "job_type": job.job_type, "entity_id": failed_job.entity_id},
    )


def retry_failed_jobs(failed_jobs: Iterable[FailedJob]) -> list[RetryResult]:
    """Retry each open dead letter; ones that are not open (any more) are left as they are."""
    results = []
    for failed_job in failed_jobs:
        if failed_job.status != FailedJobStatus.OPEN:
            continue
        try:
            results.append(retry_failed_job(failed_job))
        except NotOpenError:
            continue  # Claimed by someone else meanwhile.
    return results


def discard_failed_jobs(failed_jobs: Iterable[FailedJob]) -> int:
    """Mark open dead letters as discarded (kept for the record); returns how many."""
    ids = [f.pk for f in failed_jobs if f.status == FailedJobStatus.OPEN]
    return FailedJob.objects.filter(pk__in=ids, status=FailedJobStatus.OPEN).update(
        status=FailedJobStatus.DISCARDED, resolved_at=timezone.now()
    )


@dataclass(frozen=True)
class DeadLetterSelection:
    """A set of dead letters by filter, search, error group or retry chain (empty fields: no condition).

    The same filters and search as the admin's changelist: `search` matches each
    of its words against the entity id, job id, error class or error message.
    """

    job_type: str = ""
    status: str = ""
    reason: str = ""
    queue: str = ""
    search: str = ""
    fingerprint: str = ""
    chain: int | None = None

    #: Query parameter names, in display order.
    PARAMS = ("job_type", "status", "reason", "queue", "fingerprint", "chain", "q")

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> DeadLetterSelection:
        """Read the query parameters (`q` is the search; others are ignored); unknown values raise.

        Raises `InvalidSelectionError` naming the parameter and the values it accepts.
        """
        values = {name: (params.get(name) or "").strip() for name in cls.PARAMS}
        _check_choice("status", values["status"], [s.value for s in FailedJobStatus])
        _check_choice("reason", values["reason"], [r.value for r in FailedJobReason])
        if values["job_type"]:
            _check_choice("job_type", values["job_type"], known_job_types())
        if values["queue"]:
            _check_choice("queue", values["queue"], known_queues())
        if values["fingerprint"] and not re.fullmatch(f"[0-9a-f]{{{FINGERPRINT_LENGTH}}}", values["fingerprint"]):
            raise InvalidSelectionError(
                f"fingerprint {values['fingerprint']!r} is not {FINGERPRINT_LENGTH} lowercase hex characters"
            )
        if len(values["q"]) > SEARCH_MAX_LENGTH:
            raise InvalidSelectionError(f"the search is longer than {SEARCH_MAX_LENGTH} characters")
        chain = None
        if values["chain"]:
            if not values["chain"].isdecimal():
                raise InvalidSelectionError(f"chain {values['chain']!r} is not a dead letter id")
            chain = int(values["chain"])
        return cls(
            job_type=values["job_type"],
            status=values["status"],
            reason=values["reason"],
            queue=values["queue"],
            search=values["q"],
            fingerprint=values["fingerprint"],
            chain=chain,
        )

    def params(self) -> dict[str, str]:
        """The query parameters that select this set again (only the non-empty ones)."""
        raw = {**asdict(self), "q": self.search, "chain": "" if self.chain is None else str(self.chain)}
        return {name: raw[name] for name in self.PARAMS if raw[name]}

    def describe(self) -> str:
        """A one-line summary for people: "job type product_embedding, search "42"" or "all dead letters"."""
        parts = [
            f"{label} {value}"
            for label, value in (
                ("job type", self.job_type),
                ("status", self.status),
                ("reason", self.reason),
                ("queue", self.queue),
                ("error group", self.fingerprint),
                ("retry chain of dead letter", "" if self.chain is None else str(self.chain)),
            )
            if value
        ]
        if self.search:
            parts.append(f'search "{self.search}"')
        return ", ".join(parts) or "all dead letters"

    def queryset(self) -> QuerySet[FailedJob]:
        """The matching dead letters (any status unless `status` is set), in no particular order."""
        failed_jobs = FailedJob.objects.all()
        exact = {"job_type": self.job_type, "status": self.status, "reason": self.reason, "queue": self.queue}
        failed_jobs = failed_jobs.filter(**{name: value for name, value in exact.items() if value})
        if self.fingerprint:
            failed_jobs = failed_jobs.filter(fingerprint=self.fingerprint)
        if self.chain is not None:
            failed_jobs = failed_jobs.filter(Q(pk=self.chain) | Q(chain_root_id=self.chain))
        for term in self.search.split():
            failed_jobs = failed_jobs.filter(
                Q(entity_id__icontains=term)
                | Q(job_id__icontains=term)
                | Q(error_class__icontains=term)
                | Q(error_message__icontains=term)
            )
        return failed_jobs

    def open_up_to(self, up_to_id: int) -> QuerySet[FailedJob]:
        """The open matching dead letters with an id up to `up_to_id` (the set a confirmation covers)."""
        return self.queryset().filter(status=FailedJobStatus.OPEN, pk__lte=up_to_id)


def _check_choice(name: str, value: str, valid: Iterable[str]) -> None:
    choices = sorted(valid)
    if value and value not in choices:
        raise InvalidSelectionError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")


def known_job_types() -> list[str]:
    """Job types a filter accepts: the catalog's and any that dead letters name (types since removed too)."""
    stored = FailedJob.objects.order_by().values_list("job_type", flat=True).distinct()
    return sorted({spec.name for spec in all_specs()} | set(stored))


def known_queues() -> list[str]:
    """Queues a filter accepts: the catalog's and any that dead letters name."""
    stored = FailedJob.objects.exclude(queue="").order_by().values_list("queue", flat=True).distinct()
    return sorted({spec.queue for spec in all_specs()} | set(stored))


@dataclass(frozen=True)
class BulkResult:
    """What a bulk retry or discard did: rows changed, rows that failed (`"<id>: <error>"`), batches run."""

    done: int = 0
    errors: tuple[str, ...] = field(default=())
    batches: int = 0


def _claim_batch(selection: DeadLetterSelection, *, up_to_id: int, after_id: int, batch_size: int) -> list[FailedJob]:
    """Lock the next open matching rows; rows another transaction holds are skipped (it handles them)."""
    return list(
        selection.open_up_to(up_to_id)
        .filter(pk__gt=after_id)
        .select_for_update(skip_locked=True)
        .order_by("pk")[:batch_size]
    )


def retry_matching(
    selection: DeadLetterSelection, *, up_to_id: int, batch_size: int = DEFAULT_BULK_BATCH_SIZE
) -> BulkResult:
    """Retry every open dead letter of `selection` with an id up to `up_to_id`, `batch_size` per transaction.

    Each batch is claimed with `SELECT ... FOR UPDATE SKIP LOCKED`; its jobs go
    through the transactional outbox and the rows become RETRIED in the same
    transaction, so both happen or neither: a crash midway loses no job and
    sends none twice, and the broker gets them when the batch commits (the
    relay, if it is down). A second click, or a second operator, finds the rows
    locked or no longer open and sends nothing again. A row whose job cannot be
    enqueued (its payload no longer validates, say) stays open with the error in
    `retry_error`. Rows newer than `up_to_id` (failed after the confirmation)
    are left alone.
    """
    done = batches = 0
    errors: list[str] = []
    after_id = 0
    while True:
        with transaction.atomic():
            rows = _claim_batch(selection, up_to_id=up_to_id, after_id=after_id, batch_size=batch_size)
            if not rows:
                break
            batches += 1
            after_id = rows[-1].pk
            sent: list[int] = []
            for row in rows:
                try:
                    # Validation fails before anything is written, so no savepoint is needed per row.
                    _enqueue_retry(row)
                except GiftingJobsError as exc:
                    note = f"{type(exc).__name__}: {exc}"[:ERROR_EXCERPT_CHARS]
                    FailedJob.objects.filter(pk=row.pk).update(retry_error=note)
                    errors.append(f"{row.pk}: {note}")
                    continue
                sent.append(row.pk)
            now = timezone.now()
            # A retry keeps the job's id, so the retry's job id is the row's own.
            done += FailedJob.objects.filter(pk__in=sent).update(
                status=FailedJobStatus.RETRIED,
                retried_at=now,
                resolved_at=now,
                retry_job_id=F("job_id"),
                retry_error="",
            )
        if len(rows) < batch_size:
            break
    logger.info("bulk retry of %s: %d retried, %d failed, %d batches", selection.describe(), done, len(errors), batches)
    return BulkResult(done=done, errors=tuple(errors), batches=batches)


def discard_matching(
    selection: DeadLetterSelection, *, up_to_id: int, batch_size: int = DEFAULT_BULK_BATCH_SIZE
) -> BulkResult:
    """Discard every open dead letter of `selection` with an id up to `up_to_id`, `batch_size` per transaction.

    Claimed like `retry_matching` (skip locked, then a conditional UPDATE from
    OPEN), so concurrent runs never count a row twice.
    """
    done = batches = 0
    after_id = 0
    while True:
        with transaction.atomic():
            ids = [
                row.pk for row in _claim_batch(selection, up_to_id=up_to_id, after_id=after_id, batch_size=batch_size)
            ]
            if not ids:
                break
            batches += 1
            after_id = ids[-1]
            done += FailedJob.objects.filter(pk__in=ids, status=FailedJobStatus.OPEN).update(
                status=FailedJobStatus.DISCARDED, resolved_at=timezone.now()
            )
        if len(ids) < batch_size:
            break
    logger.info("bulk discard of %s: %d discarded, %d batches", selection.describe(), done, batches)
    return BulkResult(done=done, batches=batches)


@dataclass(frozen=True)
class DrainResult:
    """What one drain of Dramatiq's dead sets did."""

    #: Entries without a dead letter row: written as FailedJob rows (reason "dead_set").
    recorded: int = 0
    #: Entries whose failure a row already holds (the usual case): only removed from the dead set.
    already_recorded: int = 0
    #: Entries left for `flush_kept_dead_letters` (their row waits in Redis for Postgres).
    left: int = 0


def drain_dead_sets(broker: RedisBroker, *, limit: int) -> DrainResult:
    """Make FailedJob the one truth for "dead": move Dramatiq's dead-set entries into it.

    For up to `limit` entries per queue, oldest first: an entry whose failure
    is already a row (its message id, or an open row of its job) is just
    removed; otherwise an open FailedJob is written first (`record_failure`,
    reason "dead_set", with the error the message carries if any). An entry is
    removed from Redis only after its row is committed, so with Postgres down
    (`DatabaseError` is raised) the dead set keeps it; running twice writes
    nothing twice. Entries of jobs whose dead letter waits in Redis for
    Postgres are left for `flush_kept_dead_letters`.
    """
    recorded = already = left = 0
    for physical, entries in broker.dead_set_entries(limit=limit).items():
        decoded = [(redis_id, _decode_dead(physical, redis_id, data)) for redis_id, data in entries]
        job_ids = [job_id_of(message) for _, message in decoded]
        kept = broker.kept_dead_letter_ids(job_ids)
        # One query by the indexed job id: the (job, message) pairs recorded, and the jobs with an open row.
        recorded_pairs: set[tuple[str, str]] = set()
        open_jobs: set[str] = set()
        for row_job_id, row_message_id, status in FailedJob.objects.filter(job_id__in=job_ids).values_list(
            "job_id", "message_id", "status"
        ):
            recorded_pairs.add((row_job_id, row_message_id))
            if status == FailedJobStatus.OPEN:
                open_jobs.add(row_job_id)
        drained: list[str] = []
        for redis_id, message in decoded:
            job_id = job_id_of(message)
            if job_id in kept:
                left += 1
                continue
            covered = (job_id, message.message_id) in recorded_pairs or job_id in open_jobs
            if covered:
                already += 1
            else:
                options = message.options
                record_failure(
                    message,
                    reason=FailedJobReason.DEAD_SET,
                    error_class=str(options.get("error_class", DEAD_SET_ERROR_CLASS)),
                    error_message=str(
                        options.get("error_message")
                        or f"found in Dramatiq's dead set of queue {physical} with no dead letter recorded"
                    ),
                    traceback=str(options.get("traceback", "")),
                )
                recorded += 1
                open_jobs.add(job_id)  # A second entry of the same job in this batch is covered now.
            drained.append(redis_id)
        broker.drop_dead_set_entries(physical, drained)
    if recorded or already:
        logger.info(
            "drained Dramatiq's dead sets: %d new dead letters, %d already recorded, %d left for the flush",
            recorded,
            already,
            left,
        )
    return DrainResult(recorded=recorded, already_recorded=already, left=left)


def _decode_dead(physical: str, redis_id: str, data: bytes | None) -> Message[Any]:
    """A dead-set entry's message; an entry Redis lost the body of, or that cannot be decoded, still becomes one."""
    if data is not None:
        try:
            return Message.decode(data)
        except Exception as exc:  # Dramatiq raises DecodeError, or whatever the encoder raised.
            excerpt = f"{exc}: {data[:ERROR_EXCERPT_CHARS]!r}"
    else:
        excerpt = "its message body was missing"
    return Message(
        queue_name=physical,
        actor_name="unknown",
        args=(),
        kwargs={},
        options={
            "job_id": f"dead-set:{redis_id}",
            "error_class": "UndecodableMessage",
            "error_message": f"entry {redis_id} of Dramatiq's dead set of {physical} could not be read: {excerpt}",
        },
        message_id=redis_id,
    )
