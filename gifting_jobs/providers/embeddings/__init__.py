"""Embedding providers: `get_embedding_provider()` returns the configured one.

`GIFTING_JOBS["EMBEDDING_PROVIDER"]` is "local" (offline wordllama, the
default), "openai", "test" (the recording provider for tests), or the dotted
path of an `EmbeddingProvider` subclass.
"""

from __future__ import annotations

import threading

from django.utils.module_loading import import_string

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ConfigurationError
from gifting_jobs.providers.embeddings.base import EmbeddingProvider

#: Short names accepted in EMBEDDING_PROVIDER.
ALIASES = {
    "local": "gifting_jobs.providers.embeddings.local.LocalEmbeddingProvider",
    "openai": "gifting_jobs.providers.embeddings.openai.OpenAIEmbeddingProvider",
    "test": "gifting_jobs.providers.embeddings.test.RecordingEmbeddingProvider",
}

_cache: tuple[object, EmbeddingProvider] | None = None
# Worker threads share one provider (and its HTTP pool, its recorded calls).
_cache_lock = threading.Lock()


def get_embedding_provider() -> EmbeddingProvider:
    """The configured provider, built once per settings object."""
    global _cache
    settings = get_settings()
    with _cache_lock:
        if _cache is not None and _cache[0] is settings:
            return _cache[1]
        path = ALIASES.get(settings.EMBEDDING_PROVIDER, settings.EMBEDDING_PROVIDER)
        try:
            provider_class = import_string(path)
        except ImportError as exc:
            raise ConfigurationError(
                f"EMBEDDING_PROVIDER {settings.EMBEDDING_PROVIDER!r} cannot be imported ({exc}); "
                f"use one of {', '.join(ALIASES)} or a dotted path"
            ) from None
        provider = provider_class(dimensions=settings.EMBEDDING_DIMENSIONS)
        _cache = (settings, provider)
        return provider


__all__ = ["EmbeddingProvider", "get_embedding_provider"]
