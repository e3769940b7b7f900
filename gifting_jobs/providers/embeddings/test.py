"""A recording embedding provider for tests (like anymail's test backend).

Set `GIFTING_JOBS["EMBEDDING_PROVIDER"] = "test"`; the provider makes
deterministic unit vectors from a hash of each text (equal texts, equal
vectors; no model, no network) and records every call, so a test can assert
what was embedded, and that nothing was when the work should skip.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import numpy as np

from gifting_jobs.conf import DEFAULT_EMBEDDING_DIMENSIONS
from gifting_jobs.providers.embeddings.base import EmbeddingProvider

#: Bytes of the text hash that seed each vector's generator.
SEED_BYTES = 8


def hashed_unit_vector(text: str, dimensions: int) -> list[float]:
    """A unit vector drawn from a generator seeded by the SHA-256 of `text`."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:SEED_BYTES], "big")
    vector = np.random.default_rng(seed).standard_normal(dimensions)
    unit: list[float] = (vector / np.linalg.norm(vector)).tolist()
    return unit


class RecordingEmbeddingProvider(EmbeddingProvider):
    """Deterministic hash-seeded vectors; `calls` holds the texts of every `embed` call.

    Thread-safe: an in-process worker may call it from several threads.
    """

    # Keeps pytest from collecting this class when a test module imports it.
    __test__ = False

    def __init__(self, *, dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS) -> None:
        self.dimensions = dimensions
        self.model_name = f"test:sha256:{dimensions}"
        self._calls: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> list[tuple[str, ...]]:
        """The texts of each `embed` call so far, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def texts(self) -> list[str]:
        """Every text embedded so far, in order."""
        return [text for call in self.calls for text in call]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self._calls.append(tuple(texts))
        return [hashed_unit_vector(text, self.dimensions) for text in texts]
