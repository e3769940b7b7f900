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
any interest, and a tag a dislike names that the interests do not; and one
for a product made for an audience the profile does not have (a pet, a
young child: `gifting_jobs.audiences`).
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
    #: The product is for a pet or a young child and the profile names none: below any close match.
    audience: float = 0.3
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
    #: The product is made for an audience (a pet, a young child) the profile does not have.
    has_other_audience: bool = False


@dataclass(frozen=True)
class PoolSignals:
    """The signals of a whole candidate pool: one row per candidate, one column per phrase.

    Scoring a pool is a handful of array operations instead of a Python loop
    over candidates (the loop cost more than the searches at 100k products).
    """

    profile_similarity: np.ndarray
    interest_similarity: np.ndarray
    interest_coverage: np.ndarray
    dislike_coverage: np.ndarray
    dislike_similarity: np.ndarray
    has_interest_tag: np.ndarray
    has_dislike_tag: np.ndarray
    has_other_audience: np.ndarray

    @classmethod
    def stack(cls, signals: Sequence[CandidateSignals]) -> PoolSignals:
        """The pool of these candidates, in this order."""

        def rows(name: str) -> np.ndarray:
            return np.array([getattr(s, name) for s in signals], dtype=np.float64).reshape(len(signals), -1)

        return cls(
            profile_similarity=np.array([s.profile_similarity for s in signals], dtype=np.float64),
            interest_similarity=rows("interest_similarity"),
            interest_coverage=rows("interest_coverage"),
            dislike_coverage=rows("dislike_coverage"),
            dislike_similarity=rows("dislike_similarity"),
            has_interest_tag=np.array([s.has_interest_tag for s in signals], dtype=bool),
            has_dislike_tag=np.array([s.has_dislike_tag for s in signals], dtype=bool),
            has_other_audience=np.array([s.has_other_audience for s in signals], dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.profile_similarity)

    def row(self, i: int) -> CandidateSignals:
        """One candidate's signals."""
        return CandidateSignals(
            profile_similarity=float(self.profile_similarity[i]),
            interest_similarity=self.interest_similarity[i],
            interest_coverage=self.interest_coverage[i],
            dislike_coverage=self.dislike_coverage[i],
            dislike_similarity=self.dislike_similarity[i],
            has_interest_tag=bool(self.has_interest_tag[i]),
            has_dislike_tag=bool(self.has_dislike_tag[i]),
            has_other_audience=bool(self.has_other_audience[i]),
        )


def _row_max(values: np.ndarray, default: np.ndarray | float) -> np.ndarray:
    """Each row's largest value, or `default` for rows of no phrase."""
    if values.shape[1]:
        return values.max(axis=1)
    return np.broadcast_to(np.asarray(default, dtype=np.float64), (values.shape[0],))


def score_pool(signals: PoolSignals, weights: RankingWeights = DEFAULT_WEIGHTS) -> np.ndarray:
    """Every candidate's relevance: higher is better, about 0..1.5 for a good match, negative for a disliked one."""
    closest_interest = _row_max(signals.interest_similarity, signals.profile_similarity)
    relevance = (
        weights.profile * signals.profile_similarity
        + weights.interest * _row_max(signals.interest_similarity, 0.0)
        + weights.lexical * _row_max(signals.interest_coverage, 0.0)
        + weights.tag * signals.has_interest_tag
    )
    closer_to_dislike = _row_max(signals.dislike_similarity, -1.0) - closest_interest - weights.dislike_margin
    penalty = (
        weights.dislike_words * _row_max(signals.dislike_coverage, 0.0)
        + weights.dislike_vector * np.maximum(0.0, closer_to_dislike)
        + weights.dislike_tag * signals.has_dislike_tag
        + weights.audience * signals.has_other_audience
    )
    result: np.ndarray = relevance - penalty
    return result


def score(signals: CandidateSignals, weights: RankingWeights = DEFAULT_WEIGHTS) -> float:
    """One candidate's relevance (see `score_pool`)."""
    return float(score_pool(PoolSignals.stack([signals]), weights)[0])


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


def best_phrases(phrases: Sequence[str], signals: PoolSignals, rows: Sequence[int]) -> list[tuple[str, bool] | None]:
    """`best_phrase` of each of these pool rows, found for all of them at once (a page asks for 20)."""
    if not phrases:
        return [None] * len(rows)
    coverage, similarity = signals.interest_coverage[rows], signals.interest_similarity[rows]
    by_words = coverage.max(axis=1) > 0 if coverage.shape[1] else np.zeros(len(rows), dtype=bool)
    word = coverage.argmax(axis=1) if coverage.shape[1] else None
    meaning = similarity.argmax(axis=1) if similarity.shape[1] else None
    found: list[tuple[str, bool] | None] = []
    for k in range(len(rows)):
        if word is not None and by_words[k]:
            found.append((phrases[int(word[k])], True))
        elif meaning is not None:
            found.append((phrases[int(meaning[k])], False))
        else:
            found.append(None)
    return found
