"""The calibrated sum of hybrid recommendations: signals, penalties and the phrase a reason names (no database)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gifting_jobs.services.ranking import (
    DEFAULT_WEIGHTS,
    CandidateSignals,
    PoolSignals,
    best_phrase,
    best_phrases,
    score,
    score_pool,
)


def signals(**changes: object) -> CandidateSignals:
    """A candidate of a two-interest, one-dislike profile: close to the profile, no words in common."""
    base = CandidateSignals(
        profile_similarity=0.5,
        interest_similarity=np.array([0.4, 0.2]),
        interest_coverage=np.array([0.0, 0.0]),
        dislike_coverage=np.array([0.0]),
        dislike_similarity=np.array([0.1]),
        has_interest_tag=False,
        has_dislike_tag=False,
    )
    return replace(base, **changes)


def test_score__each_positive_signal_raises_it():
    plain = score(signals())

    assert score(signals(interest_coverage=np.array([0.0, 1.0]))) > plain
    assert score(signals(interest_similarity=np.array([0.6, 0.2]))) > plain
    assert score(signals(has_interest_tag=True)) > plain
    assert score(signals(profile_similarity=0.6)) > plain


def test_score__a_whole_phrase_in_the_words_beats_half_of_it():
    assert score(signals(interest_coverage=np.array([1.0, 0.0]))) > score(
        signals(interest_coverage=np.array([0.5, 0.5]))
    )


def test_score__dislike_words_and_tags_lower_it():
    plain = score(signals())

    assert score(signals(dislike_coverage=np.array([0.5]))) < plain
    assert score(signals(has_dislike_tag=True)) < plain


def test_score__a_product_for_an_audience_the_profile_lacks_ranks_below_a_close_match():
    close_match = signals(interest_coverage=np.array([0.5, 0.0]))

    assert score(signals(has_other_audience=True)) < score(signals())
    assert score(replace(close_match, profile_similarity=0.6, has_other_audience=True)) < score(close_match)


def test_score__closeness_to_a_dislike_counts_only_beyond_the_closest_interest_and_the_margin():
    plain = score(signals())
    margin = DEFAULT_WEIGHTS.dislike_margin

    # As close to the dislike as to its best interest (0.4), or a bit closer: no penalty
    assert score(signals(dislike_similarity=np.array([0.4]))) == plain
    assert score(signals(dislike_similarity=np.array([0.4 + margin]))) == plain
    # Clearly closer to what they dislike than to anything they like: penalised
    assert score(signals(dislike_similarity=np.array([0.4 + margin + 0.2]))) < plain


def test_score__without_phrase_vectors_the_profile_stands_in():
    degraded = signals(interest_similarity=np.zeros(0), dislike_similarity=np.zeros(0))

    assert np.isfinite(score(degraded))
    assert score(replace(degraded, interest_coverage=np.array([1.0, 0.0]))) > score(degraded)


def test_best_phrase__words_in_the_text_first_then_meaning():
    phrases = ("pour-over coffee", "hiking")

    assert best_phrase(phrases, signals(interest_coverage=np.array([0.0, 1.0]))) == ("hiking", True)
    assert best_phrase(phrases, signals()) == ("pour-over coffee", False)
    assert best_phrase((), signals(interest_coverage=np.zeros(0), interest_similarity=np.zeros(0))) is None


def test_best_phrases__each_row_as_best_phrase_names_it():
    phrases = ("pour-over coffee", "hiking")
    candidates = [
        signals(),
        signals(interest_coverage=np.array([0.0, 1.0])),
        signals(interest_coverage=np.array([0.5, 0.5]), interest_similarity=np.array([0.1, 0.9])),
    ]
    pool = PoolSignals.stack(candidates)

    assert best_phrases(phrases, pool, [2, 0, 1]) == [best_phrase(phrases, candidates[i]) for i in (2, 0, 1)]
    assert best_phrases((), pool, [0, 1]) == [None, None]


def test_best_phrases__without_phrase_vectors_only_words_name_a_phrase():
    phrases = ("pour-over coffee", "hiking")
    pool = replace(
        PoolSignals.stack([signals(), signals(interest_coverage=np.array([0.0, 1.0]))]),
        interest_similarity=np.zeros((2, 0)),
    )

    found = best_phrases(phrases, pool, [0, 1])

    assert found == [best_phrase(phrases, pool.row(i)) for i in (0, 1)] == [None, ("hiking", True)]


def test_score_pool__scores_each_row_as_the_candidate_alone_and_rows_give_them_back():
    candidates = [
        signals(),
        signals(interest_coverage=np.array([0.0, 1.0]), has_interest_tag=True),
        signals(dislike_similarity=np.array([0.9]), dislike_coverage=np.array([0.5]), has_dislike_tag=True),
    ]

    pool = PoolSignals.stack(candidates)
    scores = score_pool(pool)

    assert len(pool) == 3
    assert scores.tolist() == pytest.approx([score(c) for c in candidates])
    assert scores[1] > scores[0] > scores[2]
    assert pool.row(1).has_interest_tag and pool.row(1).interest_coverage.tolist() == [0.0, 1.0]


def test_score_pool__without_phrase_vectors_each_row_falls_back_on_its_own_profile_similarity():
    degraded = [
        signals(profile_similarity=similarity, interest_similarity=np.zeros(0), dislike_similarity=np.zeros(0))
        for similarity in (0.2, 0.6)
    ]

    scores = score_pool(PoolSignals.stack(degraded))

    assert scores.tolist() == pytest.approx([score(c) for c in degraded])
    assert scores[1] > scores[0]
