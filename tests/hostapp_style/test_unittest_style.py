"""The same helpers for a host project on Django's `TestCase`: `JobsTestMixin`."""

from __future__ import annotations

from django.test import TestCase

from gifting_jobs.jobs import enqueue_curated_collections
from gifting_jobs.testing import JobsTestMixin
from tests.hostapp_style.tasks import notify_editor


class CollectionsTests(JobsTestMixin, TestCase):
    def test_enqueues_are_captured_and_deduplicated(self) -> None:
        first = enqueue_curated_collections("home", "2026-12-24", triggered_by="manual", delay=60_000)
        again = enqueue_curated_collections("home", "2026-12-24", triggered_by="manual")

        self.assertTrue(again.deduplicated)
        self.assert_enqueued("curated_collections", surface="home", target_date="2026-12-24", delay=60_000)
        self.assertEqual([job.id for job in self.enqueued_jobs()], [first.id])

    def test_a_task_is_drained_inline(self) -> None:
        notify_editor.enqueue("editor@example.com", "Tea set")

        self.assertEqual(self.drain_jobs(), {"django_task": 1})
        self.refute_enqueued("django_task")
