"""Push backends, selected by dotted path like Django's email backends (`GIFTING_JOBS["PUSH_BACKEND"]`)."""

from __future__ import annotations

from django.utils.module_loading import import_string

from gifting_jobs.conf import get_settings
from gifting_jobs.providers.push.base import PushBackend, PushMessage, PushResult


def get_push_backend() -> PushBackend:
    """A new instance of the configured push backend."""
    return import_string(get_settings().PUSH_BACKEND)()


__all__ = ["PushBackend", "PushMessage", "PushResult", "get_push_backend"]
