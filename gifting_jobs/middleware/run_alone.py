"""The gate that lets a quarantined job run alone in its worker process.

A crash kills every job running in the process. For the crash to be blamed
on the quarantined job alone, nothing else may run beside it: it waits for the
running jobs to finish, and new ones wait until it is done. Both waits are
bounded, so a stuck job can only make blame less precise, never stop a worker.
"""

from __future__ import annotations

import threading
import time

#: Longest a job waits at the gate (seconds), either side; past it, it runs anyway.
DEFAULT_MAX_WAIT_SECONDS = 30.0


class RunAloneGate:
    """A readers-writer gate with writer preference: shared for normal jobs, exclusive for quarantined ones."""

    def __init__(self, *, max_wait: float = DEFAULT_MAX_WAIT_SECONDS) -> None:
        self.max_wait = max_wait
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._writers_waiting = 0
        self._held = threading.local()

    def enter(self, *, alone: bool) -> None:
        """Take the gate for the calling thread's job (alone: exclusively); returns after at most `max_wait`."""
        deadline = time.monotonic() + self.max_wait
        with self._cond:
            if alone:
                self._writers_waiting += 1
                try:
                    self._cond.wait_for(lambda: not self._shared and not self._exclusive, _left(deadline))
                finally:
                    self._writers_waiting -= 1
                self._exclusive = True
                self._held.mode = "alone"
            else:
                self._cond.wait_for(lambda: not self._exclusive and not self._writers_waiting, _left(deadline))
                self._shared += 1
                self._held.mode = "shared"

    def leave(self) -> None:
        """Give back what the calling thread took, if anything (idempotent)."""
        mode = getattr(self._held, "mode", None)
        if mode is None:
            return
        self._held.mode = None
        with self._cond:
            if mode == "alone":
                self._exclusive = False
            else:
                self._shared = max(0, self._shared - 1)
            self._cond.notify_all()


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
