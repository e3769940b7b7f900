"""Batched bulk work (backfills): one loop shared by every kind of embedded row."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable

from gifting_jobs.exceptions import ValidationError


def check_batch_size(batch_size: int) -> None:
    """Reject a batch size below 1 with a field error, before any work starts."""
    if batch_size < 1:
        raise ValidationError.for_field(
            "batch_size",
            "Input should be greater than 0",
            "greater_than",
            message=f"invalid batch_size: expected a positive integer, got {batch_size!r}",
        )


def process_in_batches[T](
    items: Iterable[T],
    *,
    batch_size: int,
    handle: Callable[[list[T]], int],
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Hand `items` to `handle` in lists of `batch_size`; returns the sum of what `handle` returned.

    `on_batch(n)` is called after each batch with its size (a progress bar).
    A generator of `items` is closed before this returns or raises: left
    suspended, its server-side cursor would be closed whenever the garbage
    collector gets to it, inside whatever transaction runs then.
    """
    done = 0
    batch: list[T] = []
    rows = iter(items)
    try:
        for item in rows:
            batch.append(item)
            if len(batch) >= batch_size:
                done += _flush(batch, handle, on_batch)
                batch = []
    finally:
        if isinstance(rows, Generator):
            rows.close()
    if batch:
        done += _flush(batch, handle, on_batch)
    return done


def _flush[T](batch: list[T], handle: Callable[[list[T]], int], on_batch: Callable[[int], None] | None) -> int:
    done = handle(batch)
    if on_batch is not None:
        on_batch(len(batch))
    return done
