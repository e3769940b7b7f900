"""Group commit: what concurrent threads each have to write, written together in one call.

A worker's threads acknowledge their messages one by one, each in its own
Redis round trip. Here a thread that acknowledges while another one's call is
in flight joins the next batch instead: when the call in flight returns, the
first thread of that batch sends every entry gathered meanwhile in one call,
and the others wait for that call. Each thread still returns only once its own
entry is written, or raises what the call raised, so a caller cannot tell a
batch from a call of its own. Nothing waits for a batch to fill: a thread
alone sends at once, and batches grow only with the load.

A thread must not be interrupted inside `submit` (an asynchronous exception
would leave its batch unsent and the ones after it waiting). Dramatiq delivers
those (time limits, shutdown) only while a job runs, never during its ack.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable


class _Batch[Entry]:
    """Entries sent in one call, the turn of its first thread to send them, and the outcome."""

    __slots__ = ("entries", "error", "sent", "turn")

    def __init__(self, entry: Entry) -> None:
        self.entries = [entry]
        self.turn = threading.Event()
        self.sent = threading.Event()
        self.error: BaseException | None = None


class GroupCommit[Entry]:
    """Calls `send` with the entries of concurrent `submit`s: one call in flight at a time."""

    def __init__(self, send: Callable[[list[Entry]], None]) -> None:
        self._send = send
        self._lock = threading.Lock()
        # The batch gathering entries while a call is in flight (None: nothing gathered yet).
        self._gathering: _Batch[Entry] | None = None
        self._in_flight = False

    def submit(self, entry: Entry) -> None:
        """Write `entry` (with whatever other threads submit meanwhile); raise what the write raised."""
        with self._lock:
            batch = self._gathering
            if batch is not None:
                batch.entries.append(entry)
                leads = False
            else:
                batch = _Batch(entry)
                leads = True
                if self._in_flight:
                    self._gathering = batch
                else:
                    self._in_flight = True
                    batch.turn.set()
        if not leads:
            batch.sent.wait()
            if batch.error is not None:
                # A copy each: one exception object raised in several threads would share a traceback.
                raise copy.copy(batch.error) from batch.error
            return
        batch.turn.wait()
        try:
            self._send(batch.entries)
        except BaseException as exc:
            batch.error = exc
            raise
        finally:
            self._pass_turn()
            batch.sent.set()

    def _pass_turn(self) -> None:
        """The call returned: the gathered batch's first thread sends next, or nothing is in flight."""
        with self._lock:
            following, self._gathering = self._gathering, None
            if following is None:
                self._in_flight = False
            else:
                following.turn.set()
