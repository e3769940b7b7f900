"""Audiences of products and profiles: a pet or a young child (no database)."""

from __future__ import annotations

import pytest

from gifting_jobs.audiences import Audience, audiences_in, recipient_audiences


@pytest.mark.parametrize(
    ("texts", "audiences"),
    [
        (["Dog Hiking Harness with Saddlebags", "dog, hiking"], {Audience.PET}),
        (["Handmade Felt Catnip Toys, Set of 5"], {Audience.PET}),
        (["Coding Robot Kit for Kids 8+"], {Audience.CHILD}),
        (["Picture Book Bundle for Ages 3-6"], {Audience.CHILD}),
        (["Wooden Stacking Rainbow", "toddler, wooden toys"], {Audience.CHILD}),
        (["Trail Running Hydration Vest, 5 L", "running, trail"], set()),
        (["Concatenated category catalogue", "petrol"], set()),
    ],
)
def test_audiences_in__whole_words_of_title_and_tags(texts, audiences):
    assert audiences_in(texts) == audiences


@pytest.mark.parametrize(
    ("age_range", "relationship_slug", "child"),
    [
        ("8-10", "child", True),
        ("under 5", None, True),
        ("15-17", "child", False),
        (None, "child", True),
        (None, None, False),
    ],
)
def test_recipient_audiences__a_child_by_age_range_or_else_by_relationship(age_range, relationship_slug, child):
    found = recipient_audiences(["lego"], age_range=age_range, relationship_slug=relationship_slug)

    assert (Audience.CHILD in found) is child
