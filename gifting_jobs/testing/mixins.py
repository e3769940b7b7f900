"""The unittest face of the job capture: a mixin for Django `TestCase` classes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gifting_jobs.testing.capture import DEFAULT_DELAY_TOLERANCE, CapturedJob, JobCapture, capture_jobs


class JobsTestMixin:
    """Captures every job a test enqueues (nothing reaches Redis) and adds the capture's helpers.

    `class MyTests(JobsTestMixin, TestCase): ...` then `self.assert_enqueued(...)`,
    `self.refute_enqueued(...)`, `self.enqueued_jobs()`, `self.perform_job(...)`,
    `self.drain_jobs()`; `self.jobs` is the `JobCapture`.
    """

    jobs: JobCapture

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        context = capture_jobs()
        self.jobs = context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)  # type: ignore[attr-defined]

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
        return self.jobs.assert_enqueued(
            job_type,
            priority=priority,
            queue=queue,
            delay=delay,
            delay_tolerance=delay_tolerance,
            count=count,
            **payload_fields,
        )

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
        self.jobs.refute_enqueued(
            job_type, priority=priority, queue=queue, delay=delay, delay_tolerance=delay_tolerance, **payload_fields
        )

    def enqueued_jobs(self, job_type: str | None = None, *, queue: str | None = None) -> list[CapturedJob]:
        return self.jobs.enqueued_jobs(job_type, queue=queue)

    def perform_job(self, job_type: str, **fields: Any) -> Any:
        return self.jobs.perform_job(job_type, **fields)

    def drain_jobs(self, queue: str | None = None, *, with_scheduled: bool = True) -> dict[str, int]:
        return self.jobs.drain_jobs(queue, with_scheduled=with_scheduled)
