"""Recommendation building blocks: dislike patterns, MMR, tuning, argument checks (no database)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gifting_jobs.exceptions import ValidationError
from gifting_jobs.services.recommendations import (
    DEFAULT_TUNING,
    MAX_LIMIT,
    Candidate,
    SearchTuning,
    _checked_arguments,
    dislike_pattern,
    diversify,
    mmr_order,
)


def python_regex(pattern: str) -> re.Pattern[str]:
    """The Postgres ARE word boundaries \\m and \\M as Python's \\b, to check the pattern here."""
    return re.compile(pattern.replace(r"\m", r"\b").replace(r"\M", r"\b"), re.IGNORECASE)


@pytest.mark.parametrize(
    ("dislikes", "text", "matches"),
    [
        (["candles"], "Soy candle trio", True),
        (["candle"], "Three scented CANDLES", True),
        (["berries"], "Dried berry mix", True),
        (["berry"], "Mixed berries", True),
        (["spicy food"], "A box of spicy   foods", True),
        (["tea"], "Steak knives", False),
        (["tea"], "Green tea tin", True),
        (["cat"], "Concatenated category", False),
        (["a+b (c)"], "about a+b c", False),
        (["whisky"], "Crystal whiskey decanter", True),
        (["flavoured coffee"], "Flavored coffee syrups", True),
        (["grey jumpers"], "A gray jumper", True),
    ],
)
def test_dislike_pattern__whole_words_singular_or_plural(dislikes, text, matches):
    pattern = dislike_pattern(dislikes)

    assert pattern is not None
    assert bool(python_regex(pattern).search(text)) is matches


def test_dislike_pattern__none_without_dislikes():
    assert dislike_pattern([]) is None
    assert dislike_pattern(["   "]) is None


def candidate(pk: int, vector: list[float], distance: float) -> Candidate:
    return Candidate(product_id=pk, distance=distance, vector=np.array(vector))


def test_diversify__near_duplicates_make_way_for_a_distinct_item():
    # Given three near-identical items slightly closer than a distinct one
    near = [candidate(i, [1.0, 0.01 * i, 0.0], 0.10 + 0.001 * i) for i in range(3)]
    distinct = candidate(9, [0.6, 0.0, 0.8], 0.16)

    picked = diversify([*near, distinct], limit=2, mmr_lambda=0.7)

    # Then the second pick is the distinct one, not the first item's twin
    assert [p.product_id for p in picked] == [0, 9]


def test_diversify__lambda_one_is_plain_relevance_order():
    items = [candidate(i, list(np.eye(3)[i % 3] + 0.1), 0.1 * i) for i in range(5)]

    picked = diversify(items, limit=5, mmr_lambda=1.0)

    assert [p.product_id for p in picked] == [0, 1, 2, 3, 4]


def test_diversify__near_duplicates_come_last_even_by_relevance_only():
    twins = [candidate(i, [1.0, 0.001 * i, 0.0], 0.10 + 0.001 * i) for i in range(4)]
    others = [candidate(10, [0.0, 1.0, 0.0], 0.5), candidate(11, [0.0, 0.0, 1.0], 0.6)]

    picked = diversify([*twins, *others], limit=6, mmr_lambda=1.0, duplicate_similarity=0.95)

    assert [p.product_id for p in picked] == [0, 10, 11, 1, 2, 3]


def test_diversify__never_repeats_and_stops_at_the_pool():
    items = [candidate(i, [1.0, 0.0], 0.2) for i in range(3)]

    picked = diversify(items, limit=10, mmr_lambda=0.5)

    assert sorted(p.product_id for p in picked) == [0, 1, 2]
    assert diversify([], limit=5, mmr_lambda=0.7) == []


def mmr_by_definition(vectors, gains, *, limit, mmr_lambda, duplicate_similarity):
    """MMR written plainly, pick by pick: what `mmr_order` computes with fewer array operations."""
    picked: list[int] = []
    similarity = {}  # a picked row's similarity to every row, as a matrix-vector product (the same arithmetic)
    for _ in range(min(limit, len(gains))):
        redundancy = [max((float(similarity[j][i]) for j in picked), default=-np.inf) for i in range(len(gains))]
        left = [i for i in range(len(gains)) if i not in picked]
        distinct = [i for i in left if redundancy[i] < duplicate_similarity] or left
        scores = {
            i: gains[i] if not picked else mmr_lambda * gains[i] - (1 - mmr_lambda) * redundancy[i] for i in distinct
        }
        picked.append(max(distinct, key=lambda i: (scores[i], -i)))
        similarity[picked[-1]] = vectors @ vectors[picked[-1]]
    return picked


@pytest.mark.parametrize("mmr_lambda", [0.0, 0.5, 0.85, 1.0])
def test_mmr_order__picks_as_the_definition_does(mmr_lambda):
    rng = np.random.default_rng(7)
    for trial in range(40):
        # Clustered rows, some exact twins, and rounded gains so that ties happen
        count = int(rng.integers(1, 40))
        centres = rng.normal(size=(3, 8))
        vectors = centres[rng.integers(0, 3, count)] + rng.normal(size=(count, 8)) * (0.02 if trial % 2 else 0.5)
        vectors[: count // 4] = vectors[0]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        gains = np.round(rng.normal(size=count), 1)

        picked = mmr_order(vectors, gains, limit=12, mmr_lambda=mmr_lambda, duplicate_similarity=0.95)

        assert picked == mmr_by_definition(vectors, gains, limit=12, mmr_lambda=mmr_lambda, duplicate_similarity=0.95)


def test_search_tuning__pool_is_bounded():
    assert DEFAULT_TUNING.pool_size(20) == 40
    assert DEFAULT_TUNING.pool_size(100) == 200
    assert SearchTuning(pool_factor=1).pool_size(7) == 7


@pytest.mark.parametrize(
    ("user_id", "recipient_id", "limit", "field"),
    [
        (0, None, 20, "user_id"),
        ("1", None, 20, "user_id"),
        (True, None, 20, "user_id"),
        (1, -3, 20, "recipient_id"),
        (1, None, 0, "limit"),
        (1, None, MAX_LIMIT + 1, "limit"),
        (1, None, 2.5, "limit"),
    ],
)
def test_checked_arguments__names_the_bad_argument(user_id, recipient_id, limit, field):
    with pytest.raises(ValidationError) as caught:
        _checked_arguments(user_id, recipient_id, limit)

    assert [e["loc"] for e in caught.value.errors] == [[field]]


def test_checked_arguments__accepts_good_ones():
    _checked_arguments(1, None, 1)
    _checked_arguments(1, 2, MAX_LIMIT)
