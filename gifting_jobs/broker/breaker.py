"""A circuit breaker for enqueues: after Redis failed to answer, fail fast for a short window.

A Redis that accepts connections but never answers costs each command its full
socket timeout. Once one enqueue has paid it, the next ones in this process go
straight to Postgres (`held`) without waiting, until the window ends and one
enqueue tries Redis again.
"""

from __future__ import annotations

import threading
import time

import redis

#: Seconds enqueues fail fast after Redis did not answer one.
DEFAULT_OPEN_SECONDS = 5.0


class BrokerUnavailable(redis.ConnectionError):
    """Raised without touching Redis while the breaker is open (a `redis.ConnectionError`)."""


class CircuitBreaker:
    """Per-process breaker state: closed (try Redis) or open until a monotonic deadline."""

    def __init__(self, *, open_seconds: float = DEFAULT_OPEN_SECONDS) -> None:
        self.open_seconds = open_seconds
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def check(self) -> None:
        """Raise `BrokerUnavailable` while open; a no-op when closed (no clock read: a hot path)."""
        if self._open_until and self.is_open:
            raise BrokerUnavailable(
                f"Redis did not answer an enqueue in the last {self.open_seconds:g} s: not tried again yet"
            )

    def trip(self) -> None:
        """Redis failed to answer: open for `open_seconds` from now."""
        with self._lock:
            self._open_until = time.monotonic() + self.open_seconds

    def reset(self) -> None:
        """Redis answered: close."""
        if self._open_until:
            with self._lock:
                self._open_until = 0.0
