"""The independent gift set: load it, ingest it as production does, and score rankings by nDCG@10.

`heldout_giftset.json` was written by a session that had not seen this code,
its taxonomy or the labelled set in `relevance.py`: gift products of a varied
shop and people described by a gift giver, graded 0-3 per product (ungraded
is 0). Profiles u01..u15 are the tuning split, u16..u45 the held-out split:
constants are tuned on `relevance.py` and the tuning split only, and the
held-out figure is reported, never tuned on.

Products go in through the webhook's service (`handle_product_changed`, with
the body the CMS sends) and are then enriched and embedded by the jobs' own
work with the configured (offline default) providers; profiles through
`derive_facets` and the profile embedding job's work. Nothing is hand-labelled
on the product side.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The file, copied verbatim from the session that wrote it.
GIFTSET_PATH = Path(__file__).with_name("heldout_giftset.json")
#: Profiles of the tuning split (the rest is held out).
TUNING_PROFILES = frozenset(f"u{n:02d}" for n in range(1, 16))
#: The metric's cut-off: the first page of the app.
K = 10
#: Shuffles averaged for one profile's random-order baseline.
RANDOM_SHUFFLES = 200
#: The `updatedAt` every ingested document carries (any fixed instant: one delivery each).
UPDATED_AT = "2026-11-01T12:00:00Z"


@dataclass(frozen=True)
class GiftProfile:
    key: str
    answers: dict[str, Any]
    #: External product id -> grade (1-3); ungraded products are 0.
    grades: dict[str, int] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return "tuning" if self.key in TUNING_PROFILES else "held-out"


@dataclass(frozen=True)
class GiftSet:
    products: tuple[dict[str, Any], ...]
    profiles: tuple[GiftProfile, ...]

    def split(self, name: str) -> tuple[GiftProfile, ...]:
        return tuple(p for p in self.profiles if p.split == name)


def load_giftset(path: Path = GIFTSET_PATH) -> GiftSet:
    """The set as written: products as CMS documents, profiles with their answers and grades."""
    data = json.loads(path.read_text())
    profiles = tuple(
        GiftProfile(
            key=p["id"],
            answers=p["answers"],
            grades={str(k): int(v) for k, v in (p.get("grades") or {}).items() if int(v) > 0},
        )
        for p in data["profiles"]
    )
    return GiftSet(products=tuple(data["products"]), profiles=profiles)


def webhook_body(product: dict[str, Any]) -> dict[str, Any]:
    """What the CMS webhook would deliver for a published, visible product of the set."""
    return {
        "event": "product.created",
        "doc": {
            "id": str(product["id"]),
            "title": product["title"],
            "description": product.get("description") or "",
            "brand": product.get("brand") or "",
            "price": product.get("price"),
            "currency": product.get("currency") or "",
            "status": "published",
            "visibleToGifter": True,
            "isFeatured": False,
            "tags": list(product.get("tags") or []),
            "updatedAt": UPDATED_AT,
        },
    }


def ingest_products(products: Sequence[dict[str, Any]]) -> dict[int, str]:
    """Ingest through the webhook's service, then enrich and embed with the jobs' work; pk -> external id.

    The post_save signal also enqueues those jobs; the caller decides what
    becomes of them (inside a test's transaction they stay in the outbox).
    """
    from gifting_jobs.models import Product
    from gifting_jobs.payloads import ProductEnrichmentPayload
    from gifting_jobs.services import handle_product_changed
    from gifting_jobs.work.products import embed_products, enrich_product

    ids = {}
    for product in products:
        result = handle_product_changed(webhook_body(product))
        ids[result.product_id] = result.external_id
    for pk in ids:
        enrich_product(ProductEnrichmentPayload(product_id=pk, triggered_by="product.created"))
    embed_products(Product.objects.filter(pk__in=ids).order_by("pk"))
    return ids


def create_profiles(profiles: Sequence[GiftProfile], user_model: Any) -> dict[str, Any]:
    """One user with a completed, embedded profile per gift profile; key -> user."""
    from tests.data.relevance import create_profile

    users = {}
    for spec in profiles:
        user = user_model.objects.create_user(f"giftset-{spec.key}")
        create_profile(user, spec.answers)
        users[spec.key] = user
    return users


def dcg(grades: Sequence[int]) -> float:
    """Discounted cumulative gain at K with exponential gains (2^grade - 1), the usual graded form."""
    return sum((2**grade - 1) / math.log2(rank + 2) for rank, grade in enumerate(grades[:K]))


def ndcg(ranked: Sequence[int], all_grades: Sequence[int]) -> float:
    ideal = dcg(sorted(all_grades, reverse=True))
    return dcg(ranked) / ideal if ideal else 0.0


def random_ndcg(candidate_grades: Sequence[int], all_grades: Sequence[int], *, seed: int = 0) -> float:
    """Expected nDCG@K of a random order of the candidates (averaged over RANDOM_SHUFFLES shuffles)."""
    rng = random.Random(seed)
    pool = list(candidate_grades)
    return sum(ndcg(rng.sample(pool, len(pool)), all_grades) for _ in range(RANDOM_SHUFFLES)) / RANDOM_SHUFFLES


@dataclass(frozen=True)
class ProfileScore:
    key: str
    split: str
    ndcg: float
    random: float


def evaluate(
    profiles: Sequence[GiftProfile],
    users: dict[str, Any],
    ids: dict[int, str],
    rank: Callable[[Any], list[int]],
) -> list[ProfileScore]:
    """nDCG@K of `rank(profile) -> product pks` per profile, beside a random order of the allowed products.

    The allowed products are those the hard filters keep (published, visible,
    same model, budget, no dislike phrase in the text): what any ranking of
    this app could show.
    """
    from gifting_jobs.answers import facets_of
    from gifting_jobs.models import TasteProfile
    from gifting_jobs.services.recommendations import ProductQuery

    scores = []
    for n, spec in enumerate(profiles):
        profile = TasteProfile.objects.get(user=users[spec.key], recipient=None)
        ranked = [spec.grades.get(ids.get(pk, ""), 0) for pk in rank(profile)]
        allowed = ProductQuery.for_profile(profile, facets_of(profile)).filtered().values_list("pk", flat=True)
        candidate_grades = [spec.grades.get(ids.get(pk, ""), 0) for pk in allowed]
        all_grades = list(spec.grades.values())
        scores.append(
            ProfileScore(
                spec.key, spec.split, ndcg(ranked, all_grades), random_ndcg(candidate_grades, all_grades, seed=n)
            )
        )
    return scores


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def rank_hybrid(profile: Any, *, tuning: Any = None) -> list[int]:
    """The first page `get_recommendations` gives (the shipped hybrid ranker), as product pks."""
    from gifting_jobs.services.recommendations import (
        DEFAULT_TUNING,
        recommend_for_profile,
    )

    return [r.product.pk for r in recommend_for_profile(profile, limit=K, tuning=tuning or DEFAULT_TUNING)]


def rank_cosine(profile: Any) -> list[int]:
    """The baseline: the allowed products nearest to the profile's vector by plain cosine, nothing else."""
    from gifting_jobs.answers import facets_of
    from gifting_jobs.services.recommendations import ProductQuery, search_candidates

    candidates, _ = search_candidates(ProductQuery.for_profile(profile, facets_of(profile)), count=K, exact=True)
    return [c.product_id for c in candidates]
