"""The taste questionnaire as a domain value: its schema, and the facets derived from it.

The answers schema is fixed by the design contract (interests, dislikes,
style, budget_min/budget_max, about, recipient); unknown keys are kept and
ignored. Facets (the seed's `deriveFactsFromAnswers`) are what
recommendations filter on and explain with: normalised phrases, taxonomy tags
matched by words, the budget band and the recipient's relationship type.
Services (profile completion, recommendations) and work (profile embedding)
both read them, so they live below both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError as PydanticValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gifting_jobs import taxonomy
from gifting_jobs.audiences import recipient_audiences
from gifting_jobs.exceptions import ValidationError

if TYPE_CHECKING:
    from gifting_jobs.models import TasteProfile

#: Most interests (or dislikes) one questionnaire may list.
MAX_PHRASES = 30
#: Longest interest, dislike, style or relationship phrase.
MAX_PHRASE_LENGTH = 100
#: Longest free text about the recipient.
MAX_ABOUT_LENGTH = 2000
#: Bumped whenever `derive_facets` changes shape or meaning; older facets are re-derived on read.
FACETS_VERSION = 2

#: Words that say nothing about a gift theme; never used to match a phrase to the taxonomy.
GENERIC_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "or",
        "the",
        "of",
        "for",
        "with",
        "at",
        "to",
        "in",
        "on",
        "by",
        "my",
        "their",
        "his",
        "her",
        "them",
        "someone",
        "you",
        "your",
        "gift",
        "gifts",
        "present",
        "accessory",
        "item",
        "product",
        "tool",
        "gear",
        "equipment",
        "kit",
        "set",
        "lover",
        "time",
        "home",
        "high",
        "end",
        "new",
        "small",
        "close",
        "premium",
        "thing",
        "stuff",
        "other",
        "any",
        "all",
    ]
)
#: Everyday words for a relationship that the recipient taxonomy does not spell out.
RELATIONSHIP_SYNONYMS: dict[str, str] = {
    "spouse": "partner",
    "fiance": "partner",
    "fiancee": "partner",
    "bf": "partner",
    "gf": "partner",
    "mom": "parent",
    "mum": "parent",
    "mama": "parent",
    "dad": "parent",
    "papa": "parent",
    "grandma": "grandparent",
    "grandpa": "grandparent",
    "granny": "grandparent",
    "nana": "grandparent",
    "son": "child",
    "daughter": "child",
    "kid": "child",
    "teen": "child",
    "nephew": "child",
    "niece": "child",
    "bro": "sibling",
    "sis": "sibling",
    "boss": "colleague",
    "coworker": "colleague",
    "manager": "colleague",
    "buddy": "friend",
    "pal": "friend",
    "mate": "friend",
}

#: Words that name a tag although its slug and label do not spell them ("video games" is gaming).
TAG_NAMING_EXTRA: dict[str, str] = {"gaming": "game", "wine": "alcohol whisky", "tech": "electronic", "pets": "dog cat"}

#: A word: letters or digits in any script, with an apostrophe inside ("children's").
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_PHRASE_LENGTH)]
AboutText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_ABOUT_LENGTH)]
Budget = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class RecipientAnswers(BaseModel):
    """Who the gift is for: `{"relationship": ..., "age_range": ...}`; unknown keys are kept."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    relationship: Phrase | None = None
    age_range: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None

    @field_validator("relationship", "age_range")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class TasteProfileAnswers(BaseModel):
    """The questionnaire, as the design contract fixes it.

    Types are strict (a JSON string is not a number, a phrase is not a list);
    blank phrases are dropped and repeated ones kept once; unknown keys are
    kept and ignored. At least an interest, a style or an "about" text is
    needed: there is nothing to embed otherwise.
    """

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    interests: list[Phrase] = Field(default_factory=list, max_length=MAX_PHRASES)
    dislikes: list[Phrase] = Field(default_factory=list, max_length=MAX_PHRASES)
    style: Phrase | None = None
    budget_min: Budget | None = None
    budget_max: Budget | None = None
    about: AboutText | None = None
    recipient: RecipientAnswers | None = None

    @field_validator("interests", "dislikes")
    @classmethod
    def _drop_blank_and_repeated(cls, phrases: list[str]) -> list[str]:
        seen: set[str] = set()
        kept = []
        for phrase in phrases:
            key = normalise_phrase(phrase)
            if key and key not in seen:
                seen.add(key)
                kept.append(phrase)
        return kept

    @field_validator("style", "about")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("budget_max")
    @classmethod
    def _max_not_below_min(cls, value: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("budget_min")
        if value is not None and low is not None and value < low:
            raise ValueError(f"must be at least budget_min ({low:g})")
        return value

    @model_validator(mode="after")
    def _something_to_go_on(self) -> TasteProfileAnswers:
        if not (self.interests or self.style or self.about):
            raise ValueError("give at least one interest, a style, or a few words about them")
        return self


def parse_answers(answers: Any) -> TasteProfileAnswers:
    """Validate raw answers; `ValidationError` carries one entry per bad field."""
    if not isinstance(answers, Mapping):
        raise ValidationError.for_field(
            [],
            "Input should be an object",
            "dict_type",
            message=f"invalid taste profile answers: expected an object, got {type(answers).__name__}",
        )
    try:
        return TasteProfileAnswers.model_validate(dict(answers))
    except PydanticValidationError as exc:
        raise ValidationError.from_pydantic(exc, "taste profile answers") from None


def normalise_phrase(phrase: str) -> str:
    """Lower case, words only, single spaces: the form facets keep and dislikes match with."""
    return " ".join(_WORD.findall(phrase.lower()))


def singular(word: str) -> str:
    """A crude English singular, enough to match "candles" with "candle" and "berries" with "berry"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _content_words(text: str) -> set[str]:
    return {singular(w) for w in _WORD.findall(text.lower()) if w not in GENERIC_WORDS} - GENERIC_WORDS


@dataclass(frozen=True)
class _TermWords:
    slug: str
    #: Words that name the term itself (slug and label): "coffee", "gadget", "wine", "spirit".
    naming: frozenset[str]
    #: Every content word of its slug, label and description: "espresso", "hiking", "yoga".
    related: frozenset[str]


@cache
def _vocabulary(terms: tuple[taxonomy.Term, ...]) -> tuple[_TermWords, ...]:
    vocabulary = []
    for term in terms:
        naming = _content_words(f"{term.slug.replace('_', ' ')} {term.label} {TAG_NAMING_EXTRA.get(term.slug, '')}")
        related = naming | _content_words(term.description)
        vocabulary.append(_TermWords(term.slug, frozenset(naming), frozenset(related)))
    return tuple(vocabulary)


def match_tags(phrases: Iterable[str], *, naming_only: bool = False) -> list[str]:
    """Gift-taxonomy tags whose words appear in the phrases, in taxonomy order.

    A word that names a tag ("coffee", "gadgets") matches that tag; for
    interests, other words match on the tag's description ("hiking" is
    outdoors). Dislikes use `naming_only`: only a phrase that names the tag
    ("coffee", "gadgets") excludes the whole tag; "candles" should not rule
    out all home decor, the text match takes care of candles.
    """
    vocabulary = _vocabulary(taxonomy.GIFT_TAGS)
    naming_words = frozenset().union(*(t.naming for t in vocabulary))
    words: set[str] = set().union(*(_content_words(p) for p in phrases))
    # A word that names some tag ("game") means those tags, not every tag whose description uses it.
    named, described = words & naming_words, words - naming_words
    return [t.slug for t in vocabulary if named & t.naming or (not naming_only and described & t.related)]


def match_relationship(phrase: str | None) -> str | None:
    """The recipient type a relationship phrase names ("my wife" is partner), or None."""
    if not phrase:
        return None
    words = _content_words(phrase)
    for word in sorted(words):
        if word in RELATIONSHIP_SYNONYMS:
            return RELATIONSHIP_SYNONYMS[word]
    for term in _vocabulary(taxonomy.RECIPIENT_TYPES):
        if words & term.related:
            return term.slug
    return None


def derive_facets(answers: TasteProfileAnswers) -> dict[str, Any]:
    """The seed's deriveFactsFromAnswers: what recommendations filter on and explain with.

    JSON-safe; `version` says which derivation made them.
    """
    interests = [normalise_phrase(p) for p in answers.interests]
    dislikes = [normalise_phrase(p) for p in answers.dislikes]
    ceiling = answers.budget_max if answers.budget_max is not None else answers.budget_min
    relationship = answers.recipient.relationship if answers.recipient else None
    age_range = answers.recipient.age_range if answers.recipient else None
    relationship_slug = match_relationship(relationship)
    # Dislikes are left out: "no dogs" is no dog to buy for.
    audiences = recipient_audiences(
        [*answers.interests, answers.style or "", answers.about or "", relationship or ""],
        age_range=age_range,
        relationship_slug=relationship_slug,
    )
    return {
        "version": FACETS_VERSION,
        "interests": interests,
        "interest_tags": match_tags(interests),
        "dislikes": dislikes,
        "dislike_tags": match_tags(dislikes, naming_only=True),
        "style": normalise_phrase(answers.style) if answers.style else None,
        "budget_min": answers.budget_min,
        "budget_max": answers.budget_max,
        "budget_band": taxonomy.price_band(Decimal(str(ceiling))) if ceiling is not None else None,
        "relationship": relationship_slug,
        "age_range": age_range,
        "audiences": sorted(audiences),
    }


def facets_of(profile: TasteProfile) -> dict[str, Any]:
    """A profile's facets, re-derived from its answers when they were made by an older derivation."""
    stored: dict[str, Any] = profile.facets
    if stored.get("version") == FACETS_VERSION:
        return stored
    return derive_facets(parse_answers(profile.answers))
