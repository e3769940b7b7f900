"""Embedding providers: `get_embedding_provider()` returns the configured one.

`GIFTING_JOBS["EMBEDDING_PROVIDER"]` is "local" (offline all-MiniLM-L6-v2, the
default; also "minilm"), "wordllama" (offline, static, faster and less
relevant), "openai", "test" (the recording provider for tests), or the dotted
path of an `EmbeddingProvider` subclass.
"""

from __future__ import annotations

from gifting_jobs.providers.configured import ConfiguredProvider
from gifting_jobs.providers.embeddings.base import EmbeddingProvider

#: Short names accepted in EMBEDDING_PROVIDER.
ALIASES = {
    "local": "gifting_jobs.providers.embeddings.minilm.MiniLMEmbeddingProvider",
    "minilm": "gifting_jobs.providers.embeddings.minilm.MiniLMEmbeddingProvider",
    "wordllama": "gifting_jobs.providers.embeddings.wordllama.WordLlamaEmbeddingProvider",
    "openai": "gifting_jobs.providers.embeddings.openai.OpenAIEmbeddingProvider",
    "test": "gifting_jobs.providers.embeddings.test.RecordingEmbeddingProvider",
}

_configured: ConfiguredProvider[EmbeddingProvider] = ConfiguredProvider(
    "EMBEDDING_PROVIDER",
    ALIASES,
    lambda provider_class, settings: provider_class(dimensions=settings.EMBEDDING_DIMENSIONS),
)


def get_embedding_provider() -> EmbeddingProvider:
    """The configured provider, built once per settings object."""
    return _configured.get()


__all__ = ["EmbeddingProvider", "get_embedding_provider"]
