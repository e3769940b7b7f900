"""The shared batching loop of the backfills."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gifting_jobs.exceptions import ValidationError
from gifting_jobs.work.batching import check_batch_size, process_in_batches


def test_process_in_batches__hands_full_batches_then_the_rest():
    handled: list[list[int]] = []
    progress: list[int] = []

    done = process_in_batches(
        range(7), batch_size=3, handle=lambda b: handled.append(list(b)) or len(b), on_batch=progress.append
    )

    assert handled == [[0, 1, 2], [3, 4, 5], [6]]
    assert progress == [3, 3, 1]
    assert done == 7


def test_process_in_batches__closes_the_source_when_a_batch_fails():
    closed: list[bool] = []

    def rows() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            closed.append(True)  # Where a queryset iterator closes its server-side cursor.

    def handle(batch: list[int]) -> int:
        raise RuntimeError("provider down")

    source = rows()  # Still referenced, as a traceback or a caller may keep it.
    with pytest.raises(RuntimeError, match="provider down"):
        process_in_batches(source, batch_size=2, handle=handle)
    assert closed == [True]


def test_check_batch_size__rejects_below_one():
    with pytest.raises(ValidationError, match="batch_size"):
        check_batch_size(0)
