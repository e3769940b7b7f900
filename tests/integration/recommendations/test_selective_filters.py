"""Filtered vector search stays correct when the filters keep 5% of the catalog.

A budget that keeps few products is searched exactly, over the price index
that carries the vectors. Through the HNSW index (forced here, or for a wider
budget), a plain scan finds `ef_search` neighbours and filters them afterwards:
with 5% of the catalog inside the budget it returns a handful of rows. The
iterative scan keeps going, and an exact scan takes over when the index path
still comes back short. Vectors here are synthetic and clustered (uniform
random vectors make HNSW look far worse than real embeddings do).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from gifting_jobs.answers import derive_facets, parse_answers
from gifting_jobs.models import Product, ProductStatus, TasteProfile
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.services import get_recommendations
from gifting_jobs.services.recommendations import (
    DEFAULT_TUNING,
    ProductQuery,
    SearchPath,
    budget_rows,
    explain_search,
    search_candidates,
    vector_path,
)

N_PRODUCTS = 1000
CLUSTERS = 20
#: Share of the catalog inside the profile's budget.
SELECTIVITY = 0.05
BUDGET = (Decimal("50"), Decimal("60"))
MATCHING = int(N_PRODUCTS * SELECTIVITY)
#: Norm of the noise around a cluster centre (intra-cluster cosine about 0.8).
NOISE = 0.6
LIMIT = 20
HNSW_INDEX = "product_embedding_hnsw"
#: The index as the migration creates it (m=16, ef_construction=64, cosine).
HNSW_DDL = (
    f"CREATE INDEX {HNSW_INDEX} ON gifting_jobs_product USING hnsw (embedding vector_cosine_ops) "
    "WITH (m = 16, ef_construction = 64)"
)


def unit(vector: np.ndarray) -> list[float]:
    return (vector / np.linalg.norm(vector)).tolist()


@pytest.fixture
def clustered(gifter, db):
    """1,000 products in 20 clusters, 5% of them (random ones) priced inside the budget; a profile near cluster 3."""
    rng = np.random.default_rng(3)
    provider = get_embedding_provider()
    dims = provider.dimensions
    centres = rng.normal(size=(CLUSTERS, dims))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    in_budget = set(rng.choice(N_PRODUCTS, size=MATCHING, replace=False).tolist())
    products = []
    for i in range(N_PRODUCTS):
        noise = rng.normal(size=dims) * NOISE / np.sqrt(dims)
        price = Decimal(55) if i in in_budget else Decimal(int(rng.integers(61, 500)))
        products.append(
            Product(
                external_id=f"synthetic-{i}",
                title=f"Synthetic product {i}",
                price=price,
                status=ProductStatus.PUBLISHED,
                visible_to_gifter=True,
                enrichment={"tags": []},
                embedding=unit(centres[i % CLUSTERS] + noise),
                embedding_text_hash="0" * 64,
                embedding_model=provider.model_name,
            )
        )
    # Building the index once is ~10x faster than maintaining it row by row; the
    # DDL is part of the test's transaction and rolled back with it.
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {HNSW_INDEX}")
        Product.objects.bulk_create(products, batch_size=500)
        cursor.execute(HNSW_DDL)
        cursor.execute("ANALYZE gifting_jobs_product")
    answers = {"interests": ["synthetic"], "budget_min": float(BUDGET[0]), "budget_max": float(BUDGET[1])}
    profile = TasteProfile.objects.create(
        user=gifter,
        answers=answers,
        facets=derive_facets(parse_answers(answers)),
        completed_at=timezone.now(),
        embedding=unit(centres[3] + rng.normal(size=dims) * NOISE / np.sqrt(dims)),
        embedding_text_hash="0" * 64,
        embedding_model=provider.model_name,
    )
    return ProductQuery.for_profile(profile, profile.facets)


def in_budget(candidates) -> bool:
    prices = Product.objects.filter(pk__in=[c.product_id for c in candidates]).values_list("price", flat=True)
    return len(prices) == len(candidates) and all(BUDGET[0] <= price <= BUDGET[1] for price in prices)


def test_selective_filter__recommendations_return_the_limit(gifter, clustered):
    recommendations = get_recommendations(gifter.pk, limit=LIMIT)

    assert len(recommendations) == LIMIT
    assert all(BUDGET[0] <= r.product.price <= BUDGET[1] for r in recommendations)


def test_selective_filter__iterative_index_scan_returns_enough_and_agrees_with_exact(clustered):
    tuning = replace(DEFAULT_TUNING, force_index=True)
    count = tuning.pool_size(LIMIT)

    # The plan is the HNSW index scan, filters applied inside it
    assert HNSW_INDEX in explain_search(clustered, count=count, tuning=tuning)
    indexed, path = search_candidates(clustered, count=count, tuning=tuning, enough=LIMIT)
    exact, exact_path = search_candidates(clustered, count=count, exact=True)

    assert path is SearchPath.INDEX and exact_path is SearchPath.EXACT
    assert len(indexed) == min(count, MATCHING) and in_budget(indexed)
    recall = len({c.product_id for c in indexed[:LIMIT]} & {c.product_id for c in exact[:LIMIT]}) / LIMIT
    assert recall >= 0.9


def test_selective_filter__plain_index_scan_comes_back_short_and_exact_takes_over(clustered):
    tuning = replace(DEFAULT_TUNING, force_index=True, iterative_scan="off")
    count = tuning.pool_size(LIMIT)

    # Without iterative scans the index finds ef_search neighbours, then filters out ~95% of them
    shortfall, _ = search_candidates(clustered, count=count, tuning=tuning, enough=0)
    assert len(shortfall) < LIMIT

    candidates, path = search_candidates(clustered, count=count, tuning=tuning, enough=LIMIT)
    exact, _ = search_candidates(clustered, count=count, exact=True)
    assert path is SearchPath.EXACT_FALLBACK
    assert [c.product_id for c in candidates] == [c.product_id for c in exact]
    assert len(candidates) == min(count, MATCHING) and in_budget(candidates)


def test_selective_filter__a_budget_that_keeps_few_products_is_scanned_exactly_without_hnsw(clustered):
    count = DEFAULT_TUNING.pool_size(LIMIT)

    # The planner expects about the 50 products priced inside the budget
    assert MATCHING // 2 <= budget_rows(clustered) <= MATCHING * 2
    assert vector_path(clustered) is SearchPath.BUDGET
    assert HNSW_INDEX not in explain_search(clustered, count=count)
    candidates, path = search_candidates(clustered, count=count, enough=LIMIT)
    exact, _ = search_candidates(clustered, count=count, exact=True)

    assert path is SearchPath.BUDGET
    assert [c.product_id for c in candidates] == [c.product_id for c in exact]
    assert len(candidates) == count and in_budget(candidates)


def test_selective_filter__the_budget_scan_checks_dislikes_on_the_nearest_rows(clustered):
    # Given a dislike named by three of the ten nearest products in the budget
    nearest, _ = search_candidates(clustered, count=10, exact=True)
    disliked = [c.product_id for c in nearest[1:10:3]]
    Product.objects.filter(pk__in=disliked).update(title="Noisy synthetic product")
    query = replace(clustered, dislikes=("noisy",))
    count = DEFAULT_TUNING.pool_size(LIMIT)

    candidates, path = search_candidates(query, count=count, enough=LIMIT)
    exact, _ = search_candidates(query, count=count, exact=True)

    # Then the scan goes on past them: the same rows as the exact search, none of the disliked
    assert path is SearchPath.BUDGET
    assert [c.product_id for c in candidates] == [c.product_id for c in exact]
    assert len(candidates) == count and not set(disliked) & {c.product_id for c in candidates}


def test_selective_filter__a_budget_that_keeps_many_products_goes_through_the_index(clustered):
    tuning = replace(DEFAULT_TUNING, budget_scan_rows=MATCHING // 2)

    candidates, path = search_candidates(clustered, count=tuning.pool_size(LIMIT), tuning=tuning, enough=LIMIT)

    assert vector_path(clustered, tuning=tuning) is SearchPath.INDEX
    assert path is SearchPath.INDEX and len(candidates) == tuning.pool_size(LIMIT) and in_budget(candidates)


def test_selective_filter__fewer_matches_than_asked_returns_all_of_them(gifter, clustered):
    keep = list(Product.objects.filter(price=55).values_list("pk", flat=True)[:7])
    Product.objects.filter(price=55).exclude(pk__in=keep).update(price=70)

    recommendations = get_recommendations(gifter.pk, limit=LIMIT)

    assert sorted(r.product.pk for r in recommendations) == sorted(keep)
