"""Offline enrichment: zero-shot tagging by embedding similarity to the taxonomy.

Each taxonomy term is embedded once as "label: description" with the local
embedding model; a product's text is embedded and compared (cosine) with
every term. No network, no LLM, deterministic: good enough to theme
collections and match dislikes in development and demos.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from gifting_jobs.providers.embeddings.base import EmbeddingProvider
from gifting_jobs.providers.enrichment.base import Enrichment, EnrichmentProvider, first_sentence, one_line
from gifting_jobs.taxonomy import GIFT_TAGS, OCCASIONS, RECIPIENT_TYPES, Term, price_band


@dataclass(frozen=True)
class ZeroShotRule:
    """Which terms a text gets: the best one always, then others close enough to it.

    A term is kept when its similarity is at least `threshold` and at least
    `relative` times the best term's similarity, up to `max_terms`. The best
    term is kept even below the threshold, so a product never goes untagged.
    """

    threshold: float
    relative: float
    max_terms: int

    def select(self, terms: Sequence[Term], similarities: np.ndarray) -> tuple[str, ...]:
        order = np.argsort(-similarities, kind="stable")
        floor = max(self.threshold, self.relative * float(similarities[order[0]]))
        chosen = [terms[order[0]].slug]
        for index in order[1 : self.max_terms]:
            if similarities[index] < floor:
                break
            chosen.append(terms[index].slug)
        return tuple(chosen)


#: Calibrated on wordllama l2_supercat: a clear match scores 0.45-0.7 against its
#: tag, unrelated tags 0.1-0.3.
DEFAULT_TAG_RULE = ZeroShotRule(threshold=0.3, relative=0.6, max_terms=4)
#: Occasions and recipients score lower overall (their descriptions are short).
DEFAULT_OCCASION_RULE = ZeroShotRule(threshold=0.2, relative=0.8, max_terms=3)
DEFAULT_RECIPIENT_RULE = ZeroShotRule(threshold=0.2, relative=0.8, max_terms=3)


def term_text(term: Term) -> str:
    """What a taxonomy term is compared as: "label: description"."""
    return f"{term.label}: {term.description}"


class LocalEnrichmentProvider(EnrichmentProvider):
    """The offline default, on wordllama's embeddings whatever EMBEDDING_PROVIDER says.

    The summary is the first sentence of the description (else the title),
    on one line, at most 200 characters. The price band comes from the price.
    """

    is_remote = False
    is_deterministic = True
    required_modules = ("wordllama",)
    extra = "local"

    def __init__(
        self,
        *,
        embedding_provider: EmbeddingProvider | None = None,
        tag_rule: ZeroShotRule = DEFAULT_TAG_RULE,
        occasion_rule: ZeroShotRule = DEFAULT_OCCASION_RULE,
        recipient_rule: ZeroShotRule = DEFAULT_RECIPIENT_RULE,
    ) -> None:
        if embedding_provider is None:
            # Imported here: importing the local model module is cheap, loading it is not,
            # and other providers must not pay either.
            from gifting_jobs.providers.embeddings.wordllama import WordLlamaEmbeddingProvider

            embedding_provider = WordLlamaEmbeddingProvider()
        self._embeddings = embedding_provider
        self._rules = {"tags": tag_rule, "occasions": occasion_rule, "recipient_types": recipient_rule}
        self._families = {"tags": GIFT_TAGS, "occasions": OCCASIONS, "recipient_types": RECIPIENT_TYPES}
        self._term_vectors: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()
        self.name = f"local:zero-shot:{embedding_provider.model_name}"

    def _terms(self) -> dict[str, np.ndarray]:
        """The taxonomy's vectors, one matrix per family, embedded on first use."""
        with self._lock:
            if self._term_vectors is None:
                texts = [term_text(term) for terms in self._families.values() for term in terms]
                matrix = np.asarray(self._embeddings.embed(texts))
                vectors, start = {}, 0
                for family, terms in self._families.items():
                    vectors[family] = matrix[start : start + len(terms)]
                    start += len(terms)
                self._term_vectors = vectors
            return self._term_vectors

    def enrich(self, text: str, *, price: Decimal | None, description: str | None = None) -> Enrichment:
        terms = self._terms()
        vector = np.asarray(self._embeddings.embed_one(text))
        chosen = {
            family: rule.select(self._families[family], terms[family] @ vector) for family, rule in self._rules.items()
        }
        return Enrichment(**chosen, price_band=price_band(price), summary=summarize(text, description))


def summarize(text: str, description: str | None) -> str:
    """The description's first sentence, else the text's first line (the title), on one line."""
    if description and description.strip():
        return one_line(first_sentence(description))
    lines = [line for line in text.splitlines() if line.strip()]
    return one_line(lines[0]) if lines else ""
