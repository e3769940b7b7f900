"""The curated-collections job: themed, ranked product lists per app surface and date.

Themes are the gift taxonomy's tags (and, on the occasion surface, its
occasions). A theme's members are the products enrichment tagged with it and,
since the offline tagger misses many, the products whose title or CMS tags
name it in full text (the words of its slug: "coffee", "decor", "puzzles"). A surface picks its
themes by a weighted draw seeded with (surface, date), so a day's build is
reproducible and the next day rotates; each theme's products are ranked by
hybrid relevance to the theme: closeness to its centroid in embedding space,
a bonus when their own words name it, and a surface bonus.
A build replaces the rows of the same (surface, date, parameters) in one
transaction; other parameter sets of that day are left alone.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import numpy as np
from django.contrib.postgres.fields import ArrayField
from django.db import connection, transaction
from django.db.models import BooleanField, Count, Q, QuerySet
from django.db.models.expressions import RawSQL

from gifting_jobs.answers import GENERIC_WORDS
from gifting_jobs.models import (
    CuratedCollection,
    CuratedCollectionItem,
    Product,
    ProductStatus,
)
from gifting_jobs.models.catalog import ENRICHMENT_OCCASIONS, ENRICHMENT_TAGS
from gifting_jobs.models.vectors import decode_vector, fetch_binary
from gifting_jobs.observability import current_job
from gifting_jobs.payloads import (
    CollectionFilters,
    CuratedCollectionsPayload,
    SurfaceName,
)
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.taxonomy import GIFT_TAGS, OCCASIONS, Term
from gifting_jobs.text_search import STRONG_WEIGHTS, phrase_lexemes, tsquery_literal

logger = logging.getLogger(__name__)

#: A theme makes a collection only with at least this many products not already
#: used on the surface (or `products_per_collection`, when that is smaller).
MIN_COLLECTION_SIZE = 4
#: How far back "recently shown" looks (the discovery surface favours themes shown less).
RECENT_DAYS = 14
#: Weight multiplier of an occasion whose season includes the date.
IN_SEASON_WEIGHT = 6.0
#: Share of a theme's featured products that doubles its weight on the home surface.
HOME_FEATURED_WEIGHT = 4.0
#: Added to a member's score when its title or CMS tags name the theme: on the scale of a
#: centroid similarity (0.3-0.7 for members), enough to lift a product that says what it is
#: over one the tagger merely put there. Chosen, not tuned: no graded collections exist.
THEME_WORD_BONUS = 0.15

#: Months in which an occasion is "in season" on the occasion surface.
OCCASION_SEASONS: dict[str, frozenset[int]] = {
    "christmas": frozenset({11, 12}),
    "valentines": frozenset({1, 2}),
    "mothers_day": frozenset({4, 5}),
    "fathers_day": frozenset({5, 6}),
    "graduation": frozenset({5, 6}),
    "wedding": frozenset({5, 6, 7, 8, 9}),
}

#: The title a person reads for each theme (every taxonomy tag and occasion has one).
THEME_TITLES: dict[str, str] = {
    "tag:coffee": "For the coffee lovers",
    "tag:tea": "Tea time treats",
    "tag:cooking": "For the home chef",
    "tag:baking": "For the keen baker",
    "tag:wine": "Wine & spirits to share",
    "tag:gourmet": "Gourmet treats",
    "tag:outdoors": "For the outdoor adventurer",
    "tag:fitness": "For the fitness fan",
    "tag:cycling": "For the cyclist",
    "tag:gardening": "For the green thumb",
    "tag:tech": "Tech & gadgets",
    "tag:gaming": "For the gamer",
    "tag:music": "For the music lover",
    "tag:photography": "For the photographer",
    "tag:books": "For the bookworm",
    "tag:art": "For the crafty and creative",
    "tag:stationery": "For stationery lovers",
    "tag:home_decor": "Home decor finds",
    "tag:cozy": "Cozy at home",
    "tag:wellness": "Wellness & spa",
    "tag:beauty": "Beauty favourites",
    "tag:fashion": "Fashion finds",
    "tag:jewelry": "Jewelry & watches",
    "tag:travel": "For the traveller",
    "tag:kids": "For the kids",
    "tag:baby": "For the little ones",
    "tag:pets": "For the pet lovers",
    "tag:experiences": "Experiences to remember",
    "tag:personalized": "Personalised gifts",
    "tag:sustainable": "Sustainable gifts",
    "tag:luxury": "A touch of luxury",
    "tag:office": "Work & office upgrades",
    "tag:grilling": "For the grill master",
    "tag:puzzles": "Puzzles & brain games",
    "tag:film": "For the film buff",
    "tag:science": "For the curious mind",
    "occasion:birthday": "Birthday gifts",
    "occasion:anniversary": "Anniversary gifts",
    "occasion:christmas": "Christmas gifts",
    "occasion:valentines": "Valentine's Day gifts",
    "occasion:mothers_day": "For Mother's Day",
    "occasion:fathers_day": "For Father's Day",
    "occasion:graduation": "Graduation gifts",
    "occasion:housewarming": "Housewarming gifts",
    "occasion:wedding": "Wedding gifts",
    "occasion:thank_you": "Small thank-you gifts",
    "occasion:new_baby": "For new parents",
}


class ThemeKind(StrEnum):
    TAG = "tag"
    OCCASION = "occasion"


def theme_key(kind: ThemeKind, slug: str) -> str:
    """How a theme is stored in `CuratedCollection.theme`: "tag:coffee", "occasion:birthday"."""
    return f"{kind}:{slug}"


def theme_title(key: str) -> str:
    """The title of a theme; a taxonomy label when a new term has no title yet."""
    if key in THEME_TITLES:
        return THEME_TITLES[key]
    kind, _, slug = key.partition(":")
    terms: Sequence[Term] = OCCASIONS if kind == ThemeKind.OCCASION else GIFT_TAGS
    label = next((t.label for t in terms if t.slug == slug), slug.replace("_", " ").capitalize())
    return f"{label} gifts"


@dataclass(frozen=True)
class SurfaceStrategy:
    """How a surface picks and ranks: which themes, which products come first."""

    #: Theme kinds drawn from, in order: all themes of the first kind come before the next kind.
    theme_kinds: tuple[ThemeKind, ...]
    #: Added to a featured product's score (negative: featured products make way).
    featured_bonus: float
    #: Largest per-day random bonus of a product: rotates near-ties from day to day.
    rotation: float
    #: Shown under each title.
    blurb: str


SURFACES: dict[SurfaceName, SurfaceStrategy] = {
    # The first screen: well-stocked themes rich in featured products, featured first.
    SurfaceName.HOME: SurfaceStrategy(
        (ThemeKind.TAG,), featured_bonus=0.2, rotation=0.02, blurb="Our featured picks today."
    ),
    # Exploration: themes shown less in the last weeks, the long tail before featured products.
    SurfaceName.DISCOVERY: SurfaceStrategy(
        (ThemeKind.TAG,), featured_bonus=-0.1, rotation=0.08, blurb="Off the beaten track: ideas you may not have seen."
    ),
    # Occasions first (in-season ones favoured), then tags when occasions run out.
    SurfaceName.OCCASION: SurfaceStrategy(
        (ThemeKind.OCCASION, ThemeKind.TAG),
        featured_bonus=0.05,
        rotation=0.03,
        blurb="Gifts for the moments that matter.",
    ),
}


@dataclass(frozen=True)
class CatalogItem:
    """A product as collections see it: its vector, its themes, whether it is featured."""

    product_id: int
    vector: np.ndarray
    themes: frozenset[str]
    is_featured: bool
    #: Themes the product's own title or CMS tags name (full text), whether or not it was tagged so.
    named_themes: frozenset[str] = frozenset()

    @property
    def member_of(self) -> frozenset[str]:
        return self.themes | self.named_themes


@dataclass(frozen=True)
class PlannedCollection:
    theme: str
    title: str
    description: str
    #: (product id, score), best first.
    items: tuple[tuple[int, float], ...]


def eligible_products(filters: CollectionFilters | None, *, model_name: str) -> QuerySet[Product]:
    """Enriched, embedded (by `model_name`), PUBLISHED and visible products, with the surface's filters."""
    products = Product.objects.filter(
        status=ProductStatus.PUBLISHED,
        visible_to_gifter=True,
        embedding__isnull=False,
        embedding_model=model_name,
        enrichment__isnull=False,
    )
    if filters is None:
        return products
    if filters.is_featured is not None:
        products = products.filter(is_featured=filters.is_featured)
    if filters.min_price is not None:
        products = products.filter(price__gte=filters.min_price)
    if filters.max_price is not None:
        products = products.filter(price__lte=filters.max_price)
    if filters.tags:
        wanted = sorted({*filters.tags, *(t.lower() for t in filters.tags)})
        products = products.filter(
            Q(**{f"enrichment__{ENRICHMENT_TAGS}__has_any_keys": wanted}) | Q(tags__has_any_keys=wanted)
        )
    if filters.brands:
        any_brand = Q()
        for brand in filters.brands:
            any_brand |= Q(brand__iexact=brand)
        products = products.filter(any_brand)
    return products


def _themes_of(enrichment: object) -> frozenset[str]:
    if not isinstance(enrichment, dict):
        return frozenset()
    themes: set[str] = set()
    families = ((ThemeKind.TAG, ENRICHMENT_TAGS, GIFT_TAGS), (ThemeKind.OCCASION, ENRICHMENT_OCCASIONS, OCCASIONS))
    for kind, key, terms in families:
        known = {t.slug for t in terms}
        values = enrichment.get(key)
        if isinstance(values, list):
            themes.update(theme_key(kind, v) for v in values if v in known)
    return frozenset(themes)


def _theme_word_queries() -> list[tuple[str, str]]:
    """(theme key, tsquery) for each tag theme: a word of its slug in a title or CMS tag.

    Only the slug's own words: a label's ("Puzzles & brain games") would let
    every game name the puzzles theme.
    """
    slugs = [t.slug for t in GIFT_TAGS]
    words = [" ".join(w for w in slug.split("_") if w not in GENERIC_WORDS) for slug in slugs]
    lexemes = phrase_lexemes(words)
    return [
        (theme_key(ThemeKind.TAG, slug), " | ".join(tsquery_literal(x, STRONG_WEIGHTS) for x in stems))
        for slug, stems in zip(slugs, lexemes, strict=True)
        if stems
    ]


def load_catalog(filters: CollectionFilters | None, *, model_name: str) -> list[CatalogItem]:
    """The eligible products with their unit vectors, tagged themes and the themes their words name, in id order."""
    queries = _theme_word_queries()
    named = RawSQL(
        "ARRAY[" + ", ".join("search_vector @@ %s::tsquery" for _ in queries) + "]::boolean[]",
        [q for _, q in queries],
        output_field=ArrayField(BooleanField()),
    )
    rows = eligible_products(filters, model_name=model_name).annotate(named=named).order_by("pk")
    items = []
    for pk, embedding, enrichment, is_featured, flags in fetch_binary(
        rows.values_list("pk", "embedding", "enrichment", "is_featured", "named")
    ):
        vector = decode_vector(embedding)
        norm = np.linalg.norm(vector)
        if norm == 0:
            continue
        words = frozenset(key for (key, _), hit in zip(queries, flags or (), strict=False) if hit)
        items.append(CatalogItem(pk, vector / norm, _themes_of(enrichment), is_featured, words))
    return items


def _unit_interval(*parts: object) -> float:
    """A number in [0, 1) fixed by its parts: the same (surface, date, x) always gives the same draw."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def recent_theme_counts(target_date: date) -> Counter[str]:
    """How often each theme was shown, on any surface, in the RECENT_DAYS before `target_date`."""
    rows = (
        CuratedCollection.objects.filter(
            target_date__gte=target_date - timedelta(days=RECENT_DAYS), target_date__lt=target_date
        )
        .values("theme")
        .annotate(shown=Count("id"))
    )
    return Counter({row["theme"]: row["shown"] for row in rows})


def _theme_weight(
    surface: SurfaceName, key: str, members: Sequence[CatalogItem], *, target_date: date, recent: Counter[str]
) -> float:
    size = len(members)
    if surface == SurfaceName.HOME:
        featured_share = sum(m.is_featured for m in members) / size
        return math.sqrt(size) * (1 + HOME_FEATURED_WEIGHT * featured_share)
    if surface == SurfaceName.DISCOVERY:
        return 1 / ((1 + recent[key]) ** 2 * math.sqrt(size))
    kind, _, slug = key.partition(":")
    in_season = kind == ThemeKind.OCCASION and target_date.month in OCCASION_SEASONS.get(slug, ())
    return math.sqrt(size) * (IN_SEASON_WEIGHT if in_season else 1.0)


def _theme_order(
    surface: SurfaceName, members: dict[str, list[CatalogItem]], *, target_date: date, recent: Counter[str]
) -> list[str]:
    """Themes in the order the surface tries them: a weighted draw without replacement, seeded by (surface, date).

    Efraimidis-Spirakis: each theme draws u in (0, 1) and sorts by u ** (1 / weight),
    so heavier themes tend to come first while every theme keeps a chance.
    """
    order: list[str] = []
    for kind in SURFACES[surface].theme_kinds:
        keyed = []
        for key in sorted(k for k in members if k.startswith(f"{kind}:")):
            weight = _theme_weight(surface, key, members[key], target_date=target_date, recent=recent)
            draw = max(_unit_interval(surface, target_date, key), 1e-12)
            keyed.append((draw ** (1 / weight), key))
        order.extend(key for _, key in sorted(keyed, reverse=True))
    return order


def plan_collections(
    catalog: Sequence[CatalogItem],
    *,
    surface: SurfaceName,
    target_date: date,
    collections_count: int,
    products_per_collection: int,
    recent: Counter[str] | None = None,
) -> list[PlannedCollection]:
    """Choose themes and rank their products; deterministic for equal inputs.

    A product appears at most once per collection and, while themes have
    enough others, at most once per surface and date. Fewer collections than
    asked come back when too few themes have enough products.
    """
    strategy = SURFACES[surface]
    recent = recent if recent is not None else Counter()
    members: dict[str, list[CatalogItem]] = {}
    for item in catalog:
        for key in sorted(item.member_of):
            members.setdefault(key, []).append(item)
    minimum = min(products_per_collection, MIN_COLLECTION_SIZE)
    used: set[int] = set()
    planned: list[PlannedCollection] = []
    for key in _theme_order(surface, members, target_date=target_date, recent=recent):
        if len(planned) == collections_count:
            break
        candidates = [m for m in members[key] if m.product_id not in used]
        if len(candidates) < minimum:
            continue
        centroid = np.mean([m.vector for m in members[key]], axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        scored = sorted(
            (
                (
                    float(m.vector @ centroid)
                    + (THEME_WORD_BONUS if key in m.named_themes else 0.0)
                    + (strategy.featured_bonus if m.is_featured else 0.0)
                    + strategy.rotation * _unit_interval(surface, target_date, m.product_id),
                    m.product_id,
                )
                for m in candidates
            ),
            key=lambda pair: (-pair[0], pair[1]),
        )[:products_per_collection]
        used.update(pk for _, pk in scored)
        planned.append(
            PlannedCollection(
                theme=key,
                title=theme_title(key),
                description=strategy.blurb,
                items=tuple((pk, round(score, 4)) for score, pk in scored),
            )
        )
    return planned


def _lock_key(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big", signed=True)


def replace_collections(
    payload: CuratedCollectionsPayload, planned: Sequence[PlannedCollection], *, job_id: str = ""
) -> list[CuratedCollection]:
    """Store a build in place of the rows of the same (surface, date, parameters), atomically.

    An advisory lock serialises two builds of one key (a forced rebuild with
    an explicit job id may run beside the scheduled one); readers see the old
    set or the new one, never a mix.
    """
    params_hash = payload.params_hash()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                [_lock_key("curated-collections", payload.surface, payload.target_date, params_hash)],
            )
        CuratedCollection.objects.filter(
            surface=payload.surface, target_date=payload.target_date, params_hash=params_hash
        ).delete()
        collections = CuratedCollection.objects.bulk_create(
            CuratedCollection(
                surface=payload.surface,
                target_date=payload.target_date,
                params_hash=params_hash,
                params=payload.params(),
                position=position,
                theme=plan.theme,
                title=plan.title,
                description=plan.description,
                job_id=job_id,
            )
            for position, plan in enumerate(planned)
        )
        CuratedCollectionItem.objects.bulk_create(
            CuratedCollectionItem(collection=collection, product_id=pk, rank=rank, score=score)
            for collection, plan in zip(collections, planned, strict=True)
            for rank, (pk, score) in enumerate(plan.items, start=1)
        )
    return collections


def build_curated_collections(payload: CuratedCollectionsPayload) -> None:
    """Build and store a surface's collections for a date (the curated_collections job)."""
    model_name = get_embedding_provider().model_name
    catalog = load_catalog(payload.filters, model_name=model_name)
    planned = plan_collections(
        catalog,
        surface=payload.surface,
        target_date=payload.target_date,
        collections_count=payload.collections_count,
        products_per_collection=payload.products_per_collection,
        recent=recent_theme_counts(payload.target_date),
    )
    context = current_job.get()
    replace_collections(payload, planned, job_id=context.job_id if context else "")
    outcome = "built" if len(planned) == payload.collections_count else "short"
    log = logger.info if outcome == "built" else logger.warning
    log(
        "%s collections for %s on %s: %d of %d built from %d products",
        outcome,
        payload.surface,
        payload.target_date,
        len(planned),
        payload.collections_count,
        len(catalog),
        extra={"outcome": outcome},
    )
