"""Enrichment providers: `get_enrichment_provider()` returns the configured one.

`GIFTING_JOBS["ENRICHMENT_PROVIDER"]` is "local" (offline zero-shot tagging,
the default), "openai" (structured output), "test" (the recording provider
for tests), or the dotted path of an `EnrichmentProvider` subclass.
"""

from __future__ import annotations

from gifting_jobs.providers.configured import ConfiguredProvider
from gifting_jobs.providers.enrichment.base import Enrichment, EnrichmentProvider

#: Short names accepted in ENRICHMENT_PROVIDER.
ALIASES = {
    "local": "gifting_jobs.providers.enrichment.local.LocalEnrichmentProvider",
    "openai": "gifting_jobs.providers.enrichment.openai.OpenAIEnrichmentProvider",
    "test": "gifting_jobs.providers.enrichment.test.RecordingEnrichmentProvider",
}

_configured: ConfiguredProvider[EnrichmentProvider] = ConfiguredProvider(
    "ENRICHMENT_PROVIDER", ALIASES, lambda provider_class, settings: provider_class()
)


def get_enrichment_provider() -> EnrichmentProvider:
    """The configured provider, built once per settings object."""
    return _configured.get()


__all__ = ["Enrichment", "EnrichmentProvider", "get_enrichment_provider"]
