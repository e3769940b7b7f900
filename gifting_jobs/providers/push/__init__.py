"""Push backends, selected by dotted path like Django's email backends (`GIFTING_JOBS["PUSH_BACKEND"]`)."""

from __future__ import annotations

from gifting_jobs.conf import get_settings
from gifting_jobs.providers.push.base import PushBackend, PushMessage, PushResult
from gifting_jobs.providers.requirements import resolve_provider_class

#: Short names accepted in PUSH_BACKEND (a dotted path works too).
ALIASES = {
    "console": "gifting_jobs.providers.push.console.ConsolePushBackend",
    "locmem": "gifting_jobs.providers.push.locmem.LocmemPushBackend",
    "http": "gifting_jobs.providers.push.http.HttpPushBackend",
}


def get_push_backend() -> PushBackend:
    """A new instance of the configured push backend."""
    return resolve_provider_class("PUSH_BACKEND", get_settings().PUSH_BACKEND, ALIASES)()


__all__ = ["PushBackend", "PushMessage", "PushResult", "get_push_backend"]
