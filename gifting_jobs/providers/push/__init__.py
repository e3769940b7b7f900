"""Push backends, selected like Django's email backends (`GIFTING_JOBS["PUSH_BACKEND"]`).

The setting is "console" (the default), "locmem", "http", or the dotted path
of a `PushBackend` subclass; it resolves through the same configured-provider
machinery as embeddings and enrichment, so a bad path is a `ConfigurationError`.
"""

from __future__ import annotations

from gifting_jobs.providers.configured import ConfiguredProvider
from gifting_jobs.providers.push.base import PushBackend, PushMessage, PushResult

#: Short names accepted in PUSH_BACKEND.
ALIASES = {
    "console": "gifting_jobs.providers.push.console.ConsolePushBackend",
    "locmem": "gifting_jobs.providers.push.locmem.LocmemPushBackend",
    "http": "gifting_jobs.providers.push.http.HttpPushBackend",
}

_configured: ConfiguredProvider[PushBackend] = ConfiguredProvider(
    "PUSH_BACKEND", ALIASES, lambda backend_class, settings: backend_class()
)


def get_push_backend() -> PushBackend:
    """The configured push backend, built once per settings object and shared by worker threads."""
    return _configured.get()


__all__ = ["PushBackend", "PushMessage", "PushResult", "get_push_backend"]
