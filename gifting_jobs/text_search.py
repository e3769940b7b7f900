"""Full-text search of products: phrases as Postgres stems them, other spellings, and tsquery literals.

`Product.search_vector` is a generated English tsvector (title weighted A,
CMS tags B, brand C, description D). Recommendations (interest and dislike
phrases) and collections (theme words) both search it, so the helpers live
here, below both.

English stemming does not join spellings of one word ("whisky" and
"whiskey", "colour" and "color" are different stems), so a phrase's words
are also searched in their other spellings (`spelling_variants`): British
and American rules plus a short list of irregular pairs. A list rather than
trigram similarity: "whisk" is closer to "whisky" by trigrams than "whiskey" is.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from django.db import connection

from gifting_jobs.answers import GENERIC_WORDS, singular
from gifting_jobs.models.catalog import (
    SEARCH_CONFIG,
    SEARCH_WEIGHT_TAGS,
    SEARCH_WEIGHT_TITLE,
)

#: Phrase stems kept per process: phrases repeat across calls.
LEXEME_CACHE_SIZE = 4096
#: Title and CMS tags: where a word says most about a product.
STRONG_WEIGHTS = SEARCH_WEIGHT_TITLE + SEARCH_WEIGHT_TAGS

#: Spellings of one word that the rules below do not derive (British, American, or by habit).
IRREGULAR_SPELLINGS: tuple[tuple[str, ...], ...] = (
    ("whisky", "whiskey"),
    ("cosy", "cozy"),
    ("grey", "gray"),
    ("jewellery", "jewelry"),
    ("mum", "mom"),
    ("tyre", "tire"),
    ("pyjama", "pajama"),
    ("aluminium", "aluminum"),
    ("doughnut", "donut"),
    ("yoghurt", "yogurt"),
    ("plough", "plow"),
    ("mould", "mold"),
    ("sceptic", "skeptic"),
    ("programme", "program"),
    ("draught", "draft"),
    ("moustache", "mustache"),
    ("racquet", "racket"),
    ("artefact", "artifact"),
    ("ageing", "aging"),
    ("omelette", "omelet"),
    ("woollen", "woolen"),
    ("traveller", "traveler"),
    ("marvellous", "marvelous"),
    ("centre", "center"),
    ("theatre", "theater"),
    ("fibre", "fiber"),
    ("litre", "liter"),
    ("metre", "meter"),
    ("sabre", "saber"),
    ("defence", "defense"),
    ("licence", "license"),
    ("orthopaedic", "orthopedic"),
    ("encyclopaedia", "encyclopedia"),
    ("archaeology", "archeology"),
    ("manoeuvre", "maneuver"),
)
_IRREGULAR = {word: group for group in IRREGULAR_SPELLINGS for word in group}
#: British and American spelling rules, each with its inverse: colour/color, organise/organize,
#: analyse/analyze, catalogue/catalog. A rule that misfires ("flour" -> "flor") only adds a
#: spelling no product uses.
_SPELLING_RULES = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^(\w{2,}[^aeiou])our(s|ed|ing|ite|ites|ful|y|ies|less|able|ably|er|ers)?$", r"\1or\2"),
        (r"^(\w{2,}[^aeiou])or(s|ed|ing|ite|ites|ful|y|ies|less|able|ably|er|ers)?$", r"\1our\2"),
        (r"^(\w{3,})is(e|es|ed|ing|er|ers|ation|ations)$", r"\1iz\2"),
        (r"^(\w{3,})iz(e|es|ed|ing|er|ers|ation|ations)$", r"\1is\2"),
        (r"^(\w{2,})ys(e|es|ed|ing|er|ers)$", r"\1yz\2"),
        (r"^(\w{2,})yz(e|es|ed|ing|er|ers)$", r"\1ys\2"),
        (r"^(\w{3,})ogue(s?)$", r"\1og\2"),
        (r"^(\w{3,})og(s?)$", r"\1ogue\2"),
    )
)
#: A word of a phrase, as spelling variants are looked up.
_WORD = re.compile(r"[^\W\d_]+")


def spelling_variants(word: str) -> tuple[str, ...]:
    """Other spellings of a lower-case word, singular: "whiskies" gives ("whiskey",), "colours" ("color",)."""
    word = singular(word)
    variants = [w for w in _IRREGULAR.get(word, ()) if w != word]
    variants += [rule.sub(replacement, word) for rule, replacement in _SPELLING_RULES if rule.match(word)]
    return tuple(dict.fromkeys(variants))


class LruCache:
    """A small thread-safe LRU map: phrase lexemes and phrase vectors are asked for again and again."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[Any]) -> dict[Any, Any]:
        with self._lock:
            found = {}
            for key in keys:
                if key in self._items:
                    self._items.move_to_end(key)
                    found[key] = self._items[key]
            return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def put_many(self, items: dict[Any, Any]) -> None:
        with self._lock:
            self._items.update(items)
            for key in items:
                self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_lexeme_cache = LruCache(LEXEME_CACHE_SIZE)


def phrase_lexemes(phrases: Sequence[str]) -> list[tuple[str, ...]]:
    """Each phrase's search words as Postgres stems them for `search_vector`, generic words left out.

    "pour-over coffee" gives ('coffe', 'pour', 'pour-ov'); "gift ideas" gives ('idea',).
    """
    found = _lexeme_cache.get_many(phrases)
    missing = [p for p in dict.fromkeys(phrases) if p not in found]
    if missing:
        generic = " ".join(sorted(GENERIC_WORDS))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT p, ARRAY(SELECT unnest(tsvector_to_array(to_tsvector(%s::regconfig, p))) "
                "EXCEPT SELECT unnest(tsvector_to_array(to_tsvector(%s::regconfig, %s))) ORDER BY 1) "
                "FROM unnest(%s::text[]) AS p",
                [SEARCH_CONFIG, SEARCH_CONFIG, generic, missing],
            )
            computed = {phrase: tuple(lexemes) for phrase, lexemes in cursor.fetchall()}
        _lexeme_cache.put_many(computed)
        found.update(computed)
    return [found[p] for p in phrases]


_spelling_cache = LruCache(LEXEME_CACHE_SIZE)


def spelling_lexemes(phrases: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The stems of other spellings of the phrases' words, by the stem they stand in for.

    "single malt whisky" gives {"whiski": ("whiskey",)}. Phrases none of whose
    words has another spelling (most) cost no query.
    """
    found = _spelling_cache.get_many(phrases)
    missing = [p for p in dict.fromkeys(phrases) if p not in found]
    pairs = {p: [(w, v) for w in _WORD.findall(p.lower()) for v in spelling_variants(w)] for p in missing}
    words = sorted({w for listed in pairs.values() for pair in listed for w in pair})
    stems: dict[str, tuple[str, ...]] = {}
    if words:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT w, tsvector_to_array(to_tsvector(%s::regconfig, w)) FROM unnest(%s::text[]) AS w",
                [SEARCH_CONFIG, words],
            )
            stems = {word: tuple(lexemes) for word, lexemes in cursor.fetchall()}
    computed = {}
    for phrase, listed in pairs.items():
        alternatives: dict[str, list[str]] = {}
        for word, variant in listed:
            # A word Postgres splits (or drops) has no single stem to stand in for.
            if len(stems[word]) == 1:
                alternatives.setdefault(stems[word][0], []).extend(x for x in stems[variant] if x != stems[word][0])
        computed[phrase] = tuple(
            (stem, tuple(dict.fromkeys(others))) for stem, others in alternatives.items() if others
        )
    _spelling_cache.put_many(computed)
    found.update(computed)
    merged: dict[str, tuple[str, ...]] = {}
    for phrase in phrases:
        for stem, others in found[phrase]:
            merged[stem] = tuple(dict.fromkeys((*merged.get(stem, ()), *others)))
    return merged


def tsquery_literal(lexeme: str, weights: str = "") -> str:
    """One stemmed lexeme as tsquery text (quoted, so no word is parsed or stemmed again)."""
    quoted = lexeme.replace("\\", "\\\\").replace("'", "''")
    return f"'{quoted}'" + (f":{weights}" if weights else "")


def tsquery_any(lexemes: Sequence[str], weights: str = "") -> str:
    """A tsquery matching any of the stems: a word and its other spellings."""
    return " | ".join(tsquery_literal(x, weights) for x in lexemes)
