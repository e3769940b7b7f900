"""The embedding provider interface shared by products and taste profiles."""

from __future__ import annotations

from collections.abc import Sequence


class EmbeddingProvider:
    """Turns texts into unit-length vectors of `dimensions` floats.

    `model_name` is recorded with every vector: two vectors are comparable only
    when their model names are equal, so a change of provider, model or
    dimension is detected instead of silently mixing vector spaces.
    """

    #: Recorded with every vector, e.g. "wordllama:l2_supercat:256".
    model_name: str = ""
    dimensions: int = 0
    #: Largest number of texts one `embed` call sends at once.
    max_batch_size: int = 64
    #: Whether the provider calls a remote service (and so can fail transiently).
    is_remote: bool = False

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        raise NotImplementedError

    def embed_one(self, text: str) -> list[float]:
        return self.embed([text])[0]
