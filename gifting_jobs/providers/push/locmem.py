"""A push backend that keeps messages in memory (`outbox`), like Django's locmem email backend."""

from __future__ import annotations

import threading
import uuid

from gifting_jobs.providers.push.base import PushBackend, PushMessage, PushResult

#: Every message sent through a LocmemPushBackend in this process.
outbox: list[PushMessage] = []
_lock = threading.Lock()


class LocmemPushBackend(PushBackend):
    def send(self, message: PushMessage) -> PushResult:
        with _lock:
            outbox.append(message)
        return PushResult(provider_message_id=f"locmem-{uuid.uuid4()}")
