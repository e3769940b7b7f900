"""A push backend that writes messages to stdout (development, demo)."""

from __future__ import annotations

import sys
import uuid

from gifting_jobs.providers.push.base import PushBackend, PushMessage, PushResult


class ConsolePushBackend(PushBackend):
    def send(self, message: PushMessage) -> PushResult:
        sys.stdout.write(f"[push] to user {message.user_id}: {message.title} — {message.body}\n")
        sys.stdout.flush()
        return PushResult(provider_message_id=f"console-{uuid.uuid4()}")
