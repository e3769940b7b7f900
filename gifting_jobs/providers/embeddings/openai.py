"""OpenAI embeddings (`text-embedding-3-small` with `dimensions=256` by default), batched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import PermanentJobError
from gifting_jobs.providers.embeddings.base import EmbeddingProvider
from gifting_jobs.providers.openai_client import build_client, openai_errors

if TYPE_CHECKING:
    import openai


class OpenAIEmbeddingProvider(EmbeddingProvider):
    """Embeds through `embeddings.create`, `EMBEDDING_BATCH_SIZE` texts per request.

    Vectors come back in input order (the answer is sorted by `index`) and
    unit length (normalised here too, so a model that does not normalise
    cannot skew cosine scores). `model_name` is "openai:<model>:<dimensions>".
    Errors are `TransientJobError` / `PermanentJobError` (see `openai_client`).
    """

    is_remote = True
    required_modules = ("openai",)

    def __init__(
        self,
        *,
        dimensions: int,
        model: str | None = None,
        batch_size: int | None = None,
        client: openai.OpenAI | None = None,
    ) -> None:
        conf = get_settings()
        self.model = model or conf.EMBEDDING_MODEL
        self.dimensions = dimensions
        self.max_batch_size = batch_size or conf.EMBEDDING_BATCH_SIZE
        self.model_name = f"openai:{self.model}:{dimensions}"
        self._client = client or build_client(conf)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.max_batch_size):
            vectors.extend(self._embed_batch(list(texts[start : start + self.max_batch_size])))
        return vectors

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        with openai_errors("embeddings"):
            response = self._client.embeddings.create(model=self.model, input=batch, dimensions=self.dimensions)
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(batch))):
            raise PermanentJobError(
                f"OpenAI embeddings: asked for {len(batch)} vectors, got indexes {[item.index for item in data]}"
            )
        matrix = np.asarray([item.embedding for item in data], dtype=np.float64)
        if matrix.shape[1] != self.dimensions:
            raise PermanentJobError(
                f"OpenAI embeddings: model {self.model!r} returned {matrix.shape[1]}-dim vectors, "
                f"{self.dimensions} were asked for (does the model support `dimensions`?)"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if not np.all(norms > 0):
            raise PermanentJobError("OpenAI embeddings: the answer holds a zero vector")
        vectors: list[list[float]] = (matrix / norms).tolist()
        return vectors
