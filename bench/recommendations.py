"""Benchmark: hybrid `get_recommendations` over 100,000 products, HNSW + full text versus exact scans.

Run: `.venv/bin/python bench/recommendations.py [--products 100000] [--queries 200] [--rebuild]`

It uses a database of its own (`gifting_bench_recommendations` on the
configured or embedded Postgres, created and migrated on first use), so dev
data is never touched. Products get synthetic CLUSTERED 256-dim vectors
(uniform random vectors make HNSW recall look absurdly low; real embeddings
are clustered), loaded with binary COPY, then the HNSW index is built once.
Their titles and descriptions are drawn from a vocabulary per topic and per
cluster (words like "t12c340w2"), so a profile's interest phrases, drawn from
its cluster's words, match a few hundred to a few thousand products in full
text, as real interests do. A later run reuses the loaded catalog unless
`--rebuild`.

Measured, for profiles without a budget and with a budget keeping 5% of the
catalog: p50/p95 latency of the whole `get_recommendations` call (profile
read, vector search (filtered iterative HNSW, or for the 5% budget the exact
scan of the covering price index), GIN full-text search, scoring, MMR),
the same with exact scans, recall@20 of the vector candidates and of the
fused, scored list against the exact ones, and how often the exact fallback
was needed. Target: p50 < 10 ms indexed, fused recall@20 >= 0.95.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cluster_embeddings import (  # noqa: E402
    CLUSTERS,
    NOISE,
    SEED,
    TOPICS,
    interest_phrases,
    product_text,
    space,
)
from bench.databases import bench_database_url  # noqa: E402

#: The bench's own database.
BENCH_DATABASE = "gifting_bench_recommendations"
#: Prices are uniform in [MIN_PRICE, MAX_PRICE]; the selective budget keeps SELECTIVITY of them.
MIN_PRICE, MAX_PRICE = 5.0, 500.0
SELECTIVITY = 0.05
SELECTIVE_BUDGET = (100.0, 100.0 + (MAX_PRICE - MIN_PRICE) * SELECTIVITY)
#: Recommendations per call, as the app asks.
LIMIT = 20
#: Calls made before measuring (connection, caches, JIT of the planner's statistics).
WARMUP = 10
#: Targets from the issue.
TARGET_P50_MS = 10.0
TARGET_RECALL = 0.95
#: Queries per case whose index path is also timed inside Postgres (EXPLAIN ANALYZE).
SERVER_SAMPLES = 30
#: Queries per case whose fused list is also compared with scoring every allowed product (slow: exact).
EXACT_SAMPLES = 20
#: Rows per COPY batch report.
COPY_REPORT_EVERY = 20_000
#: The bench's embedding provider: texts of the synthetic vocabulary land in the catalog's space.
EMBEDDING_PROVIDER = "bench.cluster_embeddings.ClusterEmbeddingProvider"
#: Stored as the products' enrichment_version: a catalog made by another generator is reloaded.
CATALOG_VERSION = f"bench-topics-words-{TOPICS}-{CLUSTERS}-{SEED}"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # As in production: DEBUG keeps every query's SQL in memory.
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def catalog_is_loaded(count: int) -> bool:
    from django.db import connection

    from gifting_jobs.models import Product

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'product_embedding_hnsw'")
        indexed = cursor.fetchone() is not None
    loaded = Product.objects.filter(enrichment_version=CATALOG_VERSION).count()
    return indexed and loaded == count == Product.objects.count()


def load_catalog(count: int, centres, rng, model_name: str) -> None:
    """Truncate, COPY `count` products (binary), build the HNSW index, analyse."""
    import numpy as np
    from django.db import connection
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from gifting_jobs.models.vectors import hnsw_cosine_index

    dims = centres.shape[1]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE gifting_jobs_product CASCADE")
        cursor.execute("DROP INDEX IF EXISTS product_embedding_hnsw")
        cursor.execute("DROP INDEX IF EXISTS product_search_vector_gin")
    raw = connection.connection
    register_vector(raw)
    columns = (
        "external_id, title, description, brand, price, currency, status, visible_to_gifter, is_featured, tags, "
        "enrichment, enrichment_version, enrichment_text_hash, embedding, embedding_text_hash, embedding_model, "
        "created_at, updated_at"
    )
    types = [
        "text",
        "text",
        "text",
        "text",
        "numeric",
        "text",
        "text",
        "bool",
        "bool",
        "jsonb",
        "jsonb",
        "text",
        "text",
        "vector",
        "text",
        "text",
        "timestamptz",
        "timestamptz",
    ]
    from django.utils import timezone

    now = timezone.now()
    started = time.monotonic()
    assignments = rng.integers(0, len(centres), size=count)
    prices = rng.uniform(MIN_PRICE, MAX_PRICE, size=count).round(2)
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY gifting_jobs_product ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for i in range(count):
            title, description = product_text(int(assignments[i]), rng)
            vector = centres[assignments[i]] + rng.normal(size=dims) * NOISE / np.sqrt(dims)
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
            copy.write_row(
                (
                    f"bench-{i}",
                    title,
                    description,
                    f"Brand {i % 97}",
                    Decimal(str(prices[i])),
                    "EUR",
                    "PUBLISHED",
                    True,
                    i % 10 == 0,
                    Jsonb([]),
                    Jsonb({"tags": []}),
                    CATALOG_VERSION,
                    "",
                    vector,
                    "0" * 64,
                    model_name,
                    now,
                    now,
                )
            )
            if (i + 1) % COPY_REPORT_EVERY == 0:
                print(f"  copied {i + 1:,} rows ({(i + 1) / (time.monotonic() - started):,.0f} rows/s)", flush=True)
    raw.commit()
    loaded = time.monotonic() - started
    index = hnsw_cosine_index("product_embedding_hnsw")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        cursor.execute(
            f"CREATE INDEX {index.name} ON gifting_jobs_product USING hnsw (embedding vector_cosine_ops) "
            f"WITH (m = {index.m}, ef_construction = {index.ef_construction})"
        )
        cursor.execute("CREATE INDEX product_search_vector_gin ON gifting_jobs_product USING gin (search_vector)")
    print(
        f"loaded {count:,} products in {loaded:.1f} s; HNSW and GIN indexes built in {time.monotonic() - started:.1f} s"
    )


def vacuum_catalog() -> None:
    """VACUUM (ANALYZE) the products, as autovacuum does after a bulk load: the exact budget scan is index-only then."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) gifting_jobs_product")
    print(f"vacuumed and analysed the products in {time.monotonic() - started:.1f} s")


def create_profiles(queries: int, centres, rng, model_name: str) -> tuple[list, list]:
    """`queries` profiles without a budget and `queries` with the 5% budget, near random clusters."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from gifting_jobs.answers import derive_facets, parse_answers
    from gifting_jobs.models import TasteProfile

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE gifting_jobs_tasteprofile, auth_user CASCADE")
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"bench-{n}") for n in range(2 * queries)])
    dims = centres.shape[1]
    profiles = []
    for n, user in enumerate(users):
        cluster = int(rng.integers(0, len(centres)))
        answers: dict[str, object] = {"interests": interest_phrases(cluster, rng)}
        if n >= queries:
            answers.update(budget_min=SELECTIVE_BUDGET[0], budget_max=SELECTIVE_BUDGET[1])
        vector = centres[cluster] + rng.normal(size=dims) * NOISE / np.sqrt(dims)
        profiles.append(
            TasteProfile(
                user=user,
                answers=answers,
                facets=derive_facets(parse_answers(answers)),
                completed_at=timezone.now(),
                embedding=(vector / np.linalg.norm(vector)).tolist(),
                embedding_text_hash="0" * 64,
                embedding_model=model_name,
            )
        )
    TasteProfile.objects.bulk_create(profiles)
    return profiles[:queries], profiles[queries:]


def timed(calls: list[Callable[[], object]]) -> tuple[list[float], list[object], float]:
    """Latencies in ms, results, and this process's CPU ms per call (what a busy machine inflates least)."""
    for call in calls[:WARMUP]:
        call()
    latencies, results = [], []
    cpu_started = time.process_time()
    for call in calls:
        started = time.perf_counter()
        results.append(call())
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, results, (time.process_time() - cpu_started) * 1000 / max(len(calls), 1)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_case(name: str, profiles: list) -> dict[str, float]:
    from gifting_jobs.answers import facets_of
    from gifting_jobs.services.recommendations import (
        DEFAULT_TUNING,
        ProductQuery,
        SearchPath,
        explain_lexical,
        explain_search,
        get_recommendations,
        recommend_for_profile,
        score_candidates,
        search_candidates,
    )

    indexed_ms, indexed, client_cpu = timed([lambda p=p: get_recommendations(p.user_id, limit=LIMIT) for p in profiles])
    exact_ms, exact, _ = timed([lambda p=p: recommend_for_profile(p, limit=LIMIT, exact=True) for p in profiles])
    pool = DEFAULT_TUNING.pool_size(LIMIT)
    recalls, fused_recalls, overlaps, fallbacks = [], [], [], 0
    for n, (profile, got, reference) in enumerate(zip(profiles, indexed, exact, strict=True)):
        query = ProductQuery.for_profile(profile, facets_of(profile))
        candidates, path = search_candidates(query, count=pool, enough=LIMIT)
        truth, _ = search_candidates(query, count=LIMIT, exact=True)
        fallbacks += path is SearchPath.EXACT_FALLBACK
        recalls.append(
            len({c.product_id for c in candidates[:LIMIT]} & {c.product_id for c in truth}) / max(len(truth), 1)
        )
        overlaps.append(len({r.product.pk for r in got} & {r.product.pk for r in reference}) / max(len(reference), 1))
        if n < EXACT_SAMPLES:
            # The exact reference scores every allowed product: both searches as deep as the catalog.
            fused = score_candidates(profile, count=pool, enough=LIMIT).candidates[:LIMIT]
            everything = score_candidates(profile, count=query.filtered().count(), exact=True).candidates[:LIMIT]
            fused_recalls.append(
                len({c.product_id for c in fused} & {c.product_id for c in everything}) / max(len(everything), 1)
            )
    # Postgres' own execution time of each search, to tell the database from Python.
    server_ms, lexical_ms = [], []
    for profile in profiles[:SERVER_SAMPLES]:
        query = ProductQuery.for_profile(profile, facets_of(profile))
        plan = explain_search(query, count=pool, analyze=True)
        server_ms.append(float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)))
        plan = explain_lexical(query, count=pool, analyze=True)
        lexical_ms.append(float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)))
    figures = {
        "server_p50": statistics.median(server_ms),
        "lexical_p50": statistics.median(lexical_ms),
        "fused_recall": statistics.mean(fused_recalls),
        "indexed_p50": percentile(indexed_ms, 50),
        "client_cpu": client_cpu,
        "indexed_p95": percentile(indexed_ms, 95),
        "exact_p50": percentile(exact_ms, 50),
        "exact_p95": percentile(exact_ms, 95),
        "recall": statistics.mean(recalls),
        "overlap": statistics.mean(overlaps),
        "fallbacks": fallbacks,
        "short": sum(len(r) < LIMIT for r in indexed),
    }
    print(
        f"{name:<22} indexed p50 {figures['indexed_p50']:6.2f} ms  p95 {figures['indexed_p95']:6.2f} ms "
        f"(in Postgres p50: vector {figures['server_p50']:5.2f} ms, full text {figures['lexical_p50']:5.2f} ms; "
        f"Python CPU {figures['client_cpu']:5.2f} ms/call) | "
        f"exact p50 {figures['exact_p50']:7.2f} ms  p95 {figures['exact_p95']:7.2f} ms | "
        f"speed-up x{figures['exact_p50'] / figures['indexed_p50']:.1f} | "
        f"vector recall@{LIMIT} {figures['recall']:.3f} | fused recall@{LIMIT} {figures['fused_recall']:.3f} "
        f"(vs scoring every allowed product, {min(EXACT_SAMPLES, len(profiles))} queries) | result overlap {figures['overlap']:.3f} | "
        f"exact fallbacks {fallbacks}/{len(profiles)} | pages short of {LIMIT}: {figures['short']}"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200, help="profiles measured per case")
    parser.add_argument("--rebuild", action="store_true", help="reload the catalog even if it is there")
    args = parser.parse_args()

    setup_django(bench_database_url(BENCH_DATABASE))
    import numpy as np
    from django.conf import settings

    # Phrase vectors must live in the synthetic space for the scores to mean anything.
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "EMBEDDING_PROVIDER": EMBEDDING_PROVIDER}

    from gifting_jobs.answers import facets_of
    from gifting_jobs.providers.embeddings import get_embedding_provider
    from gifting_jobs.services.recommendations import (
        DEFAULT_TUNING,
        ProductQuery,
        budget_rows,
        explain_lexical,
        explain_search,
        vector_path,
    )

    provider = get_embedding_provider()
    rng = np.random.default_rng(SEED)
    # The catalog's draws start after the space's, as they always did.
    rng.normal(size=(TOPICS + CLUSTERS, provider.dimensions))
    _, centres = space(provider.dimensions)
    if args.rebuild or not catalog_is_loaded(args.products):
        load_catalog(args.products, centres, rng, provider.model_name)
    else:
        print(f"reusing the {args.products:,} products of {BENCH_DATABASE} (--rebuild to reload)")
    vacuum_catalog()
    open_profiles, budget_profiles = create_profiles(
        args.queries, centres, np.random.default_rng(SEED + 1), provider.model_name
    )

    budget_query = ProductQuery.for_profile(budget_profiles[0], facets_of(budget_profiles[0]))
    plan = explain_search(budget_query, count=DEFAULT_TUNING.pool_size(LIMIT))
    print(
        f"5% filtered vector search: {vector_path(budget_query)} path (planner's estimate {budget_rows(budget_query):,} "
        f"products in the budget, exact scan up to {DEFAULT_TUNING.budget_scan_rows:,}); plan uses the HNSW index: "
        f"{'product_embedding_hnsw' in plan}, the covering price index: {'product_price_vector' in plan}"
    )
    lexical_plan = explain_lexical(
        ProductQuery.for_profile(budget_profiles[0], facets_of(budget_profiles[0])),
        count=DEFAULT_TUNING.pool_size(LIMIT),
    )
    print(f"plan of the 5% filtered full-text search uses the GIN index: {'product_title_search_gin' in lexical_plan}")
    print(
        f"{args.products:,} products in {CLUSTERS} clusters of {TOPICS} topics, {provider.dimensions} dims, "
        f"limit {LIMIT}, "
        f"pool {DEFAULT_TUNING.pool_size(LIMIT)}, ef_search {DEFAULT_TUNING.ef_search}, "
        f"iterative scan {DEFAULT_TUNING.iterative_scan}, {args.queries} queries per case"
    )
    # The machine may be shared: latency figures only mean something next to its load.
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    results = [run_case("no filter", open_profiles), run_case(f"budget ({SELECTIVITY:.0%} kept)", budget_profiles)]
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # Issue 11's targets: p50 with the 5% filter, and recall in both cases (the unfiltered p50 is reported, not a target).
    ok = results[1]["indexed_p50"] < TARGET_P50_MS and all(r["fused_recall"] >= TARGET_RECALL for r in results)
    print(
        f"targets (p50 < {TARGET_P50_MS:g} ms with the {SELECTIVITY:.0%} filter, fused recall@{LIMIT} >= "
        f"{TARGET_RECALL}): {'met' if ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
