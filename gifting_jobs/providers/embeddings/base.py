"""The embedding provider interface shared by products and taste profiles."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ConfigurationError, ProviderRateLimited, TransientJobError
from gifting_jobs.ratelimits import waiting_for_turns
from gifting_jobs.retry_policy import RetryPolicy, retry_after_seconds

logger = logging.getLogger(__name__)

#: Retries of one bulk `embed` call outside the job spine (backfills): rate limits are
#: expected when thousands of rows are embedded at once.
BULK_RETRY = RetryPolicy(attempts=4, min_backoff=timedelta(seconds=2), max_backoff=timedelta(seconds=30))


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
    #: Modules the provider imports when used; `manage.py check` reports a missing one.
    required_modules: tuple[str, ...] = ()
    #: The optional dependency that installs them: `pip install "gifting-jobs[<extra>]"`.
    extra: str | None = None

    def __init__(self, *, dimensions: int) -> None:
        """Every provider is built with `dimensions=` (`EMBEDDING_DIMENSIONS`), by `get_embedding_provider`."""
        self.dimensions = dimensions

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        raise NotImplementedError

    def embed_one(self, text: str) -> list[float]:
        return self.embed([text])[0]

    def embed_with_retries(
        self,
        texts: Sequence[str],
        *,
        policy: RetryPolicy = BULK_RETRY,
    ) -> list[list[float]]:
        """`embed`, retrying a `TransientJobError` with backoff (never shorter than the server's Retry-After).

        For bulk work that runs outside the job spine (backfills); jobs call
        `embed` and let the spine retry. The backoff is scaled by
        `RETRY_BACKOFF_SCALE`. The last error is raised when `policy.attempts` are spent.
        Rate limits cost no attempt: a call waits for its turn, and a 429 waits out the cooldown.
        """
        attempt = 1
        while True:
            try:
                with waiting_for_turns():
                    return self.embed(texts)
            except ProviderRateLimited as exc:
                logger.info("%s: %s; waiting", self.model_name, exc, extra={"embedding_model": self.model_name})
                time.sleep(exc.retry_after or 0.0)
            except TransientJobError as exc:
                if attempt >= policy.attempts:
                    raise
                backoff = policy.backoff_ms(attempt) / 1000 * get_settings().RETRY_BACKOFF_SCALE
                delay = max(backoff, retry_after_seconds(exc) or 0.0)
                logger.warning(
                    "%s: %s; retrying %d texts in %.1f s",
                    self.model_name,
                    exc,
                    len(texts),
                    delay,
                    extra={"embedding_model": self.model_name, "attempt": attempt},
                )
                time.sleep(delay)
                attempt += 1


def require_dimensions(provider: str, fixed: int, requested: int) -> None:
    """Raise `ConfigurationError` unless EMBEDDING_DIMENSIONS is the `fixed` size an offline model makes."""
    if requested != fixed:
        raise ConfigurationError(
            f"the {provider} embedding provider makes {fixed}-dim vectors, EMBEDDING_DIMENSIONS is "
            f"{requested}: use EMBEDDING_PROVIDER 'openai' or set it to {fixed}"
        )


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """The rows made unit length (a zero row stays zero): embeddings are compared by cosine."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: np.ndarray = vectors / np.where(norms == 0, 1.0, norms)
    return result
