"""The enqueue engine: the only code that talks to the broker when sending jobs.

`enqueue()` validates the payload and options, derives the idempotency id, then
either sends at once (atomic lock + push), writes the job to the Postgres
outbox inside the caller's transaction (sent on commit), keeps a long delay in
Postgres, or, when the broker cannot be reached, keeps the job in Postgres for
the relay. Every path returns a `Job` saying which of these happened.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

import redis
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from dramatiq.message import Message
from pydantic import BaseModel, ConfigDict, Field, ValidationError as PydanticValidationError, field_validator

from gifting_jobs.broker import RedisBroker, SendMode, get_broker
from gifting_jobs.broker.bands import physical_queue
from gifting_jobs.broker.keys import owner_message_id
from gifting_jobs.catalog import JobSpec, get_spec
from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ValidationError, field_error
from gifting_jobs.models import HeldJob, HeldJobReason
from gifting_jobs.payloads import JobPayload

logger = logging.getLogger(__name__)

#: A lock outlives the job's worst case (every attempt timing out plus backoffs) by this margin.
LOCK_TTL_MARGIN = timedelta(hours=1)
#: A job written to the outbox in a transaction is the relay's only after this grace:
#: before it, the committing process is expected to send it itself.
OUTBOX_GRACE = timedelta(seconds=30)
#: The id characters allowed in an explicit job_id.
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,199}$"
#: The names allowed for a logical queue.
QUEUE_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"


class JobOutcome(StrEnum):
    """What `enqueue` did with the job."""

    #: In the broker now.
    SENT = "sent"
    #: An equal job (same id) is queued, delayed or running: nothing new was sent.
    DEDUPLICATED = "deduplicated"
    #: Written to the outbox in the open transaction; sent after commit, dropped on rollback.
    ON_COMMIT = "on_commit"
    #: Delay beyond the horizon: kept in Postgres, handed to the broker when due.
    SCHEDULED = "scheduled"
    #: The broker did not answer: kept in Postgres, sent by the relay once it answers.
    HELD = "held"


@dataclass(frozen=True, slots=True)
class Job:
    """An enqueued (or deduplicated) job: an immutable receipt."""

    id: str
    job_type: str
    queue: str
    priority: int
    eta: datetime | None
    payload: JobPayload
    outcome: JobOutcome
    message_id: str

    @property
    def deduplicated(self) -> bool:
        """True when an equal job was already pending and nothing new was sent."""
        return self.outcome is JobOutcome.DEDUPLICATED


class EnqueueOptions(BaseModel):
    """The `**opts` every enqueue function takes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    priority: int | None = Field(default=None, ge=1, le=10)
    delay: timedelta | None = None
    attempts: int | None = Field(default=None, ge=1, le=100)
    job_id: str | None = Field(default=None, pattern=JOB_ID_PATTERN)
    queue: str | None = Field(default=None, pattern=QUEUE_PATTERN)

    @field_validator("delay", mode="before")
    @classmethod
    def _delay_from_millis(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("delay must be a timedelta or a number of milliseconds")
        if isinstance(value, (int, float)):
            return timedelta(milliseconds=value)
        return value

    @field_validator("delay")
    @classmethod
    def _delay_not_negative(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError("delay must not be negative")
        return value


def is_valid_job_id(job_id: str) -> bool:
    """Whether `job_id` is accepted as an explicit `job_id=` option."""
    return re.fullmatch(JOB_ID_PATTERN, job_id) is not None


def is_valid_queue(queue: str) -> bool:
    """Whether `queue` is accepted as a `queue=` option."""
    return re.fullmatch(QUEUE_PATTERN, queue) is not None


_NO_OPTIONS = EnqueueOptions()
_NO_DELAY = timedelta(0)


class JobSink(Protocol):
    """Where `enqueue` sends: the broker, or a test's capture (`gifting_jobs.testing`).

    The methods are the broker's: a sink takes job-id locks and keeps messages
    exactly as `RedisBroker` does, so ids, dedupe and outcomes stay those of production.
    """

    def send_unique(
        self, message: Message[Any], *, lock_ttl_ms: int, delay_ms: int | None = None, mode: SendMode = SendMode.SEND
    ) -> str | None: ...

    def send_unique_many(self, entries: list[tuple[Message[Any], int, int | None]]) -> list[str | None]: ...

    def release_hold(self, job_id: str, message_id: str) -> bool: ...

    def finish(self, job_id: str, message_id: str) -> bool: ...


class CaptureSink(JobSink, Protocol):
    """A sink that also hears of jobs written to the outbox, before their transaction commits."""

    def outboxed(self, message: Message[Any], delay: timedelta) -> None: ...


#: A test's capture sink, when one is installed; None sends to the broker.
_sink: CaptureSink | None = None


def install_sink(sink: CaptureSink | None) -> CaptureSink | None:
    """Make `sink` receive every job sent from now on (None: the broker again); returns the previous one.

    Only `gifting_jobs.testing` does this: production code always sends to the broker.
    """
    global _sink
    previous, _sink = _sink, sink
    return previous


def _sender() -> JobSink:
    return _sink if _sink is not None else get_broker()


def release_job_id(job_id: str, message_id: str) -> bool:
    """Free a job id now if `message_id` still holds it (a dead letter retried before its run let go)."""
    return _sender().finish(job_id, message_id)


def _validate(spec: JobSpec[Any], fields: dict[str, Any], opts: dict[str, Any]) -> tuple[JobPayload, EnqueueOptions]:
    try:
        payload = spec.payload_model.model_validate(fields)
    except PydanticValidationError as exc:
        raise ValidationError.from_pydantic(exc, f"{spec.name} payload") from None
    if not opts:
        return payload, _NO_OPTIONS
    try:
        options = EnqueueOptions.model_validate(opts)
    except PydanticValidationError as exc:
        raise ValidationError.from_pydantic(exc, f"{spec.name} options") from None
    return payload, options


def lock_ttl_ms(spec: JobSpec[Any], attempts: int, delay: timedelta) -> int:
    """How long a job's id stays taken if nothing releases it (a crash, a lost message)."""
    return _lock_ttl_ms(spec.time_limit + spec.retry.max_backoff, attempts, delay)


@functools.lru_cache(maxsize=256)
def _lock_ttl_ms(attempt_worst: timedelta, attempts: int, delay: timedelta) -> int:
    # Cached: enqueue is a hot path and most jobs share a few (type, attempts, delay 0) shapes.
    return int((delay + attempts * attempt_worst + LOCK_TTL_MARGIN).total_seconds() * 1000)


def build_message(
    spec: JobSpec[Any],
    payload: JobPayload,
    options: EnqueueOptions = _NO_OPTIONS,
    *,
    retry_of: int | None = None,
) -> Message[Any]:
    """The Dramatiq message of a validated job (not sent)."""
    priority = options.priority or spec.priority
    queue = physical_queue(options.queue or spec.queue, priority)
    return Message(
        queue_name=queue,
        actor_name=spec.name,
        args=(payload.model_dump(mode="json"),),
        kwargs={},
        options={
            "job_id": options.job_id or spec.default_id(payload),
            "entity_id": spec.entity_id(payload),
            "priority": priority,
            "attempts": options.attempts or spec.retry.attempts,
            **({"retry_of": retry_of} if retry_of is not None else {}),
        },
        message_id=str(uuid.uuid4()),
    )


class _Prepared(NamedTuple):
    """A validated job and its message, ready to be routed (internal).

    A named tuple: immutable like a frozen dataclass, and built in a third of
    its time, which shows on the enqueue hot path.
    """

    spec: JobSpec[Any]
    payload: JobPayload
    message: Message[Any]
    delay: timedelta
    eta: datetime | None
    ttl_ms: int

    def receipt(self, outcome: JobOutcome, message_id: str) -> Job:
        return Job(
            id=self.message.options["job_id"],
            job_type=self.spec.name,
            queue=self.message.queue_name,
            priority=self.message.options["priority"],
            eta=self.eta,
            payload=self.payload,
            outcome=outcome,
            message_id=message_id,
        )

    @property
    def beyond_horizon(self) -> bool:
        return bool(self.delay) and self.delay > get_settings().delay_horizon


def _prepare(
    spec: JobSpec[Any], fields: dict[str, Any], opts: dict[str, Any], *, retry_of: int | None = None
) -> _Prepared:
    payload, options = _validate(spec, fields, opts)
    message = build_message(spec, payload, options, retry_of=retry_of)
    delay = options.delay or _NO_DELAY
    return _Prepared(
        spec=spec,
        payload=payload,
        message=message,
        delay=delay,
        eta=timezone.now() + delay if delay else None,
        ttl_ms=lock_ttl_ms(spec, message.options["attempts"], delay),
    )


def message_for(job_type: str, fields: dict[str, Any], opts: dict[str, Any] | None = None) -> Message[Any]:
    """The message `enqueue` would send for these fields and options: validated, id derived, not sent.

    Raises `ValidationError` as `enqueue` does.
    """
    return _prepare(get_spec(job_type), fields, opts or {}).message


def _route(job: _Prepared) -> Job:
    """Send, hold or schedule one prepared job, by its delay and the open transaction."""
    if job.beyond_horizon and job.eta is not None:  # Beyond the horizon means delayed, so an eta.
        return job.receipt(*_schedule(job.message, job.ttl_ms, job.eta))
    if connection.in_atomic_block:
        return job.receipt(*_send_on_commit(job.message, job.ttl_ms, job.delay))
    return job.receipt(*send(job.message, job.ttl_ms, job.delay))


def enqueue(job_type: str, fields: dict[str, Any], opts: dict[str, Any], *, retry_of: int | None = None) -> Job:
    """Validate and enqueue one job of a registered type; see `JobOutcome` for what can happen.

    Raises `ValidationError` (nothing sent) for bad fields or options.
    """
    return _route(_prepare(get_spec(job_type), fields, opts, retry_of=retry_of))


def enqueue_many(job_type: str, jobs: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> list[Job | ValidationError]:
    """Enqueue many jobs of one type, as `enqueue` would, with one broker round trip for all.

    `jobs` holds `(fields, opts)` pairs. Each one is validated on its own: the
    result at its index is its `Job`, or the `ValidationError` that kept it (and
    only it) from being sent. Outcomes are those of `enqueue`: inside a
    transaction the jobs go through the outbox, long delays are held in
    Postgres, and if the broker cannot be reached every job is held for the relay.
    Raises `ValidationError` (nothing sent) when an item is not such a pair.
    """
    spec = get_spec(job_type)
    items = _checked_pairs(jobs)
    results: list[Job | ValidationError] = []
    batch: list[tuple[int, _Prepared]] = []
    in_transaction = connection.in_atomic_block
    for fields, opts in items:
        try:
            job = _prepare(spec, fields, opts)
        except ValidationError as exc:
            results.append(exc)
            continue
        if in_transaction or job.beyond_horizon:
            results.append(_route(job))
        else:
            batch.append((len(results), job))
            results.append(job.receipt(JobOutcome.SENT, job.message.message_id))
    for (index, job), (outcome, message_id) in zip(batch, _send_many([job for _, job in batch]), strict=True):
        if outcome is not JobOutcome.SENT:
            results[index] = job.receipt(outcome, message_id)
    return results


def _checked_pairs(jobs: Iterable[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The items of `enqueue_many` as a list, or a `ValidationError` naming those that are not pairs."""
    if isinstance(jobs, (str, bytes, dict)) or not isinstance(jobs, Iterable):
        raise ValidationError.for_field(
            "jobs",
            "expected a sequence of (fields, opts) pairs",
            "type_error",
            message=f"enqueue_many takes a sequence of (fields, opts) pairs, got {type(jobs).__name__}",
        )
    items = list(jobs)
    errors = [
        field_error(["jobs", index], "expected a (fields, opts) pair", "type_error")
        for index, item in enumerate(items)
        if not (isinstance(item, (tuple, list)) and len(item) == 2)
    ]
    if errors:
        where = ", ".join(str(e["loc"][1]) for e in errors[:5]) + (" …" if len(errors) > 5 else "")
        raise ValidationError(f"enqueue_many: items {where} are not (fields, opts) pairs; nothing was sent", errors)
    return items


def _delay_ms(delay: timedelta) -> int | None:
    return int(delay.total_seconds() * 1000) or None


def send(message: Message[Any], ttl_ms: int, delay: timedelta) -> tuple[JobOutcome, str]:
    """Send now; if the broker cannot be reached, hold the job in Postgres."""
    try:
        owner = _sender().send_unique(message, lock_ttl_ms=ttl_ms, delay_ms=_delay_ms(delay))
    except redis.RedisError as exc:
        return _hold_unsent(message, ttl_ms, delay, exc)
    return _sent_unless_owned(message, owner)


def send_held(broker: RedisBroker, message: Message[Any], ttl_ms: int) -> str | None:
    """Hand a job held in Postgres to the broker (the relay's send).

    Returns None when sent, else the owner of its id: the job was already sent
    by its own process, or an equal job is pending. Raises `redis.RedisError`.
    """
    return broker.send_unique(message, lock_ttl_ms=ttl_ms, mode=SendMode.RELAY)


def _sent_unless_owned(message: Message[Any], owner: str | None) -> tuple[JobOutcome, str]:
    """SENT, or DEDUPLICATED with the message id of the equal job that owns the id (sent or held)."""
    if owner is not None:
        return JobOutcome.DEDUPLICATED, owner_message_id(owner)
    return JobOutcome.SENT, message.message_id


def _send_many(jobs: Sequence[_Prepared]) -> list[tuple[JobOutcome, str]]:
    """Send prepared jobs in one pipelined round trip; if the broker cannot be reached, hold them all.

    A pipeline cut off midway may have sent some: holding those too is safe,
    since the relay never sends a job whose id its own message already owns.
    """
    if not jobs:
        return []
    try:
        owners = _sender().send_unique_many([(job.message, job.ttl_ms, _delay_ms(job.delay)) for job in jobs])
    except redis.RedisError as exc:
        return [_hold_unsent(job.message, job.ttl_ms, job.delay, exc) for job in jobs]
    return [_sent_unless_owned(job.message, owner) for job, owner in zip(jobs, owners, strict=True)]


def _hold_unsent(message: Message[Any], ttl_ms: int, delay: timedelta, exc: Exception) -> tuple[JobOutcome, str]:
    """The broker did not answer: keep the job in Postgres for the relay."""
    _log_broker_down(message, exc)
    existing = _insert_held(_held_row(message, ttl_ms, HeldJobReason.BROKER_DOWN, timezone.now() + delay))
    if existing is not None:
        return JobOutcome.DEDUPLICATED, existing
    return JobOutcome.HELD, message.message_id


def _log_broker_down(message: Message[Any], exc: Exception) -> None:
    job_id = message.options["job_id"]
    logger.warning(
        "broker unreachable, job %s kept in Postgres until it answers: %s",
        job_id,
        exc,
        extra={"job_id": job_id, "job_type": message.actor_name, "entity_id": message.options["entity_id"]},
    )


def _held_row(message: Message[Any], ttl_ms: int, reason: HeldJobReason, due_at: datetime) -> HeldJob:
    return HeldJob(
        job_id=message.options["job_id"],
        message_id=message.message_id,
        job_type=message.actor_name,
        queue=message.queue_name,
        message=message.asdict(),
        lock_ttl_ms=ttl_ms,
        reason=reason,
        due_at=due_at,
    )


def hold(message: Message[Any], ttl_ms: int, *, reason: HeldJobReason, due_at: datetime) -> str | None:
    """Keep a job in Postgres for the relay to send when due (a snooze beyond the horizon, say).

    Returns None when held, else the message id of the equal job already held.
    The caller owns the job id's lock: the relay sends the row only if the lock
    is free or held for this message (`keys.held_owner`).
    """
    return _insert_held(_held_row(message, ttl_ms, reason, due_at))


def _insert_held(row: HeldJob) -> str | None:
    """Insert a held job; None if inserted, else the message id of the equal job already held."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        existing = HeldJob.objects.filter(job_id=row.job_id).values_list("message_id", flat=True).first()
        return existing or row.message_id
    return None


def _schedule(message: Message[Any], ttl_ms: int, eta: datetime) -> tuple[JobOutcome, str]:
    """Keep a long delay in Postgres; its job id is taken now so equal jobs deduplicate."""
    try:
        owner = _sender().send_unique(message, lock_ttl_ms=ttl_ms, mode=SendMode.HOLD)
    except redis.RedisError:
        owner = None  # Postgres alone deduplicates until the broker is back.
    if owner is not None:
        return _sent_unless_owned(message, owner)
    existing = _insert_held(_held_row(message, ttl_ms, HeldJobReason.DELAYED, eta))
    if existing is not None:
        # An equal job already waits in Postgres (held while the broker was
        # down): give back the id we just took, or its relay would drop it.
        try:
            _sender().release_hold(message.options["job_id"], message.message_id)
        except redis.RedisError:
            pass  # Our hold then expires with its TTL; the relay sends theirs meanwhile only if it is free.
        return JobOutcome.DEDUPLICATED, existing
    return JobOutcome.SCHEDULED, message.message_id


def _send_on_commit(message: Message[Any], ttl_ms: int, delay: timedelta) -> tuple[JobOutcome, str]:
    """Transactional outbox: the row commits with the caller's data, then is sent."""
    row = _held_row(message, ttl_ms, HeldJobReason.OUTBOX, timezone.now() + OUTBOX_GRACE)
    existing = _insert_held(row)
    if existing is not None:
        return JobOutcome.DEDUPLICATED, existing
    if _sink is not None:
        _sink.outboxed(message, delay)

    def after_commit() -> None:
        try:
            _sender().send_unique(message, lock_ttl_ms=ttl_ms, delay_ms=_delay_ms(delay))
        except redis.RedisError as exc:
            # The committed outbox row is the job: make it due now so the
            # relay sends it as soon as the broker answers.
            _log_broker_down(message, exc)
            HeldJob.objects.filter(pk=row.pk).update(reason=HeldJobReason.BROKER_DOWN, due_at=timezone.now())
            return
        # Sent, or an equal job was already pending: either way the row is done.
        HeldJob.objects.filter(pk=row.pk).delete()

    transaction.on_commit(after_commit, robust=True)
    return JobOutcome.ON_COMMIT, message.message_id
