"""Gift recommendations: the seed's `getRecommendations`, on pgvector.

A profile's vector is compared by cosine distance with the products embedded
by the same model, over the HNSW index. Hard filters run in SQL, inside the
index scan: PUBLISHED and visible, inside the budget, no enrichment tag a
dislike names, no dislike phrase in the product's text. With selective
filters a plain HNSW scan returns too few rows (it finds `ef_search`
neighbours, then filters), so the scan is iterative (`hnsw.iterative_scan =
relaxed_order`) and an exact scan takes over when the index still returns
fewer rows than asked. A pool of the nearest candidates is then re-ranked by
maximal marginal relevance (MMR) so a page is not ten variants of one item.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Cast, Concat
from pgvector.django import CosineDistance

from gifting_jobs.answers import facets_of, singular
from gifting_jobs.exceptions import ProfileBeingProcessed, ProfileNotFound, ValidationError
from gifting_jobs.jobs import enqueue_taste_profile_embedding
from gifting_jobs.models import Product, ProductStatus, TasteProfile
from gifting_jobs.models.catalog import ENRICHMENT_RECIPIENTS, ENRICHMENT_TAGS, enrichment_list
from gifting_jobs.models.vectors import decode_vector, fetch_binary
from gifting_jobs.payloads import TriggeredBy
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.taxonomy import RECIPIENT_TYPES, TAG_LABELS

logger = logging.getLogger(__name__)

#: Recommendations per call unless the caller asks otherwise, and the most one call may ask.
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
#: MMR trade-off: 1.0 ranks by relevance only, 0.0 by novelty only. On the labelled
#: relevance set, 0.7 keeps nDCG@10 where pure relevance has it (0.900 vs 0.897) while
#: spreading a page over more themes; 0.5 costs relevance (0.751).
DEFAULT_MMR_LAMBDA = 0.7
#: Cosine similarity above which two products count as the same item (a variant, a
#: re-listing): a near-duplicate of a picked product is only shown when nothing else is left.
DEFAULT_DUPLICATE_SIMILARITY = 0.95
#: MMR picks from the `limit * POOL_FACTOR` nearest candidates (at most MAX_POOL). Over a
#: pool of 4x, MMR took under 1% (no filter) and 5% (5% filter) of its picks beyond 2x,
#: while a filtered index scan costs about linearly in the rows it must find.
DEFAULT_POOL_FACTOR, MAX_POOL = 2, 200
#: HNSW candidate list size; the iterative scan extends it while filters reject rows. On the
#: 100k bench catalog recall@20 was 0.84 at 40 (pgvector's default), 0.93 at 100, 0.98 at 200.
DEFAULT_EF_SEARCH = 200
#: `hnsw.iterative_scan` mode: relaxed order is fast and the pool is re-sorted by distance anyway.
DEFAULT_ITERATIVE_SCAN = "relaxed_order"
#: Reasons shown with one recommendation, at most.
MAX_REASONS = 3
#: What the user reads when there is no profile to recommend from.
MESSAGE_NO_PROFILE = "Complete onboarding (the taste questionnaire) to get gift recommendations."
#: What the user reads while the profile's embedding is being made.
MESSAGE_PROCESSING = "Your taste profile is being processed. Recommendations will be ready in a moment."

_RECIPIENT_LABELS = {t.slug: t.label for t in RECIPIENT_TYPES}


@dataclass(frozen=True)
class Recommendation:
    """One recommended product: `score` is its cosine similarity to the profile (1 is identical).

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
    pool_factor: int = DEFAULT_POOL_FACTOR
    max_pool: int = MAX_POOL
    ef_search: int = DEFAULT_EF_SEARCH
    #: "off", "relaxed_order" or "strict_order".
    iterative_scan: str = DEFAULT_ITERATIVE_SCAN
    #: Keep the planner on the HNSW scan (no sequential scan, no sort), so benchmarks and tests measure it.
    force_index: bool = False

    def pool_size(self, limit: int) -> int:
        return max(limit, min(limit * self.pool_factor, self.max_pool))


DEFAULT_TUNING = SearchTuning()


class SearchPath(StrEnum):
    """Which scan produced the candidates."""

    INDEX = "index"
    #: The index returned fewer rows than asked; an exact scan was run instead.
    EXACT_FALLBACK = "exact_fallback"
    #: An exact scan was asked for (benchmarks' reference).
    EXACT = "exact"


def product_tags(product: Product) -> frozenset[str]:
    """The taxonomy tags enrichment gave a product (empty before enrichment)."""
    return enrichment_list(product.enrichment, ENRICHMENT_TAGS)


def dislike_pattern(dislikes: Sequence[str]) -> str | None:
    """A Postgres regex (ARE) matching any dislike phrase as whole words, singular or plural."""
    alternatives = []
    for phrase in dislikes:
        words = [re.escape(w) for w in phrase.split()]
        if not words:
            continue
        stem = re.escape(singular(phrase.split()[-1]))
        last = f"(?:{stem[:-1]}(?:y|ies)|{stem}s)" if stem.endswith("y") else f"{stem}(?:s|es)?"
        alternatives.append(r"\s+".join([*words[:-1], last]))
    if not alternatives:
        return None
    return r"\m(?:" + "|".join(alternatives) + r")\M"


@dataclass(frozen=True)
class ProductQuery:
    """What a profile asks of the catalog: its vector (read by Postgres itself), its model, and the hard filters."""

    profile_id: int
    model_name: str
    budget_min: Decimal | None = None
    budget_max: Decimal | None = None
    dislike_tags: tuple[str, ...] = ()
    dislikes: tuple[str, ...] = ()

    @classmethod
    def for_profile(cls, profile: TasteProfile, facets: dict[str, Any]) -> ProductQuery:
        def money(value: float | None) -> Decimal | None:
            return Decimal(str(value)) if value is not None else None

        return cls(
            profile_id=profile.pk,
            model_name=profile.embedding_model,
            budget_min=money(facets.get("budget_min")),
            budget_max=money(facets.get("budget_max")),
            dislike_tags=tuple(facets.get("dislike_tags") or ()),
            dislikes=tuple(facets.get("dislikes") or ()),
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
        if self.dislike_tags:
            # Written as "enriched and tagged" so NULL enrichment (not yet
            # enriched) stays in instead of making the whole NOT unknown.
            products = products.exclude(
                Q(enrichment__isnull=False) & Q(**{f"enrichment__{ENRICHMENT_TAGS}__has_any_keys": self.dislike_tags})
            )
        pattern = dislike_pattern(self.dislikes)
        if pattern is not None:
            products = products.alias(
                searchable=Concat(
                    "title", Value(" "), "brand", Value(" "), "description", Value(" "), Cast("tags", TextField()),
                    output_field=TextField(),
                )
            ).exclude(searchable__iregex=pattern)
        return products

    def nearest(self, count: int) -> QuerySet[Product]:
        """The `count` nearest allowed products by cosine distance, as rows of `CANDIDATE_COLUMNS`.

        The profile's vector is a scalar subquery (an InitPlan the HNSW scan
        orders by): it never travels to Python and back as 256 numbers in text.
        """
        profile_vector = Subquery(TasteProfile.objects.filter(pk=self.profile_id).values("embedding")[:1])
        return (
            self.filtered()
            .annotate(distance=CosineDistance("embedding", profile_vector))
            .order_by("distance")
            .values_list(*CANDIDATE_COLUMNS)[:count]
        )


#: The product columns a candidate row carries (all but the vector), then its distance and vector.
_PRODUCT_COLUMNS = tuple(
    f.attname for f in Product._meta.concrete_fields if f.attname not in ("embedding", "search_vector")
)
CANDIDATE_COLUMNS = (*_PRODUCT_COLUMNS, "distance", "embedding")


@dataclass(frozen=True, eq=False)
class Candidate:
    """A product found by the vector search: its cosine distance, unit vector and loaded columns."""

    product_id: int
    distance: float
    vector: np.ndarray
    #: The values of `_PRODUCT_COLUMNS`, turned into a `Product` only for the picked few.
    columns: tuple[Any, ...] = ()

    def product(self) -> Product:
        """The product, built from the loaded columns (its vector left deferred: a page never needs it).

        `from_db` is Django's documented hook for building an instance from loaded values.
        """
        return Product.from_db(connection.alias, _PRODUCT_COLUMNS, self.columns)


def _fetch_candidates(queryset: QuerySet[Product]) -> list[Candidate]:
    """Candidates carrying their products' columns: the page needs no second query."""
    width, pk = len(_PRODUCT_COLUMNS), _PRODUCT_COLUMNS.index("id")
    return [
        Candidate(row[pk], float(row[width]), decode_vector(row[width + 1]), row[:width])
        for row in fetch_binary(queryset)
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


def explain_search(
    query: ProductQuery, *, count: int, tuning: SearchTuning = DEFAULT_TUNING, analyze: bool = False
) -> str:
    """The query plan of the index path (benchmarks and tests check that HNSW is used)."""
    with _local_settings(_index_settings(tuning, count)):
        return query.nearest(count).explain(analyze=analyze)


def search_candidates(
    query: ProductQuery, *, count: int, tuning: SearchTuning = DEFAULT_TUNING, exact: bool = False, enough: int = 1
) -> tuple[list[Candidate], SearchPath]:
    """The `count` nearest allowed products, nearest first, and the path that found them.

    The index path is trusted when it returns at least `enough` rows; below
    that it may have given up early (selective filters), so an exact scan
    answers instead.
    """
    if not exact:
        with _local_settings(_index_settings(tuning, count)):
            candidates = _fetch_candidates(query.nearest(count))
        if len(candidates) >= enough:
            # Relaxed order: the scan returns neighbours roughly sorted.
            candidates.sort(key=lambda c: (c.distance, c.product_id))
            return candidates, SearchPath.INDEX
    with _local_settings({"enable_indexscan": "off"}):
        candidates = _fetch_candidates(query.nearest(count))
    return candidates, SearchPath.EXACT if exact else SearchPath.EXACT_FALLBACK


def diversify(
    candidates: Sequence[Candidate],
    *,
    limit: int,
    mmr_lambda: float,
    duplicate_similarity: float = DEFAULT_DUPLICATE_SIMILARITY,
) -> list[Candidate]:
    """Pick `limit` candidates by maximal marginal relevance, near-duplicates last.

    Each step takes the candidate maximising
    `lambda * sim(profile, p) - (1 - lambda) * max(sim(p, q) for q already picked)`;
    the first pick is the nearest product. A candidate at least
    `duplicate_similarity` close to a picked product is only taken when no
    other candidate is left: MMR alone lets a cluster of variants that is far
    more relevant than the rest fill a page.
    """
    if not candidates:
        return []
    vectors = np.array([c.vector for c in candidates], dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = vectors @ vectors.T
    relevance = np.array([1.0 - c.distance for c in candidates])
    redundancy = np.full(len(candidates), -np.inf)
    available = np.ones(len(candidates), dtype=bool)
    picked: list[int] = []
    for _ in range(min(limit, len(candidates))):
        scores = relevance if not picked else mmr_lambda * relevance - (1 - mmr_lambda) * redundancy
        distinct = available & (redundancy < duplicate_similarity)
        eligible = distinct if distinct.any() else available
        best = int(np.argmax(np.where(eligible, scores, -np.inf)))
        picked.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, similarity[best])
    return [candidates[i] for i in picked]


def _reasons(product: Product, facets: dict[str, Any]) -> tuple[str, ...]:
    """Why a product is shown, in the gifter's terms."""
    reasons = []
    tags = product_tags(product)
    shared = [TAG_LABELS[t].lower() for t in facets.get("interest_tags") or () if t in tags and t in TAG_LABELS]
    if shared:
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


def recommend_for_profile(
    profile: TasteProfile, *, limit: int = DEFAULT_LIMIT, tuning: SearchTuning = DEFAULT_TUNING, exact: bool = False
) -> list[Recommendation]:
    """Ranked recommendations for an embedded profile (see `get_recommendations`)."""
    facets = facets_of(profile)
    query = ProductQuery.for_profile(profile, facets)
    candidates, path = search_candidates(
        query, count=tuning.pool_size(limit), tuning=tuning, exact=exact, enough=limit
    )
    picked = diversify(
        candidates, limit=limit, mmr_lambda=tuning.mmr_lambda, duplicate_similarity=tuning.duplicate_similarity
    )
    logger.debug(
        "recommendations for profile %s: %d candidates by %s, %d picked",
        profile.pk, len(candidates), path, len(picked),
        extra={"entity_id": str(profile.pk), "outcome": path.value},
    )
    recommendations = []
    for candidate in picked:
        product = candidate.product()
        score = round(1.0 - candidate.distance, 4)
        recommendations.append(Recommendation(product=product, score=score, reasons=_reasons(product, facets)))
    return recommendations


def _checked_arguments(user_id: Any, recipient_id: Any, limit: Any) -> None:
    errors = []
    for name, value, optional in (("user_id", user_id, False), ("recipient_id", recipient_id, True)):
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append({"loc": [name], "msg": "Input should be a positive integer", "type": "int_type"})
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        message = f"Input should be an integer from 1 to {MAX_LIMIT}"
        errors.append({"loc": ["limit"], "msg": message, "type": "int_range"})
    if errors:
        details = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in errors)
        raise ValidationError(f"invalid recommendation request: {details}", errors)


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
    profile = (
        TasteProfile.objects.filter(user_id=user_id, recipient_id=recipient_id, completed_at__isnull=False)
        # The vector stays in Postgres: the search reads it there.
        .defer("embedding")
        .annotate(has_vector=ExpressionWrapper(Q(embedding__isnull=False), output_field=BooleanField()))
        .order_by("pk")
        .first()
    )
    if profile is None:
        raise ProfileNotFound(MESSAGE_NO_PROFILE)
    model_name = get_embedding_provider().model_name
    if not profile.has_vector or profile.embedding_model != model_name:
        job = enqueue_taste_profile_embedding(
            profile.pk, user_id, recipient_id=recipient_id, triggered_by=TriggeredBy.PROFILE_COMPLETED
        )
        logger.info(
            "taste profile %s has no %s vector yet; embedding enqueued",
            profile.pk, model_name,
            extra={
                "job_id": job.id, "job_type": job.job_type, "entity_id": str(profile.pk), "outcome": job.outcome.value,
            },
        )
        raise ProfileBeingProcessed(MESSAGE_PROCESSING)
    return recommend_for_profile(profile, limit=limit)
