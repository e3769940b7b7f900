"""Benchmark: embedding jobs against a provider enforcing its quota, paced by the rate limiter.

Run: `.venv/bin/python bench/rate_limits.py [--jobs 3000] [--server-rpm 3000] [--limit-rpm 2850] [--window 10]
[--workers 2] [--threads 8]`

A fake OpenAI server (`tests/fake_openai.py`, strict mode) answers 429 with
Retry-After past `--server-rpm` requests per minute, counted over a sliding
window of `--window` seconds; the limiter (`GIFTING_JOBS["RATE_LIMITS"]
["openai.embeddings"]`) is set to `--limit-rpm` over the same window. N
product-embedding jobs of one attempt each run on `--workers` rundramatiq
processes. Prints the provider's throughput as a fraction of the configured
limit (target >= 0.9), the 429s (none after the first cooldown) and the dead
letters. Uses a database and a Redis namespace of its own.

`--acquire-cost` measures only the limiter instead: acquires per second of our
script against `dramatiq.rate_limits` (a window and a concurrency limiter), one
process, the configured Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import bench_database_url  # noqa: E402

BENCH_DATABASE = "gifting_bench_ratelimits"
NAMESPACE = f"gj-bench-ratelimits-{os.getpid()}"
#: Target from the issue: the provider's throughput as a fraction of the configured limit.
TARGET_FRACTION = 0.9
#: Longest the run may take before the bench gives up (seconds).
RUN_TIMEOUT_SECONDS = 1800
PROVIDER = "openai.embeddings"


def configure_environment(database_url: str, overrides: dict[str, object]) -> dict[str, str]:
    """Environment shared by this process and the workers: bench DB, namespace, settings, quiet logs."""
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "GIFTING_BENCH_SETTINGS": json.dumps(overrides),
        "DATABASE_URL": database_url,
        "DRAMATIQ_NAMESPACE": NAMESPACE,
        "DATABASE_CONN_MAX_AGE": "600",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DRAMATIQ_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return env


def start_workers(env: dict[str, str], *, workers: int, threads: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", str(threads)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def acquire_cost(n: int) -> None:
    """Acquires per second: our one-script limiter against dramatiq's window + concurrency limiters."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    os.environ["DRAMATIQ_NAMESPACE"] = NAMESPACE
    import django

    django.setup()
    from dramatiq.rate_limits import ConcurrentRateLimiter, WindowRateLimiter
    from dramatiq.rate_limits.backends import RedisBackend

    from gifting_jobs.broker import get_broker
    from gifting_jobs.conf import ProviderRateLimit

    broker = get_broker()
    unlimited = 10**9
    every_limit = ProviderRateLimit(requests_per_minute=unlimited, tokens_per_minute=unlimited, max_concurrent=10_000)
    backend = RedisBackend(client=broker.client)
    window = WindowRateLimiter(backend, f"{NAMESPACE}-window", limit=unlimited, window=60)
    concurrent = ConcurrentRateLimiter(backend, f"{NAMESPACE}-concurrent", limit=10_000)

    def ours() -> None:
        grant = broker.limits.acquire("bench.all", every_limit, tokens=10)
        broker.limits.release(grant, used_tokens=9)

    def theirs() -> None:
        with concurrent.acquire(raise_on_failure=False), window.acquire(raise_on_failure=False):
            pass

    try:
        for name, call in (
            ("ours: spacing + tokens + concurrency (+ release)", ours),
            ("dramatiq: WindowRateLimiter + ConcurrentRateLimiter", theirs),
        ):
            started = time.perf_counter()
            for _ in range(n):
                call()
            print(f"{name:<55} {n / (time.perf_counter() - started):>8,.0f} acquires/s")
    finally:
        broker.limits.reset()
        for key in broker.client.scan_iter(match=f"{NAMESPACE}*", count=1000):
            broker.client.delete(key)
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--server-rpm", type=int, default=3000, help="The provider's quota (requests per minute).")
    parser.add_argument("--limit-rpm", type=float, default=2850, help="The limiter's requests_per_minute.")
    parser.add_argument("--window", type=float, default=10.0, help="Window of both, in seconds.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--acquire-cost", action="store_true", help="Only time the limiter's acquires.")
    args = parser.parse_args()
    if args.acquire_cost:
        acquire_cost(args.jobs)
        return

    from tests.fake_openai import Fail, FakeOpenAI

    server = FakeOpenAI()
    server.start()
    server_per_window = int(args.server_rpm * args.window / 60)
    server.strict(server_per_window, window_seconds=args.window)
    overrides = {
        "EMBEDDING_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-bench-fake",
        "OPENAI_BASE_URL": server.url,
        "RATE_LIMITS": {PROVIDER: {"requests_per_minute": args.limit_rpm, "window_seconds": args.window}},
    }
    env = configure_environment(bench_database_url(BENCH_DATABASE), overrides)
    import django

    django.setup()
    import dramatiq
    from django.core.management import call_command
    from django.db import connection

    from gifting_jobs.jobs import enqueue_many
    from gifting_jobs.models import FailedJob, HeldJob, Product, ProductStatus

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE gifting_jobs_product, gifting_jobs_failedjob, gifting_jobs_heldjob CASCADE")
    Product.objects.bulk_create(
        (
            Product(
                external_id=f"bench-{n}",
                title=f"Gift {n}",
                description="A gift for someone dear.",
                price=Decimal("10.00"),
                currency="EUR",
                status=ProductStatus.DRAFT,
            )
            for n in range(args.jobs)
        ),
        batch_size=5000,
    )
    ids = list(Product.objects.values_list("pk", flat=True))
    broker = dramatiq.get_broker()
    print(
        f"{args.jobs:,} embedding jobs; provider quota {args.server_rpm} rpm, limiter {args.limit_rpm:g} rpm, "
        f"both over {args.window:g} s windows",
        flush=True,
    )
    enqueue_many("product_embedding", [({"product_id": pk, "triggered_by": "manual"}, {"attempts": 1}) for pk in ids])
    procs = start_workers(env, workers=args.workers, threads=args.threads)
    started = time.monotonic()
    try:
        deadline = started + RUN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            done = Product.objects.filter(embedding__isnull=False).count()
            failed = FailedJob.objects.count()
            if done + failed >= args.jobs:
                break
            time.sleep(0.5)
        done = Product.objects.filter(embedding__isnull=False).count()
        failed = FailedJob.objects.count()
        held = HeldJob.objects.count()
    finally:
        stop_workers(procs)
        server.stop()
        keys = list(broker.client.scan_iter(match=f"{NAMESPACE}:*", count=1000))
        for start in range(0, len(keys), 500):
            broker.client.delete(*keys[start : start + 500])

    requests = server.requests_to("embeddings")
    accepted = sorted(r.received_at for r in requests if not isinstance(r.behaviour, Fail))
    failures = sorted((r for r in requests if isinstance(r.behaviour, Fail)), key=lambda r: r.received_at)
    rejected = [r.received_at for r in failures]
    # "After the first cooldown": 429s that arrived once the first one's Retry-After had passed.
    first_cooldown_end = failures[0].received_at + int(failures[0].behaviour.retry_after_ms) / 1000 if failures else 0.0
    late_429 = [t for t in rejected if t > first_cooldown_end]
    rate = (len(accepted) - 1) / (accepted[-1] - accepted[0]) if len(accepted) > 1 else 0.0
    limit_rate = args.limit_rpm / 60
    fraction = rate / limit_rate
    busiest = server.max_in_window(args.window)
    load = os.getloadavg()[0]
    print()
    print(
        f"jobs embedded            {done:>10,} of {args.jobs:,}   (load average {load:.1f} on {os.cpu_count()} cores)"
    )
    print(f"workers x threads        {args.workers:>10} x {args.threads}")
    print(f"provider calls           {len(accepted):>10,}   at {rate:.2f}/s over {accepted[-1] - accepted[0]:.1f} s")
    print(
        f"throughput / limit       {fraction:>10.3f}   ({rate:.2f}/s of {limit_rate:.2f}/s)   target >= {TARGET_FRACTION}"
        f"  {'OK' if fraction >= TARGET_FRACTION else 'MISSED'}"
    )
    print(
        f"429 answers              {len(rejected):>10}   after the first cooldown: {len(late_429)}"
        f"  {'OK' if not late_429 else 'MISSED'}"
    )
    print(f"busiest {args.window:g} s window      {busiest:>10}   the provider's quota: {server_per_window}")
    print(f"dead letters             {failed:>10}   still held in Postgres: {held}")


if __name__ == "__main__":
    main()
