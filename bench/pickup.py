"""Pickup latency and idle CPU: gifting_jobs' workers against bare Dramatiq, default and tuned.

    .venv/bin/python bench/pickup.py [--processes 2] [--threads 8] [--idle-probes 200]
                                     [--urgent-probes 150] [--backlog 20000] [--cpu-seconds 10]

Three setups, each with P worker processes of T threads started like
`rundramatiq` starts them (one `dramatiq.Worker` per process, Dramatiq's
default `worker_timeout` of 1 s unless tuned), consuming three queues (urgent,
normal, bulk), one after the other on the same Redis:

- gifting_jobs: our broker and middleware, shipped defaults;
- gifting_jobs polling as before wake-ups: the same, with Dramatiq's polling
  consumer and one local work queue for all bands (what idle CPU must not exceed);
- bare Dramatiq, `worker_timeout` 1000 ms (its default), actor priorities 0 / 5 / 10 per queue;
- bare Dramatiq, `worker_timeout` 100 ms (tuned).

Per setup:
- idle CPU of each worker process over `--cpu-seconds` with nothing queued (psutil);
- idle pickup: probes sent one at a time into the normal queue, a random
  10-300 ms apart; each records (as it starts) now minus its send time;
- urgent pickup: `--backlog` bulk jobs of 20 ms each queued and being worked,
  then urgent probes sent one at a time, a random 20-100 ms apart.

Prints p50/p95/p99 per case and setup. Targets (gifting_jobs, shipped defaults):
idle p99 <= 15 ms, urgent p99 <= 25 ms, idle CPU not above bare Dramatiq's.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from functools import partial
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
import psutil  # noqa: E402
from django.conf import settings  # noqa: E402
from dramatiq.brokers.redis import RedisBroker as BareRedisBroker  # noqa: E402

from bench.pickup_job import (  # noqa: E402
    BUSY_SECONDS,
    QUEUE as OURS_QUEUE,
    record_wait,
    results_key,
)
from gifting_jobs.broker.consumer import WorkerWiring  # noqa: E402
from gifting_jobs.dispatch import enqueue, enqueue_many  # noqa: E402

BARE_QUEUE = "bare_pickup"
#: The three queues each setup consumes: urgent, normal, bulk (our bands' physical names).
QUEUES = {kind: {name, f"{name}.urgent", f"{name}.bulk"} for kind, name in (("ours", OURS_QUEUE), ("bare", BARE_QUEUE))}
#: Dramatiq's default worker_timeout (ms), which `rundramatiq` keeps unless told otherwise, and the tuned one.
DEFAULT_TIMEOUT_MS, TUNED_TIMEOUT_MS = 1000, 100
#: Gaps between probes (seconds): idle probes let the consumers go back to idle first.
IDLE_GAP, URGENT_GAP = (0.010, 0.300), (0.020, 0.100)
#: Bulk jobs sent per round trip when building the backlog.
BACKLOG_BATCH = 1000
#: How long a worker gets to settle into idle (Dramatiq's back-off reaches its cap in ~2 s).
SETTLE_SECONDS = 3.0
#: How often the parent polls Redis (it is not a worker: its polling is not measured).
POLL_SECONDS = 0.001
#: Longest wait for one probe (a lost probe fails the run instead of hanging it).
PROBE_TIMEOUT_SECONDS = 30.0
#: Targets of gifting_jobs' shipped defaults (ms).
IDLE_P99_TARGET_MS, URGENT_P99_TARGET_MS = 15.0, 25.0

ours_broker = dramatiq.get_broker()
namespace = ours_broker.namespace
client = ours_broker.client

# Bare Dramatiq: its own broker object with its default middleware, same Redis, same namespace.
bare_broker = BareRedisBroker(url=settings.REDIS_URL, namespace=namespace)


def _bare_probe(label: str, sent_at: float) -> None:
    record_wait(label, sent_at)


def _bare_busy(key: str) -> None:
    time.sleep(BUSY_SECONDS)


bare_probe = dramatiq.actor(_bare_probe, actor_name="bare_probe", queue_name=BARE_QUEUE, priority=5, broker=bare_broker)
bare_urgent = dramatiq.actor(
    _bare_probe, actor_name="bare_urgent", queue_name=f"{BARE_QUEUE}.urgent", priority=0, broker=bare_broker
)
bare_busy = dramatiq.actor(
    _bare_busy, actor_name="bare_busy", queue_name=f"{BARE_QUEUE}.bulk", priority=10, broker=bare_broker
)


@dataclass(frozen=True)
class Setup:
    name: str
    kind: str
    worker_timeout_ms: int
    #: Ours with Dramatiq's polling consumer and unordered local queue (before wake-ups).
    polling: bool = False


SETUPS = [
    Setup("gifting_jobs (defaults)", "ours", DEFAULT_TIMEOUT_MS),
    Setup("gifting_jobs polling (before)", "ours", DEFAULT_TIMEOUT_MS, polling=True),
    Setup(f"bare dramatiq, worker_timeout={DEFAULT_TIMEOUT_MS}", "bare", DEFAULT_TIMEOUT_MS),
    Setup(f"bare dramatiq, worker_timeout={TUNED_TIMEOUT_MS}", "bare", TUNED_TIMEOUT_MS),
]


def send_probe(kind: str, label: str, *, urgent: bool) -> None:
    sent_at = time.time()
    if kind == "ours":
        fields = {"key": uuid.uuid4().hex, "label": label, "sent_at": sent_at, "triggered_by": "manual"}
        enqueue("bench_probe", fields, {"priority": 1} if urgent else {})
    else:
        (bare_urgent if urgent else bare_probe).send(label, sent_at)


def queue_backlog(kind: str, n: int) -> None:
    """Queue n bulk jobs of 20 ms, in batches (one round trip per batch)."""
    tag = uuid.uuid4().hex[:8]
    for start in range(0, n, BACKLOG_BATCH):
        size = min(BACKLOG_BATCH, n - start)
        if kind == "ours":
            jobs = [({"key": f"{tag}-{start + i}", "triggered_by": "scheduler"}, {}) for i in range(size)]
            enqueue_many("bench_busy", jobs)
        else:
            pipe = bare_broker.client.pipeline(transaction=False)
            for i in range(size):
                message = bare_busy.message(f"{tag}-{start + i}").copy(options={"redis_message_id": str(uuid.uuid4())})
                rid = message.options["redis_message_id"]
                pipe.hset(f"{namespace}:{BARE_QUEUE}.bulk.msgs", rid, message.encode())
                pipe.rpush(f"{namespace}:{BARE_QUEUE}.bulk", rid)
            pipe.execute()


def bulk_length(kind: str) -> int:
    return client.llen(f"{namespace}:{OURS_QUEUE if kind == 'ours' else BARE_QUEUE}.bulk")


def probe_waits(kind: str, label: str, count: int, gap: tuple[float, float], *, urgent: bool) -> list[float]:
    """Send `count` probes one at a time; the waits (ms) they recorded."""
    key = results_key(label)
    for n in range(count):
        send_probe(kind, label, urgent=urgent)
        deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
        while client.llen(key) <= n:
            if time.monotonic() > deadline:
                raise SystemExit(f"{label}: probe {n} never ran")
            time.sleep(POLL_SECONDS)
        time.sleep(random.uniform(*gap))
    return [float(v) for v in client.lrange(key, 0, -1)]


def idle_cpu_percent(pids: list[int], seconds: float) -> float:
    """Mean CPU (% of one core) of the worker processes over `seconds` with nothing queued."""
    processes = [psutil.Process(pid) for pid in pids]
    before = [p.cpu_times() for p in processes]
    time.sleep(seconds)
    after = [p.cpu_times() for p in processes]
    used = [(a.user + a.system) - (b.user + b.system) for a, b in zip(after, before, strict=True)]
    return 100 * statistics.mean(used) / seconds


def measure(setup: Setup, args: argparse.Namespace) -> dict[str, object]:
    ready_key = f"{namespace}:bench:ready:{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "DRAMATIQ_NAMESPACE": namespace}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                setup.kind,
                "--threads",
                str(args.threads),
                "--worker-timeout",
                str(setup.worker_timeout_ms),
                "--ready",
                ready_key,
                *(["--polling"] if setup.polling else []),
            ],
            env=env,
            cwd=ROOT,
        )
        for _ in range(args.processes)
    ]
    try:
        while int(client.get(ready_key) or 0) < args.processes:
            time.sleep(POLL_SECONDS * 10)
        time.sleep(SETTLE_SECONDS)
        cpu = idle_cpu_percent([w.pid for w in workers], args.cpu_seconds)
        tag = uuid.uuid4().hex[:6]
        idle = probe_waits(setup.kind, f"idle-{tag}", args.idle_probes, IDLE_GAP, urgent=False)
        queue_backlog(setup.kind, args.backlog)
        backlog_start = bulk_length(setup.kind)
        urgent = probe_waits(setup.kind, f"urgent-{tag}", args.urgent_probes, URGENT_GAP, urgent=True)
        backlog_end = bulk_length(setup.kind)
        if backlog_end == 0:
            print(f"  warning: {setup.name}: the backlog ran out before the last urgent probe")
        return {"cpu": cpu, "idle": idle, "urgent": urgent, "backlog": (backlog_start, backlog_end)}
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        flush()
        for worker in workers:
            worker.wait(timeout=120)


def run_worker(kind: str, threads: int, worker_timeout_ms: int, ready_key: str, *, polling: bool) -> None:
    """One worker process: a Dramatiq Worker, the main thread asleep until SIGTERM (as under `rundramatiq`)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # Threads inherit the mask: only sigwait gets it.
    broker = bare_broker if kind == "bare" else ours_broker
    if polling:
        # Before wake-ups: Dramatiq's polling consumer, and no band-ordered local queue.
        broker.consume = partial(BareRedisBroker.consume, broker)
        broker.middleware[:] = [m for m in broker.middleware if not isinstance(m, WorkerWiring)]
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=worker_timeout_ms, queues=QUEUES[kind])
    worker.start()
    client.incr(ready_key)
    signal.sigwait({signal.SIGTERM})
    worker.stop()


def percentiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[94], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--idle-probes", type=int, default=200)
    parser.add_argument("--urgent-probes", type=int, default=150)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--cpu-seconds", type=float, default=10.0)
    parser.add_argument("--worker", choices=["bare", "ours"])
    parser.add_argument("--worker-timeout", type=int, default=DEFAULT_TIMEOUT_MS)
    parser.add_argument("--ready")
    parser.add_argument("--polling", action="store_true")
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.threads, args.worker_timeout, args.ready, polling=args.polling)
        return
    if min(args.processes, args.threads, args.idle_probes, args.urgent_probes, args.backlog) < 1:
        parser.error("--processes, --threads, --idle-probes, --urgent-probes and --backlog must be >= 1")

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(
        f"Redis {settings.REDIS_URL}, namespace {namespace}, {args.processes} processes x {args.threads} threads; "
        f"idle: {args.idle_probes} probes; urgent: {args.urgent_probes} probes behind {args.backlog:,} "
        f"bulk jobs of {BUSY_SECONDS * 1000:.0f} ms; idle CPU over {args.cpu_seconds:.0f} s"
    )
    results = {}
    try:
        for setup in SETUPS:
            results[setup.name] = measure(setup, args)
            flush()
    finally:
        flush()
    print(f"{'setup':38s} {'case':7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}  {'idle CPU/process':>16s}")
    for name, result in results.items():
        for case in ("idle", "urgent"):
            p50, p95, p99 = percentiles(result[case])
            print(f"{name:38s} {case:7s} {p50:8.1f} {p95:8.1f} {p99:8.1f}  {result['cpu']:15.2f}%")
    ours = results[SETUPS[0].name]
    before_cpu, bare_cpu = results[SETUPS[1].name]["cpu"], results[SETUPS[2].name]["cpu"]
    checks = [
        ("idle p99", percentiles(ours["idle"])[2], IDLE_P99_TARGET_MS, "ms"),
        ("urgent p99", percentiles(ours["urgent"])[2], URGENT_P99_TARGET_MS, "ms"),
        (f"idle CPU vs polling before ({before_cpu:.2f}%)", ours["cpu"], before_cpu, "%"),
        (f"idle CPU vs bare, timeout {DEFAULT_TIMEOUT_MS} ({bare_cpu:.2f}%)", ours["cpu"], bare_cpu, "%"),
    ]
    for what, value, target, unit in checks:
        print(
            f"gifting_jobs {what}: {value:.2f} {unit} (target <= {target:.2f} {unit}: "
            f"{'met' if value <= target else 'NOT met'})"
        )
    for name, result in results.items():
        start, end = result["backlog"]
        print(f"{name}: bulk backlog {start:,} -> {end:,} during the urgent probes")


def flush() -> None:
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


if __name__ == "__main__":
    main()
