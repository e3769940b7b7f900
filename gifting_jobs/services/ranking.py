"""How hybrid recommendations score a candidate: a calibrated sum of semantic, lexical and tag signals.

A candidate product arrives with its cosine distance to the profile, its
unit vector and, per interest and dislike phrase, the share of the phrase's
words its text contains (computed by Postgres from the product's search
vector). The score adds:

- the cosine similarity to the whole profile and to the closest interest phrase;
- the best coverage of one interest phrase by the product's words ("pour-over
  coffee" in the title scores 1);
- a small boost when enrichment gave the product a tag the interests name
  (tags are noisy: a boost, never a filter);

and subtracts penalties for dislikes: a dislike's words in the text (a word
the interests also use does not count: "noisy party games" never penalises
"strategy board games" for "games"), a product closer to a dislike than to
any interest, and a tag a dislike names that the interests do not.
Products whose text contains a whole dislike phrase never get here: that is
a hard filter in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Share of a phrase word's credit when it only appears in the brand or description
#: (the title and the CMS tags count fully).
DEFAULT_BODY_WORD_CREDIT = 0.5


@dataclass(frozen=True)
class RankingWeights:
    """Weights of the calibrated sum, tuned on the repo's labelled set and the tuning split only.

    See the README (Taste profiles, recommendations and collections) for the
    figures each weight was chosen by.
    """

    #: Cosine similarity to the profile's vector (interests, style, about, recipient).
    profile: float = 0.75
    #: Cosine similarity to the closest single interest phrase.
    interest: float = 0.75
    #: Best coverage of one interest phrase by the product's words (0..1).
    lexical: float = 0.5
    #: The product has an enrichment tag the interests name.
    tag: float = 0.1
    #: A dislike's words (not shared with the interests) in the product's text, as a share of the phrase.
    dislike_words: float = 0.3
    #: How much closer the product is to a dislike phrase than to its closest interest, beyond `dislike_margin`.
    dislike_vector: float = 0.5
    dislike_margin: float = 0.2
    #: The product has an enrichment tag a dislike names (and no interest does).
    dislike_tag: float = 0.1
    #: Credit of a phrase word found only in the brand or description.
    body_word_credit: float = DEFAULT_BODY_WORD_CREDIT


DEFAULT_WEIGHTS = RankingWeights()


@dataclass(frozen=True)
class CandidateSignals:
    """What one candidate scores on; arrays are per phrase, in the profile's phrase order."""

    #: Cosine similarity to the profile's vector.
    profile_similarity: float
    #: Cosine similarity to each interest phrase's vector (empty when phrase vectors are unavailable).
    interest_similarity: np.ndarray
    #: Share of each interest phrase's words the product's text contains (title and tags weigh most).
    interest_coverage: np.ndarray
    #: Share of each dislike phrase's words, interest words excepted, in the product's text.
    dislike_coverage: np.ndarray
    #: Cosine similarity to each dislike phrase's vector (empty when unavailable).
    dislike_similarity: np.ndarray
    has_interest_tag: bool
    has_dislike_tag: bool


def _max(values: np.ndarray, default: float = 0.0) -> float:
    return float(values.max()) if values.size else default


def score(signals: CandidateSignals, weights: RankingWeights = DEFAULT_WEIGHTS) -> float:
    """The candidate's relevance: higher is better, about 0..1.5 for a good match, negative for a disliked one."""
    closest_interest = _max(signals.interest_similarity, signals.profile_similarity)
    relevance = (
        weights.profile * signals.profile_similarity
        + weights.interest * _max(signals.interest_similarity)
        + weights.lexical * _max(signals.interest_coverage)
        + weights.tag * signals.has_interest_tag
    )
    closer_to_dislike = _max(signals.dislike_similarity, -1.0) - closest_interest - weights.dislike_margin
    penalty = (
        weights.dislike_words * _max(signals.dislike_coverage)
        + weights.dislike_vector * max(0.0, closer_to_dislike)
        + weights.dislike_tag * signals.has_dislike_tag
    )
    return relevance - penalty


def best_phrase(phrases: Sequence[str], signals: CandidateSignals) -> tuple[str, bool] | None:
    """The interest phrase that explains the candidate best, and whether its words are in the text.

    A phrase whose words the product contains wins; otherwise the phrase
    closest in meaning. None when there is no phrase to name.
    """
    if not phrases:
        return None
    if signals.interest_coverage.size and signals.interest_coverage.max() > 0:
        return phrases[int(np.argmax(signals.interest_coverage))], True
    if signals.interest_similarity.size:
        return phrases[int(np.argmax(signals.interest_similarity))], False
    return None
