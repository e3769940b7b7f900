"""Relevance on the independent gift set, ingested as production does: nDCG@10 per split, beside baselines.

The set (tests/data/heldout_giftset.json) was written and graded by a session
that had not seen this code or its taxonomy. Ranking constants were tuned on
the labelled set and the tuning split (u01..u15) only; the held-out split
(u16..u45) is what the README reports and what the floor below guards.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.data import giftset

#: Mean nDCG@10 the offline default must reach on the held-out split. Measured 0.754 with
#: MiniLM, the default since it met the 0.75 target (WordLlama: 0.735); plain cosine of the
#: same vectors and the ranker before hybrid search score well below. 0.73 leaves 0.02 (about
#: one profile swapping a relevant product for an irrelevant one) for tie order and Postgres
#: text-search versions: the providers are deterministic.
HELD_OUT_NDCG_FLOOR = 0.73


def vacuum_products() -> None:
    """VACUUM the product table from a connection of its own (VACUUM cannot run in the test's transaction).

    Earlier tests of the run created products with the same texts, hence the
    same vectors, and rolled them back: their dead entries stay in the HNSW
    index until a vacuum, and a search wading through hundreds of dead exact
    duplicates took ~0.5 s instead of ~5 ms. Production vacuums; a test run
    that rolls back does not.
    """
    from django.db import connection

    from gifting_jobs.models import Product

    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as vacuuming:
        vacuuming.execute(f'VACUUM "{Product._meta.db_table}"')


@pytest.fixture
def ingested(db: None, django_user_model):
    """The whole set through the webhook's service and the jobs' work, and one user per profile."""
    vacuum_products()
    data = giftset.load_giftset()
    ids = giftset.ingest_products(data.products)
    users = giftset.create_profiles(data.profiles, django_user_model)
    return data, ids, users


def test_gift_set__held_out_ndcg_at_10_above_the_floor_the_baseline_and_random(ingested):
    from gifting_jobs.models import Product, ProductStatus
    from gifting_jobs.providers.embeddings import get_embedding_provider

    data, ids, users = ingested
    # Given the whole set published, enriched and embedded by the offline defaults
    products = Product.objects.filter(pk__in=ids)
    assert products.count() == len(data.products) == 240
    assert not products.exclude(status=ProductStatus.PUBLISHED).exists()
    assert not products.filter(enrichment__isnull=True).exists()
    assert set(products.values_list("embedding_model", flat=True)) == {get_embedding_provider().model_name}
    assert len(data.split("tuning")) == 15 and len(data.split("held-out")) == 30

    hybrid = giftset.evaluate(data.profiles, users, ids, giftset.rank_hybrid)
    cosine = giftset.evaluate(data.split("held-out"), users, ids, giftset.rank_cosine)

    by_split = {split: giftset.mean([s.ndcg for s in hybrid if s.split == split]) for split in ("tuning", "held-out")}
    baseline = giftset.mean([s.ndcg for s in cosine])
    print(
        f"\nnDCG@{giftset.K}: tuning {by_split['tuning']:.3f}, held-out {by_split['held-out']:.3f} "
        f"(plain cosine on held-out: {baseline:.3f})"
    )
    assert by_split["held-out"] >= HELD_OUT_NDCG_FLOOR
    assert by_split["held-out"] > baseline
    # Every profile of both splits does better than a random order of what the filters allow
    below_random = [(s.key, round(s.ndcg, 3), round(s.random, 3)) for s in hybrid if s.ndcg <= s.random]
    assert not below_random
