"""Spelling variants of phrase words (no database)."""

from __future__ import annotations

import pytest

from gifting_jobs.text_search import IRREGULAR_SPELLINGS, spelling_variants


@pytest.mark.parametrize(
    ("word", "variants"),
    [
        ("whisky", ("whiskey",)),
        ("whiskies", ("whiskey",)),
        ("colours", ("color",)),
        ("flavored", ("flavoured",)),
        ("organiser", ("organizer",)),
        ("personalized", ("personalised",)),
        ("analyse", ("analyze",)),
        ("catalogue", ("catalog",)),
        ("jewellery", ("jewelry",)),
        ("theater", ("theatre",)),
    ],
)
def test_spelling_variants__british_and_american_both_ways(word, variants):
    assert spelling_variants(word) == variants


@pytest.mark.parametrize("word", ["coffee", "four", "pour", "flour", "door", "rise", "noise", "dog", "blog"])
def test_spelling_variants__none_for_words_spelt_one_way(word):
    assert spelling_variants(word) == ()


def test_irregular_spellings__each_word_in_one_group():
    words = [word for group in IRREGULAR_SPELLINGS for word in group]

    assert len(words) == len(set(words))
    assert all(len(group) > 1 for group in IRREGULAR_SPELLINGS)
