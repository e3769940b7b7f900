"""Fixtures of the provider tests: OpenAI providers built against the fake OpenAI server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gifting_jobs.providers.embeddings.openai import OpenAIEmbeddingProvider
from gifting_jobs.providers.enrichment.openai import OpenAIEnrichmentProvider
from tests.fake_openai import FakeOpenAI, openai_settings


@pytest.fixture
def openai_embeddings(fake_openai: FakeOpenAI, settings: Any) -> Callable[..., OpenAIEmbeddingProvider]:
    """Build an `OpenAIEmbeddingProvider` on the fake server; keyword args are GIFTING_JOBS overrides."""

    def build(**overrides: Any) -> OpenAIEmbeddingProvider:
        settings.GIFTING_JOBS = openai_settings(fake_openai, settings.GIFTING_JOBS, **overrides)
        return OpenAIEmbeddingProvider(dimensions=settings.GIFTING_JOBS.get("EMBEDDING_DIMENSIONS", 256))

    return build


@pytest.fixture
def openai_enrichment(fake_openai: FakeOpenAI, settings: Any) -> Callable[..., OpenAIEnrichmentProvider]:
    """Build an `OpenAIEnrichmentProvider` on the fake server; keyword args are GIFTING_JOBS overrides."""

    def build(**overrides: Any) -> OpenAIEnrichmentProvider:
        settings.GIFTING_JOBS = openai_settings(fake_openai, settings.GIFTING_JOBS, **overrides)
        return OpenAIEnrichmentProvider()

    return build
