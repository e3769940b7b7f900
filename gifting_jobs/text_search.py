"""Full-text search of products: phrases as Postgres stems them, and tsquery literals.

`Product.search_vector` is a generated English tsvector (title weighted A,
CMS tags B, brand C, description D). Recommendations (interest and dislike
phrases) and collections (theme words) both search it, so the helpers live
here, below both.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from django.db import connection

from gifting_jobs.answers import GENERIC_WORDS
from gifting_jobs.models.catalog import (
    SEARCH_CONFIG,
    SEARCH_WEIGHT_TAGS,
    SEARCH_WEIGHT_TITLE,
)

#: Phrase stems kept per process: phrases repeat across calls.
LEXEME_CACHE_SIZE = 4096
#: Title and CMS tags: where a word says most about a product.
STRONG_WEIGHTS = SEARCH_WEIGHT_TITLE + SEARCH_WEIGHT_TAGS


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


def tsquery_literal(lexeme: str, weights: str = "") -> str:
    """One stemmed lexeme as tsquery text (quoted, so no word is parsed or stemmed again)."""
    quoted = lexeme.replace("\\", "\\\\").replace("'", "''")
    return f"'{quoted}'" + (f":{weights}" if weights else "")
