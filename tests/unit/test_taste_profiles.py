"""Taste profile answers, facets and the embedded text (no database)."""

from __future__ import annotations

import pytest

from gifting_jobs.answers import (
    FACETS_VERSION,
    derive_facets,
    match_relationship,
    match_tags,
    normalise_phrase,
    parse_answers,
    singular,
)
from gifting_jobs.exceptions import ValidationError
from gifting_jobs.taxonomy import RECIPIENT_SLUGS, TAG_SLUGS
from gifting_jobs.work.profiles import taste_profile_text, text_hash

FULL_ANSWERS = {
    "interests": ["Specialty coffee", "hiking", "  ", "Hiking", "board games"],
    "dislikes": ["Candles", "gadgets"],
    "style": "Minimalist",
    "budget_min": 20,
    "budget_max": 80.5,
    "about": "Loves early mornings",
    "recipient": {"relationship": "my wife", "age_range": "30-40", "nickname": "Bee"},
    "favourite_colour": "green",
}


def errors_of(answers: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_answers(answers)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors}


def test_parse_answers__keeps_unknown_keys_and_drops_blank_and_repeated_phrases():
    answers = parse_answers(FULL_ANSWERS)

    assert answers.interests == ["Specialty coffee", "hiking", "board games"]
    dumped = answers.model_dump(mode="json", exclude_unset=True)
    assert dumped["favourite_colour"] == "green"
    assert dumped["recipient"]["nickname"] == "Bee"
    assert dumped["budget_max"] == 80.5


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"interests": "coffee"}, "interests"),
        ({"interests": ["coffee", 3]}, "interests.1"),
        ({"interests": ["coffee"], "budget_min": "20"}, "budget_min"),
        ({"interests": ["coffee"], "budget_max": True}, "budget_max"),
        ({"interests": ["coffee"], "budget_min": -1}, "budget_min"),
        ({"interests": ["coffee"], "budget_min": float("inf")}, "budget_min"),
        ({"interests": ["coffee"], "style": ["a", "b"]}, "style"),
        ({"interests": ["coffee"], "recipient": "my wife"}, "recipient"),
        ({"interests": ["coffee"], "recipient": {"relationship": 7}}, "recipient.relationship"),
        ({"interests": ["coffee"], "about": "x" * 2001}, "about"),
        ({"interests": ["x"] * 31}, "interests"),
    ],
)
def test_parse_answers__wrong_types_name_the_field(answers, field):
    assert field in errors_of(answers)


def test_parse_answers__budget_min_above_max_is_an_error_on_budget_max():
    errors = errors_of({"interests": ["tea"], "budget_min": 90, "budget_max": 30})

    assert errors == {"budget_max": "Value error, must be at least budget_min (90)"}


def test_parse_answers__needs_something_to_embed():
    errors = errors_of({"interests": [" "], "dislikes": ["coffee"], "budget_max": 50})

    assert list(errors) == [""]
    assert "at least one interest" in errors[""]


def test_parse_answers__not_an_object():
    with pytest.raises(ValidationError, match="expected an object, got list"):
        parse_answers(["coffee"])


def test_derive_facets__normalises_matches_taxonomy_and_bands_the_budget():
    facets = derive_facets(parse_answers(FULL_ANSWERS))

    assert facets == {
        "version": FACETS_VERSION,
        "interests": ["specialty coffee", "hiking", "board games"],
        "interest_tags": ["coffee", "outdoors", "gaming", "puzzles"],
        "dislikes": ["candles", "gadgets"],
        # "candles" names no tag (home decor is more than candles): text match only.
        "dislike_tags": ["tech"],
        "style": "minimalist",
        "budget_min": 20.0,
        "budget_max": 80.5,
        "budget_band": "premium",
        "relationship": "partner",
        "age_range": "30-40",
        "audiences": [],
    }


def test_derive_facets__without_budget_or_recipient():
    facets = derive_facets(parse_answers({"about": "Loves the sea"}))

    assert facets["budget_band"] is None
    assert facets["relationship"] is None
    assert facets["interest_tags"] == []
    assert facets["audiences"] == []


@pytest.mark.parametrize(
    ("answers", "audiences"),
    [
        ({"about": "She walks her two dogs every morning"}, ["pet"]),
        ({"interests": ["cats"], "recipient": {"relationship": "aunt", "age_range": "65-74"}}, ["pet"]),
        ({"interests": ["lego"], "recipient": {"relationship": "nephew", "age_range": "8-10"}}, ["child"]),
        ({"interests": ["lego"], "recipient": {"relationship": "my son"}}, ["child"]),
        ({"interests": ["gaming"], "recipient": {"relationship": "son", "age_range": "15-17"}}, []),
        ({"interests": ["hiking"], "dislikes": ["dogs"]}, []),
    ],
)
def test_derive_facets__audiences_a_pet_or_a_child_named_or_by_age(answers, audiences):
    assert derive_facets(parse_answers(answers))["audiences"] == audiences


@pytest.mark.parametrize(
    ("phrase", "tags"),
    [
        ("espresso", ["coffee"]),
        ("yoga", ["fitness"]),
        ("whisky", ["wine"]),
        ("cats", ["pets"]),
        ("knitting", ["art"]),
        ("a thing", []),
    ],
)
def test_match_tags__interests_match_descriptions(phrase, tags):
    assert match_tags([phrase]) == tags
    assert set(tags) <= TAG_SLUGS


def test_match_tags__dislikes_match_only_tags_they_name():
    assert match_tags(["hiking"], naming_only=True) == []
    assert match_tags(["coffee"], naming_only=True) == ["coffee"]
    assert match_tags(["video games"], naming_only=True) == ["gaming", "puzzles"]


@pytest.mark.parametrize(
    ("phrase", "slug"),
    [
        ("my wife", "partner"),
        ("Mom", "parent"),
        ("grandmother", "grandparent"),
        ("boss", "colleague"),
        ("best friend", "friend"),
        ("brother", "sibling"),
        ("the neighbour", None),
        (None, None),
    ],
)
def test_match_relationship__everyday_words(phrase, slug):
    assert match_relationship(phrase) == slug
    assert slug is None or slug in RECIPIENT_SLUGS


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("candles", "candle"),
        ("berries", "berry"),
        ("glasses", "glass"),
        ("watches", "watch"),
        ("dress", "dress"),
        ("tea", "tea"),
        ("bus", "bus"),
    ],
)
def test_singular__common_plurals(word, expected):
    assert singular(word) == expected


def test_normalise_phrase__lowercase_words_only():
    assert normalise_phrase("  Children's   BOOKS!! ") == "children's books"


def test_taste_profile_text__interests_style_about_recipient_never_dislikes():
    text = taste_profile_text(parse_answers(FULL_ANSWERS))

    assert text == "Specialty coffee, hiking, board games\nMinimalist\nLoves early mornings\nmy wife 30-40"
    assert "andles" not in text and "gadgets" not in text
    assert len(text_hash(text)) == 64
