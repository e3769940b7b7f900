"""Who a product is for when it is not a grown-up: a pet, or a young child.

A dog harness is no gift for a runner without a dog, however close its words
and vector are to "trail running", and a toddler's instrument set none for a
25-year-old who loves indie music. A product names such an audience in its
title or CMS tags ("Dog Hiking Harness", "Coding Robot for Kids 8+"); a
profile has one when the gifter names a pet or a child (interests, style,
about, recipient) or the recipient's age range starts below `CHILD_AGE_LIMIT`.
Ranking lowers a product whose audience the profile lacks and never removes
it: the words are a heuristic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum


class Audience(StrEnum):
    """Who, other than a grown-up, a product is made for."""

    PET = "pet"
    CHILD = "child"


#: Words that name an audience, as whole words in any case.
AUDIENCE_WORDS: dict[Audience, re.Pattern[str]] = {
    Audience.PET: re.compile(r"\b(?:dogs?|cats?|pupp(?:y|ies)|kittens?|pets?|catnip)\b", re.IGNORECASE),
    Audience.CHILD: re.compile(
        r"\b(?:kids?|child(?:ren)?|toddlers?|bab(?:y|ies)|ages?\s+\d+\s*(?:[-\u2013]\s*\d+|\+))", re.IGNORECASE
    ),
}
#: A recipient whose age range starts below this age is a child ("8-10", "under 5").
CHILD_AGE_LIMIT = 13
#: The first number of an age range.
_AGE = re.compile(r"\d+")


def audiences_in(texts: Iterable[str]) -> frozenset[Audience]:
    """The audiences the texts name: "Dog Hiking Harness" is for a pet."""
    joined = " ".join(texts)
    return frozenset(audience for audience, words in AUDIENCE_WORDS.items() if words.search(joined))


def recipient_audiences(
    texts: Iterable[str], *, age_range: str | None, relationship_slug: str | None
) -> frozenset[Audience]:
    """A profile's audiences: those its texts name, and a child by the recipient's age range.

    Without an age range, a recipient whose relationship is a child (son,
    niece, kid) may be one.
    """
    found = set(audiences_in(texts))
    age = _AGE.search(age_range or "")
    if age is not None and int(age.group()) < CHILD_AGE_LIMIT:
        found.add(Audience.CHILD)
    if age is None and relationship_slug == "child":
        found.add(Audience.CHILD)
    return frozenset(found)
