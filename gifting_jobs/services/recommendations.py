"""Gift recommendations: the seed's `getRecommendations`, hybrid search on Postgres.

Two searches run under the same hard filters (PUBLISHED and visible, the
profile's embedding model, inside the budget, no dislike phrase in the
product's text): a cosine search of the profile's vector over the HNSW index,
and a full-text search of the profile's interest phrases over the products'
generated `search_vector` (English stemming, GIN index). Their candidates
are merged and scored by one calibrated sum (`gifting_jobs.services.ranking`):
semantic closeness to the profile and to its closest interest phrase, how
much of an interest phrase the product's words cover, a small boost for an
enrichment tag the interests name, and penalties for dislikes. Taxonomy tags
never filter: the offline tagger is often wrong. The merged pool is then
re-ranked by maximal marginal relevance (MMR) so a page is not ten variants
of one item.

A budget that keeps few products is searched exactly instead: every product
in it is scored from a B-tree on price that carries the vectors, which reads
far fewer pages than a filtered HNSW scan. With other selective filters a
plain HNSW scan returns too few rows (it finds `ef_search` neighbours, then
filters), so the scan is iterative (`hnsw.iterative_scan = relaxed_order`)
and an exact scan takes over when the index still returns fewer rows than
asked.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

import numpy as np
from django.db import connection, transaction
from django.db.models import (
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Concat

from gifting_jobs.answers import facets_of, singular
from gifting_jobs.audiences import Audience, audiences_in
from gifting_jobs.exceptions import (
    FieldError,
    JobError,
    ProfileBeingProcessed,
    ProfileNotFound,
    ValidationError,
    field_error,
)
from gifting_jobs.jobs import enqueue_taste_profile_embedding
from gifting_jobs.models import Product, ProductStatus, TasteProfile
from gifting_jobs.models.catalog import (
    ENRICHMENT_RECIPIENTS,
    ENRICHMENT_TAGS,
    enrichment_list,
)
from gifting_jobs.models.vectors import MAX_COVERED_DIMENSIONS, decode_vectors, embedding_dimensions, fetch_binary_sql
from gifting_jobs.payloads import TriggeredBy
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.providers.embeddings.base import unit_rows
from gifting_jobs.services.ranking import (
    DEFAULT_WEIGHTS,
    PoolSignals,
    RankingWeights,
    best_phrases,
    score_pool,
)
from gifting_jobs.taxonomy import RECIPIENT_TYPES, TAG_LABELS
from gifting_jobs.text_search import (
    STRONG_WEIGHTS,
    LruCache,
    phrase_lexemes,
    spelling_lexemes,
    spelling_variants,
    tsquery_any,
)

logger = logging.getLogger(__name__)

#: Recommendations per call unless the caller asks otherwise, and the most one call may ask.
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
#: MMR trade-off: 1.0 ranks by relevance only, 0.0 by novelty only (see the README for the
#: figures it was chosen by).
DEFAULT_MMR_LAMBDA = 0.85
#: Cosine similarity above which two products count as the same item (a variant, a
#: re-listing): a near-duplicate of a picked product is only shown when nothing else is left.
#: Set for the default MiniLM, whose variants differing by a title word score 0.86-0.99 and
#: whose closest distinct products of the demo, labelled and gift catalogs 0.80 (WordLlama:
#: variants >= 0.95, distinct products <= 0.73).
DEFAULT_DUPLICATE_SIMILARITY = 0.83
#: MMR picks from the `limit * POOL_FACTOR` nearest candidates of each search (at most MAX_POOL).
#: Over a pool of 4x, MMR took under 1% (no filter) and 5% (5% filter) of its picks beyond 2x,
#: while a filtered index scan costs about linearly in the rows it must find.
DEFAULT_POOL_FACTOR, MAX_POOL = 2.0, 200
#: HNSW candidate list size; the iterative scan extends it while filters reject rows. On the
#: 100k bench catalog recall@20 was 0.84 at 40 (pgvector's default), 0.93 at 100, 0.98 at 200.
DEFAULT_EF_SEARCH = 200
#: `hnsw.iterative_scan` mode: relaxed order is fast and the pool is re-sorted by distance anyway.
DEFAULT_ITERATIVE_SCAN = "relaxed_order"
#: A budget the planner expects to keep at most this many products is searched exactly, over the
#: covering price index: at 100k products that scan took about as long as the filtered HNSW scan
#: at ~9k products in the budget, and under half of it at 5k (the HNSW scan fetches a heap row per
#: candidate it filters, ~800 for 40 rows when 5% pass). 0 always uses the HNSW index.
DEFAULT_BUDGET_SCAN_ROWS = 8_000
#: How long the planner's estimate of a budget's products is reused (seconds), and for how many budgets.
BUDGET_ESTIMATE_SECONDS, BUDGET_ESTIMATE_CACHE_SIZE = 300.0, 1024
#: Interest and dislike phrases of a profile that are searched (the questionnaire allows 30).
MAX_SEARCH_PHRASES = 12
#: Phrase vectors kept per process: phrases repeat across calls of one user.
PHRASE_CACHE_SIZE = 4096
#: Reasons shown with one recommendation, at most.
MAX_REASONS = 3
#: What the user reads when there is no profile to recommend from.
MESSAGE_NO_PROFILE = "Complete onboarding (the taste questionnaire) to get gift recommendations."
#: What the user reads while the profile's embedding is being made.
MESSAGE_PROCESSING = "Your taste profile is being processed. Recommendations will be ready in a moment."

_RECIPIENT_LABELS = {t.slug: t.label for t in RECIPIENT_TYPES}

#: An SQL statement or fragment with its parameters (`%s` placeholders).
Sql = tuple[str, list[Any]]


@dataclass(frozen=True)
class Recommendation:
    """One recommended product: `score` is its relevance on a 0..1 scale (1 is the best possible match).

    The list is in MMR order, so scores need not decrease strictly.
    """

    product: Product
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SearchTuning:
    """How candidates are searched and re-ranked; the defaults serve the app, tests and benchmarks vary them."""

    mmr_lambda: float = DEFAULT_MMR_LAMBDA
    duplicate_similarity: float = DEFAULT_DUPLICATE_SIMILARITY
    pool_factor: float = DEFAULT_POOL_FACTOR
    max_pool: int = MAX_POOL
    ef_search: int = DEFAULT_EF_SEARCH
    #: "off", "relaxed_order" or "strict_order".
    iterative_scan: str = DEFAULT_ITERATIVE_SCAN
    #: Keep the planner on the HNSW scan (no sequential scan, no sort, no exact budget scan), so
    #: benchmarks and tests measure it.
    force_index: bool = False
    #: The most products a budget may keep for the exact budget scan (see `DEFAULT_BUDGET_SCAN_ROWS`).
    budget_scan_rows: int = DEFAULT_BUDGET_SCAN_ROWS
    #: Whether the full-text search adds candidates (off: the vector search alone, as before hybrid search).
    lexical: bool = True
    weights: RankingWeights = DEFAULT_WEIGHTS

    def pool_size(self, limit: int) -> int:
        return max(limit, min(math.ceil(limit * self.pool_factor), self.max_pool))


DEFAULT_TUNING = SearchTuning()


class CandidateSource(StrEnum):
    """Which search found a candidate."""

    VECTOR = "vector"
    LEXICAL = "lexical"


class SearchPath(StrEnum):
    """Which scan produced the vector candidates."""

    INDEX = "index"
    #: The budget keeps few products: all of them were scored, read from the covering price index.
    BUDGET = "budget"
    #: The index returned fewer rows than asked; an exact scan was run instead.
    EXACT_FALLBACK = "exact_fallback"
    #: An exact scan was asked for (benchmarks' reference).
    EXACT = "exact"


def product_tags(product: Product) -> frozenset[str]:
    """The taxonomy tags enrichment gave a product (empty before enrichment)."""
    return enrichment_list(product.enrichment, ENRICHMENT_TAGS)


def dislike_pattern(dislikes: Sequence[str]) -> str | None:
    """A Postgres regex (ARE) matching any dislike phrase as whole words, singular or plural, in any spelling."""
    alternatives = []
    for phrase in dislikes:
        words = phrase.split()
        if not words:
            continue
        leading = [_either([re.escape(x) for x in (w, *spelling_variants(w))]) for w in words[:-1]]
        last = _either([_plural_pattern(w) for w in (singular(words[-1]), *spelling_variants(words[-1]))])
        alternatives.append(r"\s+".join([*leading, last]))
    if not alternatives:
        return None
    return r"\m(?:" + "|".join(alternatives) + r")\M"


def _plural_pattern(word: str) -> str:
    stem = re.escape(word)
    return f"(?:{stem[:-1]}(?:y|ies)|{stem}s)" if stem.endswith("y") else f"{stem}(?:s|es)?"


def _either(patterns: Sequence[str]) -> str:
    """One word's spellings (as patterns) as one group."""
    return patterns[0] if len(patterns) == 1 else "(?:" + "|".join(patterns) + ")"


_vector_cache = LruCache(PHRASE_CACHE_SIZE)


def phrase_vectors(phrases: Sequence[str], *, model_name: str) -> np.ndarray | None:
    """Unit vectors of the phrases by the current provider, or None when it cannot make them now.

    Phrases are embedded at request time (and cached per process): with the
    offline provider that costs microseconds; a remote provider that fails
    only costs the phrase signals, never the recommendations.
    """
    if not phrases:
        return np.zeros((0, 0))
    keys = [(model_name, p) for p in phrases]
    found = _vector_cache.get_many(keys)
    missing = [k for k in dict.fromkeys(keys) if k not in found]
    if missing:
        provider = get_embedding_provider()
        if provider.model_name != model_name:
            return None
        try:
            vectors = provider.embed([p for _, p in missing])
        except JobError as exc:
            logger.warning("phrase vectors unavailable (%s): ranking without them", exc, exc_info=True)
            return None
        computed = {key: np.asarray(vector, dtype=np.float64) for key, vector in zip(missing, vectors, strict=True)}
        _vector_cache.put_many(computed)
        found.update(computed)
    return unit_rows(np.array([found[k] for k in keys], dtype=np.float64))


@dataclass(frozen=True)
class PhraseTerms:
    """A profile's phrases as the full-text search sees them: stems per phrase, in the facets' order.

    `dislikes` keep only the stems the interests do not use, with the phrase's
    full stem count: "noisy party games" beside "strategy board games" is
    ('noisi', 'parti') of 3. `spellings` are the stems of other spellings of
    a word, searched with it: ('whiski', ('whiskey',)).
    """

    interests: tuple[str, ...] = ()
    interest_lexemes: tuple[tuple[str, ...], ...] = ()
    dislikes: tuple[str, ...] = ()
    dislike_lexemes: tuple[tuple[str, ...], ...] = ()
    dislike_sizes: tuple[int, ...] = ()
    spellings: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def for_phrases(cls, interests: Sequence[str], dislikes: Sequence[str]) -> PhraseTerms:
        interests, dislikes = tuple(interests[:MAX_SEARCH_PHRASES]), tuple(dislikes[:MAX_SEARCH_PHRASES])
        lexemes = phrase_lexemes([*interests, *dislikes])
        liked = lexemes[: len(interests)]
        shared = {lexeme for phrase in liked for lexeme in phrase}
        disliked = lexemes[len(interests) :]
        return cls(
            interests=interests,
            interest_lexemes=tuple(liked),
            dislikes=dislikes,
            dislike_lexemes=tuple(tuple(x for x in phrase if x not in shared) for phrase in disliked),
            dislike_sizes=tuple(len(phrase) for phrase in disliked),
            spellings=tuple(sorted(spelling_lexemes([*interests, *dislikes]).items())),
        )

    @property
    def searchable(self) -> bool:
        return any(self.interest_lexemes)

    def spelt(self, lexeme: str) -> tuple[str, ...]:
        """The stem and the stems of its word's other spellings."""
        return (lexeme, *dict(self.spellings).get(lexeme, ()))

    def any_interest_query(self) -> str:
        """A tsquery matching a product with any interest stem, in any spelling."""
        return tsquery_any(
            sorted({x for phrase in self.interest_lexemes for lexeme in phrase for x in self.spelt(lexeme)})
        )

    def _coverage_sql(self, lexemes: tuple[str, ...], size: int, body_credit: float) -> tuple[str, list[Any]]:
        """SQL of the share of a phrase's stems in `search_vector`, title and tags counting fully."""
        if not lexemes or not size:
            return "0.0::float8", []
        parts, params = [], []
        for lexeme in lexemes:
            spelt = self.spelt(lexeme)
            if body_credit:
                parts.append(
                    "CASE WHEN search_vector @@ %s::tsquery THEN 1.0 WHEN search_vector @@ %s::tsquery THEN %s ELSE 0.0 END"
                )
                params += [tsquery_any(spelt, STRONG_WEIGHTS), tsquery_any(spelt), body_credit]
            else:
                parts.append("CASE WHEN search_vector @@ %s::tsquery THEN 1.0 ELSE 0.0 END")
                params.append(tsquery_any(spelt))
        return f"(({' + '.join(parts)}) / {size:d})::float8", params

    def coverage(self, body_credit: float) -> Sql:
        """Per row, a float8[]: each interest phrase's coverage, then each dislike's (its own stems only, all anywhere)."""
        parts, params = [], []
        for lexemes in self.interest_lexemes:
            sql, values = self._coverage_sql(lexemes, len(lexemes), body_credit)
            parts.append(sql)
            params += values
        for lexemes, size in zip(self.dislike_lexemes, self.dislike_sizes, strict=True):
            sql, values = self._coverage_sql(lexemes, size, 0.0)
            parts.append(sql)
            params += values
        return f"ARRAY[{', '.join(parts)}]::float8[]", params

    def best_interest_coverage(self, body_credit: float) -> Sql:
        """The best coverage of one interest phrase: what the full-text search orders by."""
        parts, params = [], []
        for lexemes in self.interest_lexemes:
            sql, values = self._coverage_sql(lexemes, len(lexemes), body_credit)
            parts.append(sql)
            params += values
        return f"GREATEST({', '.join(parts)})", params


@dataclass(frozen=True)
class ProductQuery:
    """What a profile asks of the catalog: its vector (read by Postgres itself), its model, the hard filters, its phrases."""

    profile_id: int
    model_name: str
    budget_min: Decimal | None = None
    budget_max: Decimal | None = None
    dislikes: tuple[str, ...] = ()
    terms: PhraseTerms = field(default_factory=PhraseTerms)
    body_credit: float = DEFAULT_WEIGHTS.body_word_credit
    #: Taxonomy tags the interests name, and those a dislike names and no interest does.
    interest_tags: tuple[str, ...] = ()
    dislike_tags: tuple[str, ...] = ()

    @classmethod
    def for_profile(
        cls, profile: TasteProfile, facets: dict[str, Any], *, weights: RankingWeights = DEFAULT_WEIGHTS
    ) -> ProductQuery:
        def money(value: float | None) -> Decimal | None:
            return Decimal(str(value)) if value is not None else None

        dislikes = tuple(facets.get("dislikes") or ())
        interest_tags = tuple(facets.get("interest_tags") or ())
        return cls(
            profile_id=profile.pk,
            model_name=profile.embedding_model,
            budget_min=money(facets.get("budget_min")),
            budget_max=money(facets.get("budget_max")),
            dislikes=dislikes,
            terms=PhraseTerms.for_phrases(tuple(facets.get("interests") or ()), dislikes),
            body_credit=weights.body_word_credit,
            interest_tags=interest_tags,
            dislike_tags=tuple(t for t in facets.get("dislike_tags") or () if t not in interest_tags),
        )

    def filtered(self) -> QuerySet[Product]:
        """Products that may be recommended at all, unordered."""
        products = Product.objects.filter(
            status=ProductStatus.PUBLISHED,
            visible_to_gifter=True,
            embedding__isnull=False,
            # Vectors of another model live in another space: never compared.
            embedding_model=self.model_name,
        )
        if self.budget_min is not None:
            products = products.filter(price__gte=self.budget_min)
        if self.budget_max is not None:
            products = products.filter(price__lte=self.budget_max)
        pattern = dislike_pattern(self.dislikes)
        if pattern is not None:
            # A product whose own text names a whole dislike is never shown.
            products = products.alias(
                searchable=Concat(
                    "title",
                    Value(" "),
                    "brand",
                    Value(" "),
                    "description",
                    Value(" "),
                    Cast("tags", TextField()),
                    output_field=TextField(),
                )
            ).exclude(searchable__iregex=pattern)
        return products

    @property
    def has_budget(self) -> bool:
        return self.budget_min is not None or self.budget_max is not None

    def where(self, *, text: bool = True) -> Sql:
        """The hard filters of `filtered()` as one SQL condition: the searches are written as SQL.

        Building the two searches with the ORM cost more CPU than Postgres
        spent running them; `filtered()` stays the readable reference, and a
        test holds both to the same rows. `text=False` leaves out the dislike
        filter (the only one the covering price index cannot answer).
        """
        clauses = ["embedding IS NOT NULL", "embedding_model = %s", "status = %s", "visible_to_gifter"]
        params: list[Any] = [self.model_name, ProductStatus.PUBLISHED.value]
        if self.budget_min is not None:
            clauses.append("price >= %s")
            params.append(self.budget_min)
        if self.budget_max is not None:
            clauses.append("price <= %s")
            params.append(self.budget_max)
        pattern = dislike_pattern(self.dislikes) if text else None
        if pattern is not None:
            # A product whose own text names a whole dislike is never shown.
            clauses.append(_DISLIKE_FILTER_SQL)
            params.append(pattern)
        return " AND ".join(clauses), params

    def _signals(self) -> Sql:
        """A candidate row's columns between its distance and its source (see `CANDIDATE_COLUMNS`): what it is scored on.

        Postgres computes the phrase coverage and the tag matches: the
        enrichment JSON of most candidates is never read in Python.
        """
        coverage, params = self.terms.coverage(self.body_credit)
        tags = []
        for names in (self.interest_tags, self.dislike_tags):
            if names:
                # As `enrichment_list`: string elements of a `tags` list.
                tags.append(
                    "COALESCE(jsonb_typeof(enrichment -> 'tags') = 'array' AND (enrichment -> 'tags') ?| %s, false)"
                )
                params.append(list(names))
            else:
                tags.append("false")
        return f"embedding, {coverage} AS coverage, {tags[0]} AS interest_tag, {tags[1]} AS dislike_tag", params

    def candidates(self, *searches: Sql) -> Sql:
        """The candidate rows (`CANDIDATE_COLUMNS`) of what these searches found, in one statement (`UNION ALL`).

        Each search returns only (id, distance, source) rows; the products'
        columns and signals are read once per found row, after the searches
        have sorted and cut their matches.
        """
        union = " UNION ALL ".join(f"({sql})" for sql, _ in searches)
        signals, params = self._signals()
        sql = (
            f"SELECT {_PRODUCT_COLUMNS_SQL}, candidate_distance AS distance, {signals}, candidate_source AS source "
            f"FROM ({union}) AS candidates JOIN {_PRODUCT_TABLE} ON id = candidate_id"
        )
        return sql, [*params, *(param for _, search_params in searches for param in search_params)]

    def nearest(self, count: int) -> Sql:
        """The `count` nearest allowed products by cosine distance (the HNSW index's order), for `candidates`.

        The profile's vector is a scalar subquery (an InitPlan the HNSW scan
        orders by): it never travels to Python and back as 256 numbers.
        """
        where, params = self.where()
        sql = (
            f"SELECT id AS candidate_id, embedding <=> ({_PROFILE_VECTOR_SQL}) AS candidate_distance, "
            f"'{CandidateSource.VECTOR.value}'::text AS candidate_source "
            f"FROM {_PRODUCT_TABLE} WHERE {where} ORDER BY candidate_distance LIMIT %s"
        )
        return sql, [self.profile_id, *params, count]

    def nearest_in_budget(self, count: int) -> Sql:
        """`nearest(count)` found by scoring every product inside the budget (exact), for a budget that keeps few.

        The distance is the `cosine_distance` function, the `<=>` operator's
        own: written as a call, it cannot be served by the HNSW index, and the
        products in the budget are read from the covering `product_price_vector`
        index in price order. The dislike filter, which needs the text, is
        checked on the rows of the nearest, nearest first, until `count` pass.
        """
        where, params = self.where(text=False)
        distance = f"cosine_distance(embedding, ({_PROFILE_VECTOR_SQL}))"
        source = f"'{CandidateSource.VECTOR.value}'::text AS candidate_source"
        pattern = dislike_pattern(self.dislikes)
        if pattern is None:
            sql = (
                f"SELECT id AS candidate_id, {distance} AS candidate_distance, {source} "
                f"FROM {_PRODUCT_TABLE} WHERE {where} ORDER BY candidate_distance LIMIT %s"
            )
            return sql, [self.profile_id, *params, count]
        ranked = (
            f"SELECT id AS ranked_id, {distance} AS ranked_distance "
            f"FROM {_PRODUCT_TABLE} WHERE {where} ORDER BY ranked_distance"
        )
        sql = (
            f"SELECT ranked_id AS candidate_id, ranked_distance AS candidate_distance, {source} "
            f"FROM ({ranked}) AS ranked JOIN {_PRODUCT_TABLE} ON id = ranked_id "
            f"WHERE {_DISLIKE_FILTER_SQL} ORDER BY ranked_distance LIMIT %s"
        )
        return sql, [self.profile_id, *params, pattern, count]

    def lexical(self, count: int) -> Sql:
        """The `count` allowed products covering an interest phrase best (nearest first among equals), for `candidates`.

        Candidates are the products whose title or CMS tags hold an interest
        stem (`title_search_vector`, GIN-indexed: descriptions would make the
        index return several times more rows, and drawing on them changed no
        ranking of the tuning split); they are scored on the whole text.
        """
        where, params = self.where()
        best, best_params = self.terms.best_interest_coverage(self.body_credit)
        sql = (
            f"SELECT id AS candidate_id, embedding <=> ({_PROFILE_VECTOR_SQL}) AS candidate_distance, "
            f"'{CandidateSource.LEXICAL.value}'::text AS candidate_source "
            f"FROM {_PRODUCT_TABLE} WHERE {where} AND title_search_vector @@ %s::tsquery "
            f"ORDER BY {best} DESC, candidate_distance, id LIMIT %s"
        )
        return sql, [self.profile_id, *params, self.terms.any_interest_query(), *best_params, count]


#: A product whose own text names a whole dislike (the pattern is the parameter) is never shown.
_DISLIKE_FILTER_SQL = "NOT (concat(title, ' ', brand, ' ', description, ' ', tags::text) ~* %s)"


#: The product columns a candidate row carries (all but the vector and the search vectors),
#: then its distance, vector and phrase coverage.
_PRODUCT_COLUMNS = tuple(
    f.attname
    for f in Product._meta.concrete_fields
    if f.attname not in ("embedding", "search_vector", "title_search_vector")
)
CANDIDATE_COLUMNS = (
    *_PRODUCT_COLUMNS,
    "distance",
    "embedding",
    "coverage",
    "interest_tag",
    "dislike_tag",
    "source",
)


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)


_PRODUCT_COLUMNS_SQL = _column_list(_PRODUCT_COLUMNS)
_PRODUCT_TABLE = f'"{Product._meta.db_table}"'
_PROFILE_VECTOR_SQL = f'SELECT embedding FROM "{TasteProfile._meta.db_table}" WHERE id = %s'


class Candidate(NamedTuple):
    """A product found by a search: its cosine distance, unit vector, phrase coverage and loaded columns.

    An immutable record built ~80 times per call: a named tuple is built in a
    fifth of the time a frozen dataclass takes (which sets each field through
    `object.__setattr__`).
    """

    product_id: int
    distance: float
    vector: np.ndarray
    #: The values of `_PRODUCT_COLUMNS`, turned into a `Product` only for the picked few; its JSON
    #: columns may still be JSON text (bytes), decoded when read.
    columns: tuple[Any, ...] = ()
    #: Each interest phrase's coverage, then each dislike's (see `PhraseTerms.coverage`).
    coverage: tuple[float, ...] = ()
    source: CandidateSource = CandidateSource.VECTOR
    #: Enrichment gave it a tag the interests name; one a dislike names (and no interest does).
    interest_tag: bool = False
    dislike_tag: bool = False

    def product(self) -> Product:
        """The product, built from the loaded columns (its vectors left deferred: a page never needs them).

        `from_db` is Django's documented hook for building an instance from loaded values.
        """
        values = list(self.columns)
        for i in _JSON_COLUMNS:
            values[i] = _json_value(values[i])
        return Product.from_db(connection.alias, _PRODUCT_FIELD_NAMES, values)

    @property
    def enrichment(self) -> Any:
        """The product's enrichment JSON, decoded on each read (scoring itself never needs it)."""
        return _json_value(self.columns[_ENRICHMENT_COLUMN])

    def audiences(self) -> frozenset[Audience]:
        """Who the product is for when not a grown-up, by its title and CMS tags."""
        tags = _json_value(self.columns[_TAGS_COLUMN])
        return audiences_in([self.columns[_TITLE_COLUMN] or "", *(str(t) for t in tags or ())])


def _json_value(value: Any) -> Any:
    """A JSON column's value, decoding it if it is still JSON text (bytes: a decoded value never is)."""
    # json.loads reads a str faster than bytes, whose encoding it detects first.
    return json.loads(value.decode()) if isinstance(value, bytes) else value


_ENRICHMENT_COLUMN = _PRODUCT_COLUMNS.index("enrichment")
_TITLE_COLUMN, _TAGS_COLUMN = _PRODUCT_COLUMNS.index("title"), _PRODUCT_COLUMNS.index("tags")
_JSON_COLUMNS = tuple(i for i, name in enumerate(_PRODUCT_COLUMNS) if name in ("tags", "enrichment"))
_SOURCES = {source.value: source for source in CandidateSource}
#: For `from_db`, which asks of each model field whether it was loaded: a set answers in one step.
_PRODUCT_FIELD_NAMES = frozenset(_PRODUCT_COLUMNS)


def _fetch_candidates(statement: Sql) -> list[Candidate]:
    """Candidates carrying their products' columns: the page needs no second query.

    JSON columns stay text until read (most candidates are never shown), and
    the vectors are decoded and made unit length all at once.
    """
    width, pk = len(_PRODUCT_COLUMNS), _PRODUCT_COLUMNS.index("id")
    rows = fetch_binary_sql(*statement, json_text=True)
    vectors = unit_rows(decode_vectors([row[width + 1] for row in rows]))
    return [
        Candidate(
            row[pk],
            float(row[width]),
            vector,
            row[:width],
            tuple(row[width + 2] or ()),
            _SOURCES[row[width + 5]],
            row[width + 3],
            row[width + 4],
        )
        for row, vector in zip(rows, vectors, strict=True)
    ]


@contextmanager
def _local_settings(values: dict[str, str]) -> Iterator[None]:
    """Run the block in a transaction with these settings (SET LOCAL), leaving none behind.

    Under a caller's transaction, SET LOCAL would outlive our block; rolling
    back to a savepoint undoes it, and the block only reads.
    """
    nested = connection.in_atomic_block
    with transaction.atomic(savepoint=False):
        savepoint = transaction.savepoint_create() if nested else None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in values),
                [item for pair in values.items() for item in pair],
            )
        try:
            yield
        finally:
            if savepoint is not None:
                transaction.savepoint_rollback(savepoint)


def _index_settings(tuning: SearchTuning, count: int) -> dict[str, str]:
    # ef_search below the LIMIT would cap what one scan can return.
    values = {"hnsw.ef_search": str(max(tuning.ef_search, count)), "hnsw.iterative_scan": tuning.iterative_scan}
    if tuning.force_index:
        # Without a sort or a sequential scan, the only plan left is the ordered HNSW scan.
        values.update(enable_seqscan="off", enable_sort="off")
    return values


_budget_estimates = LruCache(BUDGET_ESTIMATE_CACHE_SIZE)


def budget_rows(query: ProductQuery) -> int | None:
    """The planner's estimate of the products inside the profile's budget (every filter but dislikes); None without one.

    The planner knows the price distribution (its statistics); one EXPLAIN per
    budget and process, reused for `BUDGET_ESTIMATE_SECONDS`.
    """
    if not query.has_budget:
        return None
    key = (query.model_name, query.budget_min, query.budget_max)
    now = time.monotonic()
    cached = _budget_estimates.get_many([key]).get(key)
    if cached is not None and now - cached[1] < BUDGET_ESTIMATE_SECONDS:
        return int(cached[0])
    where, params = query.where(text=False)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {_PRODUCT_TABLE} WHERE {where}", params)
        plan = cursor.fetchone()[0]
    estimate = int((json.loads(plan) if isinstance(plan, (str, bytes)) else plan)[0]["Plan"]["Plan Rows"])
    _budget_estimates.put_many({key: (estimate, now)})
    return estimate


def vector_path(query: ProductQuery, *, tuning: SearchTuning = DEFAULT_TUNING) -> SearchPath:
    """How the vector search runs: the exact budget scan when the budget keeps few products, else the HNSW index.

    Vectors too wide for the covering price index (a B-tree entry) always go
    through HNSW: scanning a budget's table rows is slower than the index.
    """
    if tuning.force_index or tuning.budget_scan_rows <= 0 or not query.has_budget:
        return SearchPath.INDEX
    if embedding_dimensions() > MAX_COVERED_DIMENSIONS:
        return SearchPath.INDEX
    rows = budget_rows(query)
    return SearchPath.BUDGET if rows is not None and rows <= tuning.budget_scan_rows else SearchPath.INDEX


def explain_search(
    query: ProductQuery, *, count: int, tuning: SearchTuning = DEFAULT_TUNING, analyze: bool = False
) -> str:
    """The query plan of the vector search as it runs (`vector_path`): benchmarks and tests check the index it uses."""
    if vector_path(query, tuning=tuning) is SearchPath.BUDGET:
        return _explain(query.candidates(query.nearest_in_budget(count)), analyze=analyze)
    with _local_settings(_index_settings(tuning, count)):
        return _explain(query.candidates(query.nearest(count)), analyze=analyze)


def explain_lexical(query: ProductQuery, *, count: int, analyze: bool = False) -> str:
    """The query plan of the full-text search (benchmarks and tests check that the GIN index is used)."""
    return _explain(query.candidates(query.lexical(count)), analyze=analyze)


def _explain(statement: Sql, *, analyze: bool) -> str:
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE {'true' if analyze else 'false'}) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _by_distance(candidates: list[Candidate]) -> list[Candidate]:
    # The join to the products' rows keeps no order, the relaxed-order index scan returns
    # neighbours only roughly sorted, and equal distances need one order.
    candidates.sort(key=lambda c: (c.distance, c.product_id))
    return candidates


def search_candidates(
    query: ProductQuery, *, count: int, tuning: SearchTuning = DEFAULT_TUNING, exact: bool = False, enough: int = 1
) -> tuple[list[Candidate], SearchPath]:
    """The `count` nearest allowed products, nearest first, and the path that found them.

    A budget that keeps few products is scanned exactly (`vector_path`).
    Otherwise the index path is trusted when it returns at least `enough`
    rows; below that it may have given up early (selective filters), so an
    exact scan answers instead.
    """
    if not exact:
        path = vector_path(query, tuning=tuning)
        if path is SearchPath.BUDGET:
            return _by_distance(_fetch_candidates(query.candidates(query.nearest_in_budget(count)))), path
        with _local_settings(_index_settings(tuning, count)):
            candidates = _fetch_candidates(query.candidates(query.nearest(count)))
        if len(candidates) >= enough:
            return _by_distance(candidates), SearchPath.INDEX
    with _local_settings({"enable_indexscan": "off"}):
        candidates = _fetch_candidates(query.candidates(query.nearest(count)))
    return _by_distance(candidates), SearchPath.EXACT if exact else SearchPath.EXACT_FALLBACK


def lexical_candidates(query: ProductQuery, *, count: int) -> list[Candidate]:
    """The `count` allowed products whose words cover an interest phrase best (none without interest words)."""
    if not query.terms.searchable:
        return []
    return _fetch_candidates(query.candidates(query.lexical(count)))


def hybrid_candidates(
    query: ProductQuery, *, count: int, tuning: SearchTuning = DEFAULT_TUNING, exact: bool = False, enough: int = 1
) -> tuple[list[Candidate], SearchPath]:
    """The union of the vector and the full-text candidates (each search `count` deep), each product once.

    Both searches go to Postgres as one statement (`UNION ALL`): one round
    trip. When its vector half comes back short of `enough`, the vector
    search is run again exactly (see `search_candidates`).
    """
    if not tuning.lexical or not query.terms.searchable:
        return search_candidates(query, count=count, tuning=tuning, exact=exact, enough=enough)
    if exact:
        vector, path = search_candidates(query, count=count, tuning=tuning, exact=True)
        lexical = lexical_candidates(query, count=count)
    else:
        path = vector_path(query, tuning=tuning)
        if path is SearchPath.BUDGET:
            both = _fetch_candidates(query.candidates(query.nearest_in_budget(count), query.lexical(count)))
        else:
            with _local_settings(_index_settings(tuning, count)):
                both = _fetch_candidates(query.candidates(query.nearest(count), query.lexical(count)))
        lexical = [c for c in both if c.source is CandidateSource.LEXICAL]
        vector = _by_distance([c for c in both if c.source is CandidateSource.VECTOR])
        if path is SearchPath.INDEX and len(vector) < enough:
            vector, _ = search_candidates(query, count=count, tuning=tuning, exact=True)
            path = SearchPath.EXACT_FALLBACK
    merged = {c.product_id: c for c in vector}
    for candidate in lexical:
        merged.setdefault(candidate.product_id, candidate)
    return list(merged.values()), path


@dataclass(frozen=True)
class ProfileSignals:
    """What a profile brings to scoring in Python: its phrases' vectors (Postgres matches its tags and words)."""

    interest_vectors: np.ndarray
    dislike_vectors: np.ndarray
    #: Who, other than grown-ups, the profile buys for (a pet, a child).
    audiences: frozenset[str] = frozenset()

    @classmethod
    def for_profile(cls, facets: dict[str, Any], terms: PhraseTerms, *, model_name: str) -> ProfileSignals:
        vectors = phrase_vectors([*terms.interests, *terms.dislikes], model_name=model_name)
        empty = np.zeros((0, 0))
        return cls(
            interest_vectors=vectors[: len(terms.interests)] if vectors is not None else empty,
            dislike_vectors=vectors[len(terms.interests) :] if vectors is not None else empty,
            audiences=frozenset(facets.get("audiences") or ()),
        )

    def pool(self, candidates: Sequence[Candidate], vectors: np.ndarray, terms: PhraseTerms) -> PoolSignals:
        """The signals the candidates are scored on; `vectors` are their unit vectors, row by row."""
        split, count = len(terms.interests), len(candidates)
        coverage = np.array([c.coverage for c in candidates], dtype=np.float64).reshape(count, -1 if count else 0)

        def similarity(phrases: np.ndarray) -> np.ndarray:
            return vectors @ phrases.T if phrases.size and count else np.zeros((count, 0))

        return PoolSignals(
            profile_similarity=1.0 - np.array([c.distance for c in candidates], dtype=np.float64),
            interest_similarity=similarity(self.interest_vectors),
            interest_coverage=coverage[:, :split],
            dislike_coverage=coverage[:, split:],
            dislike_similarity=similarity(self.dislike_vectors),
            has_interest_tag=np.array([c.interest_tag for c in candidates], dtype=bool),
            has_dislike_tag=np.array([c.dislike_tag for c in candidates], dtype=bool),
            has_other_audience=np.array([bool(c.audiences() - self.audiences) for c in candidates], dtype=bool),
        )


def unit_vectors(candidates: Sequence[Candidate]) -> np.ndarray:
    """The candidates' vectors as rows of unit length (a zero vector stays zero)."""
    if not candidates:
        return np.zeros((0, 0))
    return unit_rows(np.stack([c.vector for c in candidates]))


def diversify(
    candidates: Sequence[Candidate],
    *,
    limit: int,
    mmr_lambda: float,
    duplicate_similarity: float = DEFAULT_DUPLICATE_SIMILARITY,
    relevance: Sequence[float] | np.ndarray | None = None,
) -> list[Candidate]:
    """Pick `limit` candidates by maximal marginal relevance, near-duplicates last (see `mmr_order`).

    `relevance` defaults to the cosine similarity to the profile.
    """
    gains = np.asarray(relevance if relevance is not None else [1.0 - c.distance for c in candidates])
    order = mmr_order(
        unit_vectors(candidates),
        gains,
        limit=limit,
        mmr_lambda=mmr_lambda,
        duplicate_similarity=duplicate_similarity,
    )
    return [candidates[i] for i in order]


def mmr_order(
    vectors: np.ndarray,
    gains: np.ndarray,
    *,
    limit: int,
    mmr_lambda: float,
    duplicate_similarity: float = DEFAULT_DUPLICATE_SIMILARITY,
) -> list[int]:
    """Indexes of `limit` rows picked by maximal marginal relevance over unit `vectors`.

    Each step takes the row maximising
    `lambda * gain(p) - (1 - lambda) * max(sim(p, q) for q already picked)`;
    the first pick is the most relevant one. A row at least
    `duplicate_similarity` close to a picked one is only taken when no other
    row is left: MMR alone lets a cluster of variants that is far more
    relevant than the rest fill a page.
    """
    count = len(gains)
    if not count:
        return []
    weighted, novelty = mmr_lambda * gains, 1 - mmr_lambda
    redundancy = np.full(count, -np.inf)
    available = np.ones(count, dtype=bool)
    # Available and not a near-duplicate of a picked row: redundancy only grows, so one
    # comparison per pick keeps it.
    distinct = np.ones(count, dtype=bool)
    picked: list[int] = []
    scores = gains
    for _ in range(min(limit, count)):
        # Ties go to the lower index (the lower product id among equals), so equal inputs give one order.
        best = int(np.where(distinct if distinct.any() else available, scores, -np.inf).argmax())
        picked.append(best)
        available[best] = distinct[best] = False
        # One row of similarities per pick: the whole matrix (a matrix product) cost
        # more than the rest of MMR, as BLAS threads it even for a pool of 80.
        similarity = vectors @ vectors[best]
        np.maximum(redundancy, similarity, out=redundancy)
        distinct &= similarity < duplicate_similarity
        scores = weighted - novelty * redundancy
    return picked


def _reasons(product: Product, facets: dict[str, Any], phrase: tuple[str, bool] | None) -> tuple[str, ...]:
    """Why a product is shown, in the gifter's terms: the interest phrase it matches first."""
    reasons = []
    if phrase is not None:
        text, by_words = phrase
        reasons.append(f"Matches their interest in {text}" if by_words else f"Close to their interest in {text}")
    tags = product_tags(product)
    shared = [TAG_LABELS[t].lower() for t in facets.get("interest_tags") or () if t in tags and t in TAG_LABELS]
    if shared and phrase is None:
        reasons.append(f"Matches their interests: {', '.join(shared)}")
    relationship = facets.get("relationship")
    if relationship and relationship in enrichment_list(product.enrichment, ENRICHMENT_RECIPIENTS):
        reasons.append(f"A good fit for a {_RECIPIENT_LABELS.get(relationship, relationship).lower()}")
    low, high = facets.get("budget_min"), facets.get("budget_max")
    if product.price is not None and (low is not None or high is not None):
        reasons.append(f"Within the budget ({_budget_text(low, high)})")
    if product.is_featured:
        reasons.append("A featured pick")
    if not reasons:
        reasons.append("Close to their taste profile")
    return tuple(reasons[:MAX_REASONS])


def _budget_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    return f"up to {high:g}" if high is not None else f"from {low:g}"


def _display_score(relevance: float, weights: RankingWeights) -> float:
    """The calibrated sum on a 0..1 scale: divided by its largest possible value, floored at 0."""
    ceiling = weights.profile + weights.interest + weights.lexical + weights.tag
    return round(min(1.0, max(0.0, relevance / ceiling)), 4) if ceiling > 0 else 0.0


@dataclass(frozen=True)
class ScoredPool:
    """The fused candidates of one profile, most relevant first, with what they were scored on."""

    facets: dict[str, Any]
    terms: PhraseTerms
    candidates: list[Candidate]
    #: The candidates' unit vectors, row by row.
    vectors: np.ndarray
    signals: PoolSignals
    relevance: np.ndarray
    path: SearchPath


def score_candidates(
    profile: TasteProfile, *, count: int, tuning: SearchTuning = DEFAULT_TUNING, exact: bool = False, enough: int = 1
) -> ScoredPool:
    """Both searches `count` deep for an embedded profile, merged and scored, most relevant first."""
    facets = facets_of(profile)
    query = ProductQuery.for_profile(profile, facets, weights=tuning.weights)
    candidates, path = hybrid_candidates(query, count=count, tuning=tuning, exact=exact, enough=enough)
    # Fetched candidates' vectors are unit length already.
    vectors = np.stack([c.vector for c in candidates]) if candidates else np.zeros((0, 0))
    signals = ProfileSignals.for_profile(facets, query.terms, model_name=query.model_name).pool(
        candidates, vectors, query.terms
    )
    relevance = score_pool(signals, tuning.weights)
    # One order for equal inputs whichever search found a candidate first.
    order = np.lexsort((np.array([c.product_id for c in candidates], dtype=np.int64), -relevance))
    return ScoredPool(
        facets=facets,
        terms=query.terms,
        candidates=[candidates[i] for i in order],
        vectors=vectors[order],
        signals=PoolSignals(**{name: value[order] for name, value in vars(signals).items()}),
        relevance=relevance[order],
        path=path,
    )


def recommend_for_profile(
    profile: TasteProfile, *, limit: int = DEFAULT_LIMIT, tuning: SearchTuning = DEFAULT_TUNING, exact: bool = False
) -> list[Recommendation]:
    """Ranked recommendations for an embedded profile (see `get_recommendations`)."""
    pool = score_candidates(profile, count=tuning.pool_size(limit), tuning=tuning, exact=exact, enough=limit)
    picked = mmr_order(
        pool.vectors,
        pool.relevance,
        limit=limit,
        mmr_lambda=tuning.mmr_lambda,
        duplicate_similarity=tuning.duplicate_similarity,
    )
    logger.debug(
        "recommendations for profile %s: %d candidates (vector search by %s), %d picked",
        profile.pk,
        len(pool.candidates),
        pool.path,
        len(picked),
        extra={"entity_id": str(profile.pk), "outcome": pool.path.value},
    )
    recommendations = []
    for i, phrase in zip(picked, best_phrases(pool.terms.interests, pool.signals, picked), strict=True):
        product = pool.candidates[i].product()
        recommendations.append(
            Recommendation(
                product=product,
                score=_display_score(float(pool.relevance[i]), tuning.weights),
                reasons=_reasons(product, pool.facets, phrase),
            )
        )
    return recommendations


def _checked_arguments(user_id: Any, recipient_id: Any, limit: Any) -> None:
    errors: list[FieldError] = []
    for name, value, optional in (("user_id", user_id, False), ("recipient_id", recipient_id, True)):
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(field_error(name, "Input should be a positive integer", "int_type"))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        message = f"Input should be an integer from 1 to {MAX_LIMIT}"
        errors.append(field_error("limit", message, "int_range"))
    if errors:
        raise ValidationError.from_errors("recommendation request", errors)


#: A taste profile's columns but its vector (the search reads that in Postgres).
_PROFILE_COLUMNS = tuple(f.attname for f in TasteProfile._meta.concrete_fields if f.attname != "embedding")
_PROFILE_SQL = (
    f"SELECT {_column_list(_PROFILE_COLUMNS)}, embedding IS NOT NULL "
    f'FROM "{TasteProfile._meta.db_table}" WHERE user_id = %s AND completed_at IS NOT NULL AND recipient_id '
)


def _completed_profile(user_id: int, recipient_id: int | None) -> tuple[TasteProfile | None, bool]:
    """The user's completed profile (for one recipient, or their own) without its vector, and whether it has one.

    Plain SQL: building this small query with the ORM cost more than running it.
    """
    sql, params = _PROFILE_SQL + "IS NULL", [user_id]
    if recipient_id is not None:
        sql, params = _PROFILE_SQL + "= %s", [user_id, recipient_id]
    rows = fetch_binary_sql(sql + " ORDER BY id LIMIT 1", params)
    if not rows:
        return None, False
    return TasteProfile.from_db(connection.alias, _PROFILE_COLUMNS, rows[0][:-1]), bool(rows[0][-1])


def get_recommendations(
    user_id: int, recipient_id: int | None = None, limit: int = DEFAULT_LIMIT
) -> list[Recommendation]:
    """Ranked products (with scores and reasons) for a user's taste profile, or for one recipient's.

    Raises `ValidationError` for bad arguments, `ProfileNotFound` when the
    user has not completed that profile (or the recipient is not theirs),
    and `ProfileBeingProcessed` when its vector is missing or was made by
    another model than the current one: the embedding is enqueued then, and
    asking again shortly gives recommendations.
    """
    _checked_arguments(user_id, recipient_id, limit)
    profile, has_vector = _completed_profile(user_id, recipient_id)
    if profile is None:
        raise ProfileNotFound(MESSAGE_NO_PROFILE)
    model_name = get_embedding_provider().model_name
    if not has_vector or profile.embedding_model != model_name:
        job = enqueue_taste_profile_embedding(
            profile.pk, user_id, recipient_id=recipient_id, triggered_by=TriggeredBy.PROFILE_COMPLETED
        )
        logger.info(
            "taste profile %s has no %s vector yet; embedding enqueued",
            profile.pk,
            model_name,
            extra={
                "job_id": job.id,
                "job_type": job.job_type,
                "entity_id": str(profile.pk),
                "outcome": job.outcome.value,
            },
        )
        raise ProfileBeingProcessed(MESSAGE_PROCESSING)
    return recommend_for_profile(profile, limit=limit)
