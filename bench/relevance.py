"""Relevance of the recommendations: nDCG@10 on the labelled set and on both splits of the independent gift set.

Run: `.venv/bin/python bench/relevance.py [--set lexical=0.2 --set mmr_lambda=0.8 ...]`

It uses a database of its own (`gifting_bench_relevance`, created and
migrated on first use) and runs every evaluation inside a transaction that
is rolled back: nothing is left behind, and the jobs the ingestion's
post_save signal enqueues stay in the outbox and vanish with it. Products of
the gift set are ingested through the webhook's service and enriched and
embedded by the jobs' work with the offline default providers (see
`tests/data/giftset.py`).

Rankers compared, each under the same hard filters (published, visible, same
embedding model, budget, no dislike phrase in the text):
- `hybrid`: `get_recommendations` as shipped (full-text + vector, calibrated sum, MMR);
- `before`: the ranker before hybrid search (vector search, MMR 0.7, a dislike's tag excludes);
- `cosine`: plain cosine of the profile's and the products' vectors, nothing else.
`--set name=value` overrides a `RankingWeights` or `SearchTuning` field of `hybrid`
(tuning runs; report the defaults). The held-out split is never tuned on:
`--tuning-only` leaves its profiles out altogether (not even created), for
tuning runs and per-profile figures.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import bench_database_url  # noqa: E402

#: The bench's own database.
BENCH_DATABASE = "gifting_bench_relevance"
#: Candidates the "before" ranker drew before a dislike's tag removed some (its pool was 2 x 10).
BEFORE_POOL = 20
#: Its MMR trade-off.
BEFORE_MMR_LAMBDA = 0.7
#: Rows of a page.
K = 10
#: Deep enough for the plain-cosine ranking to see every allowed product of the sets.
ALL_PRODUCTS = 1000


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def widen_vector_columns(dimensions: int) -> None:
    """Give the bench database's vector columns (and their HNSW indexes) `dimensions` dimensions, once.

    The model fields too: their width was read from the settings at import,
    and bulk updates cast to it.
    """
    from django.db import connection

    from gifting_jobs.models import Product, TasteProfile

    with connection.cursor() as cursor:
        for model in (Product, TasteProfile):
            model._meta.get_field("embedding").dimensions = dimensions
            table = model._meta.db_table
            cursor.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attname = 'embedding'",
                [table],
            )
            if cursor.fetchone()[0] == f"vector({dimensions})":
                continue
            [index] = [i for i in model._meta.indexes if i.name.endswith("_embedding_hnsw")]
            cursor.execute(f'DROP INDEX IF EXISTS "{index.name}"')
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN embedding TYPE vector({dimensions:d}) USING NULL')
            cursor.execute(
                f'CREATE INDEX "{index.name}" ON "{table}" USING hnsw (embedding vector_cosine_ops) '
                "WITH (m = 16, ef_construction = 64)"
            )


def parse_overrides(pairs: list[str]) -> Any:
    """`SearchTuning` with `name=value` overrides applied to it or to its `RankingWeights`."""
    from gifting_jobs.services.recommendations import DEFAULT_TUNING

    tuning, weights = {}, {}
    weight_names = {f.name for f in fields(DEFAULT_TUNING.weights)}
    tuning_names = {f.name for f in fields(DEFAULT_TUNING)} - {"weights"}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name in weight_names:
            weights[name] = float(value)
        elif name in tuning_names:
            tuning[name] = type(getattr(DEFAULT_TUNING, name))(float(value) if "." in value else int(value))
        else:
            raise SystemExit(f"unknown setting {name!r}: one of {sorted(weight_names | tuning_names)}")
    return replace(DEFAULT_TUNING, **tuning, weights=replace(DEFAULT_TUNING.weights, **weights))


def rankers(tuning: Any) -> dict[str, Callable[[Any], list[int]]]:
    """name -> rank(profile) giving the product pks of its first page."""
    from gifting_jobs.answers import facets_of
    from gifting_jobs.models.catalog import ENRICHMENT_TAGS, enrichment_list
    from gifting_jobs.services.recommendations import (
        ProductQuery,
        diversify,
        search_candidates,
    )
    from tests.data import giftset

    def hybrid(profile: Any) -> list[int]:
        return giftset.rank_hybrid(profile, tuning=tuning)

    def before(profile: Any) -> list[int]:
        facets = facets_of(profile)
        disliked = set(facets.get("dislike_tags") or ())
        candidates, _ = search_candidates(ProductQuery.for_profile(profile, facets), count=ALL_PRODUCTS, exact=True)
        kept = [c for c in candidates if not enrichment_list(c.enrichment, ENRICHMENT_TAGS) & disliked]
        picked = diversify(kept[:BEFORE_POOL], limit=K, mmr_lambda=BEFORE_MMR_LAMBDA)
        return [c.product_id for c in picked]

    return {"hybrid": hybrid, "before": before, "cosine": giftset.rank_cosine}


class Rollback(Exception):
    """Raised to leave an evaluation's transaction without committing it."""


def in_rollback(work: Callable[[], Any]) -> Any:
    from django.db import transaction

    result = None
    try:
        with transaction.atomic():
            result = work()
            raise Rollback
    except Rollback:
        return result


def labelled_set(tuning: Any) -> dict[str, dict[str, float]]:
    """nDCG@10 per ranker on `tests/data/relevance.py` (its own hand-written enrichment)."""
    from django.contrib.auth import get_user_model

    from tests.data import giftset, relevance

    catalog = relevance.create_products()
    ids = {product.pk: key for key, product in catalog.items()}
    profiles = [giftset.GiftProfile(spec.key, spec.answers, spec.grades) for spec in relevance.PROFILES]
    users = giftset.create_profiles(profiles, get_user_model())
    return {
        name: {s.key: s.ndcg for s in giftset.evaluate(profiles, users, ids, rank)}
        for name, rank in rankers(tuning).items()
    }


def gift_set(tuning: Any, *, tuning_only: bool = False) -> tuple[dict[str, list[Any]], Any]:
    """Scores per ranker on every profile of the independent set (of its tuning split only, if asked)."""
    from django.contrib.auth import get_user_model

    from tests.data import giftset

    data = giftset.load_giftset()
    profiles = data.split("tuning") if tuning_only else data.profiles
    ids = giftset.ingest_products(data.products)
    users = giftset.create_profiles(profiles, get_user_model())
    return {name: giftset.evaluate(profiles, users, ids, rank) for name, rank in rankers(tuning).items()}, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a tuning value")
    parser.add_argument("--per-profile", action="store_true", help="print every profile's figures")
    parser.add_argument(
        "--tuning-only", action="store_true", help="leave the held-out profiles out (tuning runs never see them)"
    )
    parser.add_argument(
        "--embedding-provider",
        help="EMBEDDING_PROVIDER to measure instead of the configured one: an alias ('wordllama') or a dotted path",
    )
    parser.add_argument(
        "--vector-dimensions",
        type=int,
        help="vector width of that provider when not the migrated one: a bench database of its own is widened to it",
    )
    args = parser.parse_args()
    dimensions = args.vector_dimensions
    setup_django(bench_database_url(f"{BENCH_DATABASE}_{dimensions}" if dimensions else BENCH_DATABASE))
    if args.embedding_provider or dimensions:
        from django.conf import settings

        settings.GIFTING_JOBS = {
            **settings.GIFTING_JOBS,
            **({"EMBEDDING_PROVIDER": args.embedding_provider} if args.embedding_provider else {}),
            **({"EMBEDDING_DIMENSIONS": dimensions} if dimensions else {}),
        }
    if dimensions:
        widen_vector_columns(dimensions)
    from gifting_jobs.providers.embeddings import get_embedding_provider

    print(f"embedding model: {get_embedding_provider().model_name}")
    from tests.data import giftset

    tuning = parse_overrides(args.set)
    if args.set:
        print(f"overrides: {', '.join(args.set)}")
    labelled = in_rollback(lambda: labelled_set(tuning))
    print(f"nDCG@{K}          labelled set  tuning split  held-out split")
    if giftset.GIFTSET_PATH.exists():
        scores, _ = in_rollback(lambda: gift_set(tuning, tuning_only=args.tuning_only))
    else:
        scores = {}
        print(f"({giftset.GIFTSET_PATH} is missing: labelled set only)")
    for name in labelled:
        by_split = {
            split: [s.ndcg for s in scores.get(name, []) if s.split == split] for split in ("tuning", "held-out")
        }
        tuning_figure, held_out_figure = (
            f"{giftset.mean(by_split[split]):.3f}" if by_split[split] else "-" for split in ("tuning", "held-out")
        )
        print(f"{name:<17}{giftset.mean(list(labelled[name].values())):>12.3f}{tuning_figure:>14}{held_out_figure:>16}")
    if scores:
        hybrid = scores["hybrid"]
        for split in ("tuning", "held-out"):
            part = [s for s in hybrid if s.split == split]
            if not part:
                continue
            below = [s.key for s in part if s.ndcg <= s.random]
            print(
                f"{split}: random order of the allowed products {giftset.mean([s.random for s in part]):.3f}; "
                f"hybrid min {min(s.ndcg for s in part):.3f}; profiles at or below random: {below or 'none'}"
            )
        if args.per_profile:
            for n, s in enumerate(hybrid):
                others = "  ".join(f"{name} {scores[name][n].ndcg:.3f}" for name in scores if name != "hybrid")
                print(f"  {s.key} {s.split:<9} hybrid {s.ndcg:.3f}  random {s.random:.3f}  {others}")


if __name__ == "__main__":
    main()
