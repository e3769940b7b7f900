"""Enrichment providers: `get_enrichment_provider()` returns the configured one.

`GIFTING_JOBS["ENRICHMENT_PROVIDER"]` is "local" (offline zero-shot tagging,
the default), "openai" (structured output), "test" (the recording provider
for tests), or the dotted path of an `EnrichmentProvider` subclass.
"""

from __future__ import annotations

import threading

from django.utils.module_loading import import_string

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ConfigurationError
from gifting_jobs.providers.enrichment.base import Enrichment, EnrichmentProvider

#: Short names accepted in ENRICHMENT_PROVIDER.
ALIASES = {
    "local": "gifting_jobs.providers.enrichment.local.LocalEnrichmentProvider",
    "openai": "gifting_jobs.providers.enrichment.openai.OpenAIEnrichmentProvider",
    "test": "gifting_jobs.providers.enrichment.test.RecordingEnrichmentProvider",
}

_cache: tuple[object, EnrichmentProvider] | None = None
# Worker threads share one provider (its taxonomy vectors, its HTTP pool, its recorded calls).
_cache_lock = threading.Lock()


def get_enrichment_provider() -> EnrichmentProvider:
    """The configured provider, built once per settings object."""
    global _cache
    settings = get_settings()
    with _cache_lock:
        if _cache is not None and _cache[0] is settings:
            return _cache[1]
        path = ALIASES.get(settings.ENRICHMENT_PROVIDER, settings.ENRICHMENT_PROVIDER)
        try:
            provider_class = import_string(path)
        except ImportError as exc:
            raise ConfigurationError(
                f"ENRICHMENT_PROVIDER {settings.ENRICHMENT_PROVIDER!r} cannot be imported ({exc}); "
                f"use one of {', '.join(ALIASES)} or a dotted path"
            ) from None
        provider = provider_class()
        _cache = (settings, provider)
        return provider


__all__ = ["Enrichment", "EnrichmentProvider", "get_enrichment_provider"]
