"""Paused logical queues: a set in Redis, a copy in each worker process that its consumers check before a fetch.

Pausing a queue (`pause_queue`) adds its name to `ns:gj:paused`; consumers of
every band and of the quarantine lane of that queue stop fetching. What a
worker already fetched still runs: its prefetched messages and the jobs it is
running finish and are acknowledged as usual, so nothing is lost and nothing
runs twice. Delayed messages and retries of a paused queue come due into its
ready list as usual and wait there with the rest.

The check costs no round trip: each worker process keeps the paused names in
memory (`PausedQueues`), loaded at boot and refreshed by its registry thread
(`registry`) about every second. A consumer of a paused queue waits on that
copy, so a resume wakes it as soon as its process sees the change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import redis

from gifting_jobs.broker.bands import logical_queue
from gifting_jobs.broker.keys import QUARANTINE_SUFFIX, KeyLayout, is_auxiliary_queue


def pause_name(physical: str) -> str:
    """The logical queue whose pause stops consumers of `physical` (a band, a delay queue or a quarantine lane)."""
    return logical_queue(physical).removesuffix(QUARANTINE_SUFFIX)


class PausedQueues:
    """This process's copy of the paused logical queue names, and a way to wait for it to change.

    Reads on the fetch path take no lock (the names are one immutable set,
    swapped whole); waits do, so a change between the check and the wait is never missed.
    """

    def __init__(self) -> None:
        self._names: frozenset[str] = frozenset()
        self._changed = threading.Condition()
        #: Counts updates, so a read from Redis older than a local change does not undo it.
        self.generation = 0

    @property
    def names(self) -> frozenset[str]:
        return self._names

    def __contains__(self, logical: object) -> bool:
        return logical in self._names

    def update(self, names: Iterable[str], *, since: int | None = None) -> bool:
        """Replace the names; wake waiting consumers if they changed. Returns whether they did.

        `since`: the `generation` when the names were read from Redis; if this
        process paused or resumed a queue after that, the stale read is dropped.
        """
        new = frozenset(names)
        with self._changed:
            if since is not None and since != self.generation:
                return False
            self.generation += 1
            if new == self._names:
                return False
            self._names = new
            self._changed.notify_all()
        return True

    def wait_if_paused(self, logical: str, timeout: float) -> bool:
        """If `logical` is paused, wait up to `timeout` seconds for a change (or a nudge) and return True."""
        if logical not in self._names:
            return False
        with self._changed:
            if logical in self._names:
                self._changed.wait(timeout)
        return True

    def nudge(self) -> None:
        """End every wait now (the worker pauses or stops)."""
        with self._changed:
            self._changed.notify_all()


class QueuePausing:
    """`pause_queue`, `resume_queue` and `paused_queues` of the broker. Mixed into `RedisBroker`."""

    client: redis.Redis
    keys: KeyLayout

    def _init_pausing(self) -> None:
        #: The paused queues as this process last saw them (what its consumers obey).
        self.paused = PausedQueues()

    def pause_queue(self, name: str) -> bool:
        """Stop workers fetching from the logical queue `name` (all its bands); returns False if it was paused.

        Workers in other processes obey within about a second (see `registry`).
        """
        _check_logical(name)
        added = bool(self.client.sadd(self.keys.paused, name))
        self.paused.update(self.paused.names | {name})
        return added

    def resume_queue(self, name: str) -> bool:
        """Let workers fetch from `name` again; returns False if it was not paused."""
        _check_logical(name)
        removed = bool(self.client.srem(self.keys.paused, name))
        self.paused.update(self.paused.names - {name})
        return removed

    def paused_queues(self) -> set[str]:
        """The paused logical queues, read from Redis."""
        return {m.decode() if isinstance(m, bytes) else str(m) for m in self.client.smembers(self.keys.paused)}

    def refresh_paused(self) -> bool:
        """Load the paused queues from Redis into this process's copy; returns whether it changed."""
        since = self.paused.generation
        return self.paused.update(self.paused_queues(), since=since)


def _check_logical(name: str) -> None:
    if not name or is_auxiliary_queue(name) or logical_queue(name) != name:
        raise ValueError(f"{name!r} is not a logical queue name (pause a queue, not one of its bands or lanes)")
