"""The pgvector column shared by products and taste profiles."""

from __future__ import annotations

from django.conf import settings
from pgvector.django import HnswIndex, VectorField

from gifting_jobs.conf import DEFAULT_EMBEDDING_DIMENSIONS


def embedding_dimensions() -> int:
    """The vector dimension, read once at import: it is fixed by the migration."""
    return int((getattr(settings, "GIFTING_JOBS", {}) or {}).get("EMBEDDING_DIMENSIONS", DEFAULT_EMBEDDING_DIMENSIONS))


def embedding_field() -> VectorField:
    """A nullable vector column of the configured dimension."""
    return VectorField(dimensions=embedding_dimensions(), null=True, blank=True)


def hnsw_cosine_index(name: str) -> HnswIndex:
    """The HNSW cosine index every vector column gets (m=16, ef_construction=64)."""
    return HnswIndex(name=name, fields=["embedding"], m=16, ef_construction=64, opclasses=["vector_cosine_ops"])
