"""The bench's synthetic catalog space, and an embedding provider that lives in it.

Products of `bench/recommendations.py` get clustered vectors and texts drawn
from a vocabulary per topic and cluster. `ClusterEmbeddingProvider` embeds
such texts into the same space (a word of cluster c lands near c's centre),
so a profile's phrase vectors relate to the products as real embeddings
would: interest and dislike signals are computed on vectors that mean
something, not on noise.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache

import numpy as np

from gifting_jobs.providers.embeddings.base import EmbeddingProvider

#: The synthetic catalog is clustered on two levels, as real embeddings are: TOPICS broad
#: topics, each with CLUSTERS / TOPICS product clusters around it (cluster centres have cosine
#: ~0.67 with the other centres of their topic, ~0 across topics), products scattered around
#: their cluster centre (noise norm 0.8: cosine ~0.6 within a cluster, ~0.4 within a topic).
TOPICS, CLUSTERS = 50, 1000
CLUSTER_SPREAD, NOISE = 0.7, 0.8
#: Words of the synthetic vocabulary: per topic, per cluster, and shared by all products.
TOPIC_WORDS, CLUSTER_WORDS, COMMON_WORDS = 8, 6, 40
#: Words in a product's title and description, and interest phrases per profile.
TITLE_WORDS, DESCRIPTION_WORDS, INTEREST_PHRASES = 4, 12, 3
SEED = 2026
#: Vector size of the bench (the migration's).
DIMENSIONS = 256
#: Spread of one word's vector around its cluster or topic centre.
WORD_NOISE = 0.5
_CLUSTER_WORD = re.compile(r"^t(\d+)c(\d+)w\d+$")
_TOPIC_WORD = re.compile(r"^t(\d+)w\d+$")


def clustered_centres(rng: np.random.Generator, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """TOPICS unit topic vectors, and CLUSTERS unit cluster centres grouped around them."""
    topics = rng.normal(size=(TOPICS, dims))
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    centres = topics[np.arange(CLUSTERS) % TOPICS] + rng.normal(size=(CLUSTERS, dims)) * CLUSTER_SPREAD / np.sqrt(dims)
    return topics, centres / np.linalg.norm(centres, axis=1, keepdims=True)


def topic_word(topic: int, n: int) -> str:
    return f"t{topic}w{n}"


def cluster_word(cluster: int, n: int) -> str:
    return f"t{cluster % TOPICS}c{cluster}w{n}"


def product_text(cluster: int, rng: np.random.Generator) -> tuple[str, str]:
    """A title and a description: words of the product's cluster and topic, and common words."""
    topic = cluster % TOPICS

    def words(count: int) -> list[str]:
        kinds = rng.integers(0, 3, size=count)
        return [
            cluster_word(cluster, int(rng.integers(CLUSTER_WORDS)))
            if kind == 0
            else topic_word(topic, int(rng.integers(TOPIC_WORDS)))
            if kind == 1
            else f"common{int(rng.integers(COMMON_WORDS))}"
            for kind in kinds
        ]

    return " ".join(words(TITLE_WORDS)).capitalize(), " ".join(words(DESCRIPTION_WORDS)) + "."


def interest_phrases(cluster: int, rng: np.random.Generator) -> list[str]:
    """A profile's interests: two-word phrases of its cluster's and topic's words."""
    return [
        f"{cluster_word(cluster, int(rng.integers(CLUSTER_WORDS)))} {topic_word(cluster % TOPICS, int(rng.integers(TOPIC_WORDS)))}"
        for _ in range(INTEREST_PHRASES)
    ]


@cache
def space(dims: int = DIMENSIONS) -> tuple[np.ndarray, np.ndarray]:
    """The topic vectors and cluster centres of the bench, the same on every call."""
    return clustered_centres(np.random.default_rng(SEED), dims)


def word_vector(word: str, dims: int = DIMENSIONS) -> np.ndarray:
    """A word near its cluster's (or topic's) centre; any other word a fixed random direction."""
    topics, centres = space(dims)
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big"))
    noise = rng.normal(size=dims) / np.sqrt(dims)
    if match := _CLUSTER_WORD.match(word):
        return centres[int(match.group(2)) % CLUSTERS] + WORD_NOISE * noise
    if match := _TOPIC_WORD.match(word):
        return topics[int(match.group(1)) % TOPICS] + WORD_NOISE * noise
    return noise * np.sqrt(dims)


class ClusterEmbeddingProvider(EmbeddingProvider):
    """Embeds bench texts as the normalised mean of their words' vectors (deterministic, offline)."""

    max_batch_size = 1024

    def __init__(self, *, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions
        self.model_name = f"bench:clusters-{TOPICS}-{CLUSTERS}-{SEED}:{dimensions}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            words = re.findall(r"[a-z0-9]+", text.lower()) or ["empty"]
            vector = np.mean([word_vector(w, self.dimensions) for w in words], axis=0)
            vectors.append((vector / (np.linalg.norm(vector) or 1.0)).tolist())
        return vectors
