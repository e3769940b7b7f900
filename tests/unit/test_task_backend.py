"""The django.tasks backend's pure parts: priority bands, and the stored status mirroring Django's."""

from __future__ import annotations

import pytest
from django.tasks import TaskResultStatus

from gifting_jobs.models import TaskStatus
from gifting_jobs.tasks.backend import spine_priority


@pytest.mark.parametrize(
    ("django_priority", "spine"),
    [(100, 1), (45, 3), (44, 4), (1, 5), (0, 5), (-1, 6), (-44, 7), (-45, 8), (-100, 10)],
)
def test_spine_priority__spreads_django_priorities_over_the_bands(django_priority, spine):
    assert spine_priority(django_priority) == spine


def test_spine_priority__never_inverts_an_order():
    levels = [spine_priority(p) for p in range(-100, 101)]
    assert levels == sorted(levels, reverse=True)


def test_task_status__mirrors_django_result_statuses():
    assert {s.value for s in TaskStatus} == {s.value for s in TaskResultStatus}
