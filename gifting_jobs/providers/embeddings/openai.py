"""OpenAI embeddings (`text-embedding-3-small` with `dimensions=256` by default), batched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import PermanentJobError
from gifting_jobs.providers.embeddings.base import EmbeddingProvider
from gifting_jobs.providers.openai_client import build_client, openai_errors
from gifting_jobs.ratelimits import OPENAI_EMBEDDINGS, batch_token_cap, estimate_tokens, limited_call, pack

if TYPE_CHECKING:
    import openai


class OpenAIEmbeddingProvider(EmbeddingProvider):
    """Embeds through `embeddings.create`, up to `EMBEDDING_BATCH_SIZE` texts per request.

    Each request is one call of the "openai.embeddings" rate limits: its texts
    are packed up to the batch size and the tokens the window has left, so a
    backfill fills the quota instead of waiting for room for a full batch.

    Vectors come back in input order (the answer is sorted by `index`) and
    unit length (normalised here too, so a model that does not normalise
    cannot skew cosine scores). `model_name` is "openai:<model>:<dimensions>".
    Errors are `TransientJobError` / `PermanentJobError` (see `openai_client`).
    """

    is_remote = True
    required_modules = ("openai",)
    #: The `GIFTING_JOBS["RATE_LIMITS"]` key its requests count against.
    rate_limit_key = OPENAI_EMBEDDINGS

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
        while len(vectors) < len(texts):
            remaining = texts[len(vectors) :]
            # A single text needs no budget read: it is one call whatever is left.
            cap = batch_token_cap(self.rate_limit_key) if len(remaining) > 1 else None
            vectors.extend(self._embed_batch(pack(remaining, max_texts=self.max_batch_size, max_tokens=cap)))
        return vectors

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        with limited_call(self.rate_limit_key, tokens=estimate_tokens(batch)) as call, openai_errors("embeddings"):
            response = self._client.embeddings.create(model=self.model, input=batch, dimensions=self.dimensions)
            usage = getattr(response, "usage", None)
            if usage is not None and getattr(usage, "total_tokens", None) is not None:
                call.used_tokens = int(usage.total_tokens)
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
