"""Job capture: a sink that stands in for the broker in tests, and the helpers that read and run it.

While a `JobCapture` is installed, `enqueue` validates, derives ids and routes
exactly as in production (outbox inside a transaction, Postgres for long
delays), but where it would talk to Redis it talks to the capture: an
in-memory lock table gives the same dedupe (`deduplicated=True` for an id
still pending), and the messages stay here until a test runs them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.module_loading import import_string
from dramatiq.message import Message
from pydantic_core import to_jsonable_python

from gifting_jobs import dispatch
from gifting_jobs.broker import SendMode
from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import held_owner
from gifting_jobs.catalog import get_spec
from gifting_jobs.dispatch import JobOutcome
from gifting_jobs.observability import JobContext, current_job
from gifting_jobs.payloads import JobPayload

#: A delay matches `assert_enqueued(delay=...)` when it is this close.
DEFAULT_DELAY_TOLERANCE = timedelta(seconds=1)
#: `drain_jobs` stops with an error after this many runs: a job that keeps enqueueing new jobs.
MAX_DRAIN_RUNS = 10_000
_NO_DELAY = timedelta(0)


class CaptureError(AssertionError):
    """A capture helper was misused (no capture installed, a drain that never ends)."""


@dataclass(frozen=True, slots=True)
class CapturedJob:
    """One job a test enqueued and nothing has run yet."""

    id: str
    job_type: str
    #: The logical queue (`catalog`); `physical_queue` is its priority band (`catalog.urgent`).
    queue: str
    physical_queue: str
    priority: int
    payload: JobPayload
    #: What `enqueue` answered: SENT, ON_COMMIT (in the outbox of an open transaction) or SCHEDULED.
    outcome: JobOutcome
    delay: timedelta
    eta: datetime | None
    message_id: str
    message: Message[Any] = field(repr=False)

    @property
    def fields(self) -> dict[str, Any]:
        """The payload as the broker carries it (JSON types)."""
        return self.payload.model_dump(mode="json")

    def describe(self) -> str:
        delay = f" delay={self.delay.total_seconds():g}s" if self.delay else ""
        return (
            f"{self.job_type} id={self.id!r} queue={self.queue} priority={self.priority}{delay} "
            f"({self.outcome.value}) {self.fields}"
        )


@dataclass(slots=True)
class _Entry:
    message: Message[Any]
    outcome: JobOutcome
    delay: timedelta
    enqueued_at: datetime
    order: int


class JobCapture:
    """The broker of a test: takes job-id locks in memory and keeps every message it is sent.

    Install it with `capture_jobs()` (or the pytest fixture `jobs`, or
    `JobsTestMixin`). Its helpers read what was enqueued and run it inline.
    """

    def __init__(self, *, inline: bool = False) -> None:
        #: Run each job as soon as it is sent (Sidekiq's inline mode) instead of keeping it.
        self.inline = inline
        self._mutex = threading.RLock()
        self._locks: dict[str, tuple[str, float]] = {}
        self._entries: dict[str, _Entry] = {}
        #: Messages already run (an outbox job drained before its transaction committed).
        self._consumed: set[str] = set()
        self._order = itertools.count()

    # -- The sink: the broker's methods `dispatch` calls. ------------------------------------

    def send_unique(
        self, message: Message[Any], *, lock_ttl_ms: int, delay_ms: int | None = None, mode: SendMode = SendMode.SEND
    ) -> str | None:
        """Take the job's id and keep the message, or return who holds the id (like the broker's script)."""
        job_id = message.options["job_id"]
        with self._mutex:
            if message.message_id in self._consumed:
                return None  # Drained from the outbox already; its commit sends nothing more.
            current = self._owner(job_id)
            # Like the script: a taken id wins, except a relay sending the job that holds it.
            if current is not None and not (mode is SendMode.RELAY and current == held_owner(message.message_id)):
                return current
            owner = held_owner(message.message_id) if mode is SendMode.HOLD else message.message_id
            self._locks[job_id] = (owner, time.monotonic() + lock_ttl_ms / 1000)
            entry = self._entries.get(message.message_id)
            if mode is SendMode.HOLD:
                self._keep(message, JobOutcome.SCHEDULED, _NO_DELAY)
            elif entry is not None:
                entry.outcome = JobOutcome.SENT
            else:
                self._keep(message, JobOutcome.SENT, timedelta(milliseconds=delay_ms or 0))
        if self.inline and mode is not SendMode.HOLD:
            self._run_now(message.message_id)
        return None

    def _run_now(self, message_id: str) -> None:
        """Inline mode: run a job just sent, in the sender's thread (its exception reaches the sender)."""
        with self._mutex:
            entry = self._entries.get(message_id)
        if entry is None:
            return
        job = _captured(entry)
        self._take(job)
        self._run_with_retries(job)

    def send_unique_many(self, entries: list[tuple[Message[Any], int, int | None]]) -> list[str | None]:
        return [self.send_unique(message, lock_ttl_ms=ttl, delay_ms=delay) for message, ttl, delay in entries]

    def release_hold(self, job_id: str, message_id: str) -> bool:
        with self._mutex:
            self._entries.pop(message_id, None)
            return self._compare_and_delete(job_id, held_owner(message_id))

    def finish(self, job_id: str, message_id: str) -> bool:
        with self._mutex:
            return self._compare_and_delete(job_id, message_id)

    def outboxed(self, message: Message[Any], delay: timedelta) -> None:
        """A job went to the outbox of an open transaction: listed while its row exists."""
        with self._mutex:
            self._keep(message, JobOutcome.ON_COMMIT, delay)

    def _keep(self, message: Message[Any], outcome: JobOutcome, delay: timedelta) -> None:
        self._entries[message.message_id] = _Entry(message, outcome, delay, timezone.now(), next(self._order))

    def _owner(self, job_id: str) -> str | None:
        held = self._locks.get(job_id)
        if held is None:
            return None
        if held[1] < time.monotonic():
            del self._locks[job_id]
            return None
        return held[0]

    def _compare_and_delete(self, job_id: str, owner: str) -> bool:
        if self._owner(job_id) == owner:
            del self._locks[job_id]
            return True
        return False

    def job_pending(self, job_id: str) -> bool:
        """Whether a job with this id is queued or delayed here (its id is taken)."""
        with self._mutex:
            return self._owner(job_id) is not None

    # -- Reading what was enqueued. ----------------------------------------------------------

    def enqueued_jobs(self, job_type: str | None = None, *, queue: str | None = None) -> list[CapturedJob]:
        """Jobs enqueued and not yet run, oldest first; outbox jobs only while their transaction stands."""
        with self._mutex:
            entries = sorted(self._entries.values(), key=lambda e: e.order)
        held = self._held_rows(entries)
        jobs = []
        for entry in entries:
            if entry.outcome in (JobOutcome.ON_COMMIT, JobOutcome.SCHEDULED):
                if entry.message.message_id not in held:
                    continue  # Its transaction rolled back: the job never existed.
                if entry.outcome is JobOutcome.SCHEDULED:
                    entry.delay = max(_NO_DELAY, held[entry.message.message_id] - entry.enqueued_at)
            job = _captured(entry)
            if job_type is not None and job.job_type != job_type:
                continue
            if queue is not None and queue not in (job.queue, job.physical_queue):
                continue
            jobs.append(job)
        return jobs

    @staticmethod
    def _held_rows(entries: list[_Entry]) -> dict[str, datetime]:
        """Due times of the Postgres rows (outbox, delayed) of these entries that exist now."""
        ids = [e.message.message_id for e in entries if e.outcome in (JobOutcome.ON_COMMIT, JobOutcome.SCHEDULED)]
        if not ids:
            return {}
        from gifting_jobs.models import HeldJob

        return dict(HeldJob.objects.filter(message_id__in=ids).values_list("message_id", "due_at"))

    def assert_enqueued(
        self,
        job_type: str,
        *,
        priority: int | None = None,
        queue: str | None = None,
        delay: timedelta | float | None = None,
        delay_tolerance: timedelta = DEFAULT_DELAY_TOLERANCE,
        count: int | None = None,
        **payload_fields: Any,
    ) -> list[CapturedJob]:
        """Fail unless a job of this type with these payload fields (and options) was enqueued; return the matches.

        Fields match on their JSON form, so `TriggeredBy.MANUAL` and `"manual"`,
        a date and its ISO string, are equal. `delay` (timedelta or
        milliseconds) matches within `delay_tolerance`; `count` asks for exactly
        that many matches. The failure message lists what *was* enqueued.
        """
        matches = self._matching(job_type, priority, queue, delay, delay_tolerance, payload_fields)
        if (count is None and not matches) or (count is not None and len(matches) != count):
            wanted = _describe_wanted(job_type, priority, queue, delay, payload_fields)
            expected = "a job" if count is None else f"{count} job(s)"
            raise AssertionError(f"expected {expected} {wanted}, found {len(matches)} matching.\n" + self._listing())
        return matches

    def refute_enqueued(
        self,
        job_type: str,
        *,
        priority: int | None = None,
        queue: str | None = None,
        delay: timedelta | float | None = None,
        delay_tolerance: timedelta = DEFAULT_DELAY_TOLERANCE,
        **payload_fields: Any,
    ) -> None:
        """Fail if a job of this type with these payload fields (and options) was enqueued."""
        matches = self._matching(job_type, priority, queue, delay, delay_tolerance, payload_fields)
        if matches:
            wanted = _describe_wanted(job_type, priority, queue, delay, payload_fields)
            raise AssertionError(f"expected no job {wanted}, found {len(matches)}.\n" + self._listing())

    def _matching(
        self,
        job_type: str,
        priority: int | None,
        queue: str | None,
        delay: timedelta | float | None,
        tolerance: timedelta,
        payload_fields: dict[str, Any],
    ) -> list[CapturedJob]:
        get_spec(job_type)  # An unknown type is a typo: fail with the known ones.
        wanted_delay = timedelta(milliseconds=delay) if isinstance(delay, (int, float)) else delay
        expected = {name: to_jsonable_python(value) for name, value in payload_fields.items()}
        return [
            job
            for job in self.enqueued_jobs(job_type, queue=queue)
            if (priority is None or job.priority == priority)
            and (wanted_delay is None or abs(job.delay - wanted_delay) <= tolerance)
            and all(name in job.fields and job.fields[name] == value for name, value in expected.items())
        ]

    def _listing(self) -> str:
        jobs = self.enqueued_jobs()
        if not jobs:
            return "Nothing was enqueued."
        return "Enqueued:\n" + "\n".join(f"  - {job.describe()}" for job in jobs)

    # -- Running jobs inline. ----------------------------------------------------------------

    def perform_job(self, job_type: str, **fields: Any) -> Any:
        """Run one job's real work now, as a worker would: validated, JSON round trip, job context set.

        Nothing is enqueued and no id is taken; returns or raises what the work does.
        """
        return perform_job(job_type, **fields)

    def drain_jobs(self, queue: str | None = None, *, with_scheduled: bool = True) -> dict[str, int]:
        """Run the captured jobs, and the jobs those enqueue, until none are left; count runs per type.

        Jobs run one at a time in this thread, most urgent first, delays
        ignored (`with_scheduled=False` leaves delayed ones). A failing job is
        retried at once up to its attempts, as a worker would (without the
        backoff); when it fails for good it becomes a `FailedJob` row, as in
        production, and its exception is raised.
        """
        ran: Counter[str] = Counter()
        for _ in range(MAX_DRAIN_RUNS):
            pending = [job for job in self.enqueued_jobs(queue=queue) if with_scheduled or not job.delay]
            if not pending:
                return dict(ran)
            job = min(pending, key=lambda j: j.priority)
            self._take(job)
            ran[job.job_type] += 1
            self._run_with_retries(job)
        raise CaptureError(f"drain_jobs stopped after {MAX_DRAIN_RUNS} runs: jobs keep enqueueing new jobs")

    def _take(self, job: CapturedJob) -> None:
        """Remove a job from the capture (and its Postgres row), as a worker fetching it would."""
        with self._mutex:
            self._entries.pop(job.message_id, None)
            self._consumed.add(job.message_id)
            if job.outcome is JobOutcome.SCHEDULED:
                # A delayed job's id is held for it; running it makes the id its own until it is over.
                self._locks[job.id] = (job.message_id, self._locks.get(job.id, ("", time.monotonic()))[1])
        if job.outcome in (JobOutcome.ON_COMMIT, JobOutcome.SCHEDULED):
            from gifting_jobs.models import HeldJob

            HeldJob.objects.filter(message_id=job.message_id).delete()

    def _run_with_retries(self, job: CapturedJob) -> None:
        from gifting_jobs.dead_letters import record_failure
        from gifting_jobs.models import FailedJobReason

        message = job.message
        spec = get_spec(job.job_type)
        attempts = int(message.options.get("attempts", spec.retry.attempts))
        try:
            for failures in itertools.count(1):
                try:
                    _run_once(message)
                    return
                except Exception as exc:
                    message = message.copy(options={"retries": failures})
                    final = spec.final_failure(exc, failures=failures, attempts=attempts)
                    if final is not None:
                        record_failure(
                            message,
                            reason=FailedJobReason(final),
                            error_class=f"{type(exc).__module__}.{type(exc).__qualname__}",
                            error_message=str(exc),
                        )
                        raise
        finally:
            # After the last run, as a worker frees it on ack: an equal job enqueued by the work itself dedupes.
            self.finish(job.id, job.message_id)


def _captured(entry: _Entry) -> CapturedJob:
    message = entry.message
    spec = get_spec(message.actor_name)
    return CapturedJob(
        id=message.options["job_id"],
        job_type=message.actor_name,
        queue=logical_queue(message.queue_name),
        physical_queue=message.queue_name,
        priority=message.options["priority"],
        payload=spec.payload_model.model_validate(message.args[0]),
        outcome=entry.outcome,
        delay=entry.delay,
        eta=entry.enqueued_at + entry.delay if entry.delay else None,
        message_id=message.message_id,
        message=message,
    )


def perform_job(job_type: str, **fields: Any) -> Any:
    """Run one job's real work now: validated as `enqueue` does, JSON round trip, job context set.

    Works with or without a capture (jobs the work enqueues go where enqueue sends them).
    """
    return _run_once(dispatch.message_for(job_type, fields))


def _run_once(message: Message[Any]) -> Any:
    """One run of a message's work as the actor does it, after the broker's JSON round trip."""
    delivered = Message.decode(message.encode())
    spec = get_spec(delivered.actor_name)
    token = current_job.set(JobContext.of(delivered))
    try:
        return import_string(spec.work)(spec.payload_model.model_validate(delivered.args[0]))
    finally:
        current_job.reset(token)


def _describe_wanted(
    job_type: str, priority: int | None, queue: str | None, delay: timedelta | float | None, fields: dict[str, Any]
) -> str:
    parts = [job_type]
    parts += [f"{name}={value!r}" for name, value in fields.items()]
    parts += [
        f"{name}={value!r}"
        for name, value in (("priority", priority), ("queue", queue), ("delay", delay))
        if value is not None
    ]
    return " ".join(parts)


_installed: list[JobCapture] = []


@contextmanager
def capture_jobs(*, inline: bool = False) -> Iterator[JobCapture]:
    """Capture every job enqueued inside the block; nothing reaches the broker. Nests.

    `inline=True` runs each job as it is sent, in the enqueuing thread: at once
    outside a transaction, at commit inside one (jobs delayed beyond the
    horizon stay captured); a job's final exception propagates to the sender.
    """
    capture = JobCapture(inline=inline)
    previous = dispatch.install_sink(capture)
    _installed.append(capture)
    try:
        yield capture
    finally:
        _installed.remove(capture)
        dispatch.install_sink(previous)


def current_capture() -> JobCapture:
    """The innermost capture installed, for the module-level helpers."""
    if not _installed:
        raise CaptureError("no job capture is installed: use the `jobs` fixture, `capture_jobs()`, or JobsTestMixin")
    return _installed[-1]


def assert_enqueued(
    job_type: str,
    *,
    priority: int | None = None,
    queue: str | None = None,
    delay: timedelta | float | None = None,
    delay_tolerance: timedelta = DEFAULT_DELAY_TOLERANCE,
    count: int | None = None,
    **payload_fields: Any,
) -> list[CapturedJob]:
    """`JobCapture.assert_enqueued` on the current capture."""
    return current_capture().assert_enqueued(
        job_type,
        priority=priority,
        queue=queue,
        delay=delay,
        delay_tolerance=delay_tolerance,
        count=count,
        **payload_fields,
    )


def refute_enqueued(
    job_type: str,
    *,
    priority: int | None = None,
    queue: str | None = None,
    delay: timedelta | float | None = None,
    delay_tolerance: timedelta = DEFAULT_DELAY_TOLERANCE,
    **payload_fields: Any,
) -> None:
    """`JobCapture.refute_enqueued` on the current capture."""
    current_capture().refute_enqueued(
        job_type, priority=priority, queue=queue, delay=delay, delay_tolerance=delay_tolerance, **payload_fields
    )


def enqueued_jobs(job_type: str | None = None, *, queue: str | None = None) -> list[CapturedJob]:
    """`JobCapture.enqueued_jobs` on the current capture."""
    return current_capture().enqueued_jobs(job_type, queue=queue)


def drain_jobs(queue: str | None = None, *, with_scheduled: bool = True) -> dict[str, int]:
    """`JobCapture.drain_jobs` on the current capture."""
    return current_capture().drain_jobs(queue, with_scheduled=with_scheduled)
