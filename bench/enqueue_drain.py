"""Enqueue and drain throughput: gifting_jobs' API against bare Dramatiq, on the same Redis.

    .venv/bin/python bench/enqueue_drain.py [--jobs 20000] [--processes 2] [--threads 8] [--rounds 3] [--counters-only]

Enqueue: one process sends N no-op jobs per round, bare `actor.send()` versus
`gifting_jobs.dispatch.enqueue()` (pydantic validation, idempotency id, atomic
dedupe), in blocks of 1,000 that alternate between the two; each side's rate
is the median over its blocks of all rounds, so a burst of noise on the
machine cannot favour one side.
Drain: N queued no-ops consumed by P worker processes of T threads each,
bare Dramatiq (its default middleware) versus ours (the configured middleware:
retries, dead letters, logging, idempotency, relay). Prints jobs/s and ratios.
Counters: the same drain of ours with the job counters on (the default: the
ack script also counts per minute, hour and in the histogram) and off
(`RedisBroker.counters = False`), rounds alternating.
Targets: enqueue >= 0.95x bare, drain >= 1.0x bare (issue 13), drain with counters >= 0.95x without.
`--counters-only` runs only the counters comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("DRAMATIQ_NAMESPACE", f"gj-bench-{uuid.uuid4().hex[:8]}")
# Per-job INFO lines would measure the log handler, not the queue; see the README.
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import dramatiq  # noqa: E402
from django.conf import settings  # noqa: E402
from dramatiq.brokers.redis import RedisBroker as BareRedisBroker  # noqa: E402

from bench.noop_job import QUEUE as OURS_QUEUE  # noqa: E402
from gifting_jobs.dispatch import enqueue  # noqa: E402

BARE_QUEUE = "bench_bare"
#: The drains: bare Dramatiq, ours (counters on, as shipped), ours with the counters off.
BARE, OURS, NO_COUNTERS = "bare", "ours", "ours-no-counters"
#: Jobs per enqueue block; blocks alternate between bare Dramatiq and ours.
ENQUEUE_BLOCK = 1000
#: How often the parent polls for a drained queue (seconds).
POLL_SECONDS = 0.01

ours_broker = dramatiq.get_broker()
namespace = ours_broker.namespace

# Bare Dramatiq: its own broker object with its default middleware, same Redis, same namespace.
bare_broker = BareRedisBroker(url=settings.REDIS_URL, namespace=namespace)


def _bare_noop(key: str) -> None:
    """The bare Dramatiq no-op."""


bare_actor = dramatiq.actor(_bare_noop, actor_name="bench_bare_noop", queue_name=BARE_QUEUE, broker=bare_broker)


def enqueue_bare(n: int, tag: str) -> float:
    started = time.perf_counter()
    for i in range(n):
        bare_actor.send(f"{tag}-{i}")
    return n / (time.perf_counter() - started)


def enqueue_ours(n: int, tag: str) -> float:
    started = time.perf_counter()
    for i in range(n):
        enqueue("bench_noop", {"key": f"{tag}-{i}", "triggered_by": "manual"}, {})
    return n / (time.perf_counter() - started)


def in_flight(client, queue: str) -> int:
    return sum(client.scard(key) for key in client.scan_iter(match=f"{namespace}:__acks__.*.{queue}"))


def drain(kind: str, n: int, processes: int, threads: int) -> float:
    """Queue n jobs, start the workers, time until every job is acknowledged."""
    client = ours_broker.client
    queue = BARE_QUEUE if kind == BARE else OURS_QUEUE
    tag = uuid.uuid4().hex[:6]
    (enqueue_bare if kind == BARE else enqueue_ours)(n, tag)
    go_key = f"{namespace}:bench:go:{tag}"
    ready_key = f"{namespace}:bench:ready:{tag}"
    env = {**os.environ, "DRAMATIQ_NAMESPACE": namespace}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                kind,
                "--threads",
                str(threads),
                "--go",
                go_key,
                "--ready",
                ready_key,
            ],
            env=env,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    try:
        while int(client.get(ready_key) or 0) < processes:
            time.sleep(POLL_SECONDS)
        started = time.perf_counter()
        client.set(go_key, 1)
        while client.llen(f"{namespace}:{queue}") or in_flight(client, queue):
            time.sleep(POLL_SECONDS)
        return n / (time.perf_counter() - started)
    finally:
        client.set(f"{go_key}:stop", 1)
        for worker in workers:
            worker.wait(timeout=60)


def run_worker(kind: str, threads: int, go_key: str, ready_key: str) -> None:
    broker = bare_broker if kind == BARE else ours_broker
    # Off only to measure what the counters cost (the shipped default is on).
    ours_broker.counters = kind != NO_COUNTERS
    worker = dramatiq.Worker(broker, worker_threads=threads, queues={BARE_QUEUE if kind == BARE else OURS_QUEUE})
    client = ours_broker.client
    client.incr(ready_key)
    while not client.exists(go_key):
        time.sleep(POLL_SECONDS / 10)
    worker.start()
    while not client.exists(f"{go_key}:stop"):
        time.sleep(POLL_SECONDS)
    worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--counters-only", action="store_true", help="only drain with counters vs without")
    parser.add_argument("--worker", choices=[BARE, OURS, NO_COUNTERS])
    parser.add_argument("--go")
    parser.add_argument("--ready")
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.threads, args.go, args.ready)
        return
    if args.jobs < 1 or args.processes < 1 or args.threads < 1 or args.rounds < 1:
        parser.error("--jobs, --processes, --threads and --rounds must be >= 1")

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        print(
            f"Redis {settings.REDIS_URL}, namespace {namespace}, {args.jobs} jobs, "
            f"{args.processes} processes x {args.threads} threads, {args.rounds} rounds "
            f"(enqueue: median of {ENQUEUE_BLOCK:,}-job blocks; drain: best round)"
        )
        kinds = (OURS, NO_COUNTERS) if args.counters_only else (BARE, OURS, NO_COUNTERS)
        enqueue_rates: dict[str, list[float]] = {BARE: [], OURS: []}
        for round_ in range(0 if args.counters_only else args.rounds):
            for start in range(0, args.jobs, ENQUEUE_BLOCK):
                size = min(ENQUEUE_BLOCK, args.jobs - start)
                enqueue_rates[BARE].append(enqueue_bare(size, f"e{round_}-{start}"))
                enqueue_rates[OURS].append(enqueue_ours(size, f"e{round_}-{start}"))
            flush()
        drain_rates: dict[str, list[float]] = {kind: [] for kind in kinds}
        for round_ in range(args.rounds):
            # Alternate the order, so neither side always runs on a machine warmed by the other.
            for kind in kinds if round_ % 2 == 0 else reversed(kinds):
                drain_rates[kind].append(drain(kind, args.jobs, args.processes, args.threads))
                flush()
        best = {kind: max(rates) for kind, rates in drain_rates.items()}
        if not args.counters_only:
            report("enqueue", {kind: statistics.median(rates) for kind, rates in enqueue_rates.items()}, target=0.95)
            report("drain", {BARE: best[BARE], OURS: best[OURS]}, target=1.0)
        for kind in kinds:
            rates = ", ".join(f"{rate:,.0f}" for rate in drain_rates[kind])
            print(f"drain {kind:17s} rounds: {rates} jobs/s (median {statistics.median(drain_rates[kind]):,.0f})")
        report_counters(best[OURS], best[NO_COUNTERS], target=0.95)
        median = {kind: statistics.median(drain_rates[kind]) for kind in (OURS, NO_COUNTERS)}
        print(f"counters median rounds: ratio {median[OURS] / median[NO_COUNTERS]:.3f}x")
    finally:
        flush()


def report(what: str, rates: dict[str, float], *, target: float) -> None:
    bare, ours = rates[BARE], rates[OURS]
    ratio = ours / bare
    print(
        f"{what:8s} bare dramatiq {bare:9,.0f} jobs/s | gifting_jobs {ours:9,.0f} jobs/s | "
        f"ratio {ratio:.2f}x (target >= {target}x: {'met' if ratio >= target else 'NOT met'})"
    )


def report_counters(with_counters: float, without: float, *, target: float) -> None:
    ratio = with_counters / without
    print(
        f"counters drain with counters {with_counters:9,.0f} jobs/s | without {without:9,.0f} jobs/s | "
        f"ratio {ratio:.3f}x (target >= {target}x: {'met' if ratio >= target else 'NOT met'})"
    )


def flush() -> None:
    client = ours_broker.client
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


if __name__ == "__main__":
    main()
