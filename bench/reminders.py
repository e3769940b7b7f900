"""Benchmark: 100,000 due reminders drained by the sweep and two `rundramatiq` worker processes.

Run: `.venv/bin/python bench/reminders.py [--count 100000] [--workers 2] [--threads 8] [--batch-size 1000]`

It uses a database of its own (`gifting_bench_reminders` on the configured or
embedded Postgres, created and migrated on first use) and a Redis namespace of
its own, with the locmem push backend, so nothing it does touches dev data.
The reminders become due spread over the last sweep interval (as the sweep
finds them in production), then one sweep claims them all while the workers
send. Prints the sweep's claim rate, the drain rate and due→sent p50/p95, and
checks them against the targets (claims >= 5,000/s, p95 < 2 x sweep interval).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import bench_database_url  # noqa: E402

#: The bench's own database and Redis namespace.
BENCH_DATABASE = "gifting_bench_reminders"
NAMESPACE = f"gj-bench-reminders-{os.getpid()}"
#: Targets from the issue.
TARGET_CLAIMS_PER_SECOND = 5000
TARGET_P95_SWEEP_INTERVALS = 2
#: Reminders per occasion (offsets 1..250), all push: core's console email backend would flood stdout.
OFFSETS_PER_OCCASION = 250
#: The physical queues of reminder dispatches (priority 3: the urgent band; delays ride on its .DQ).
REMINDER_QUEUES = ("reminders.urgent",)
#: Longest the drain may take before the bench gives up.
DRAIN_TIMEOUT_SECONDS = 1800


def configure_environment(database_url: str) -> dict[str, str]:
    """Environment shared by this process and the workers: bench DB, bench namespace, quiet logs."""
    env = {
        "DJANGO_SETTINGS_MODULE": "core.settings",
        "DATABASE_URL": database_url,
        "DRAMATIQ_NAMESPACE": NAMESPACE,
        "GIFTING_PUSH_BACKEND": "gifting_jobs.providers.push.locmem.LocmemPushBackend",
        # Workers keep their DB connection between jobs instead of reconnecting per job.
        "DATABASE_CONN_MAX_AGE": "600",
        # As in production: DEBUG keeps every query's SQL in memory.
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DRAMATIQ_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return env


def create_schedules(count: int, *, spread_seconds: float) -> None:
    """Insert `count` QUEUED push reminders due over the last `spread_seconds`."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from gifting_jobs.models import Channel, NotificationSchedule, Occasion

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE gifting_jobs_notificationschedule, gifting_jobs_occasion, gifting_jobs_notificationpreference, "
            "auth_user CASCADE"
        )
    per_occasion = OFFSETS_PER_OCCASION
    occasions_needed = -(-count // per_occasion)
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-{n}", email=f"bench{n}@example.com") for n in range(occasions_needed)]
    )
    today = timezone.now().date()
    occasions = Occasion.objects.bulk_create(
        [Occasion(user=user, name=f"Birthday {n}", date=today + timedelta(days=400)) for n, user in enumerate(users)]
    )
    now = timezone.now()
    rows = []
    for n in range(count):
        occasion = occasions[n // per_occasion]
        offset = n % per_occasion + 1
        rows.append(
            NotificationSchedule(
                user_id=occasion.user_id,
                occasion=occasion,
                channel=Channel.PUSH,
                offset_days=offset,
                occasion_date=occasion.date,
                scheduled_for=now - timedelta(seconds=spread_seconds * (n / count)),
                payload={"title": f"{occasion.name} is in {offset} days", "body": "Find the perfect gift."},
            )
        )
    NotificationSchedule.objects.bulk_create(rows, batch_size=5000)


def start_workers(env: dict[str, str], *, workers: int, threads: int) -> list[subprocess.Popen[bytes]]:
    procs = []
    for _ in range(workers):
        procs.append(
            subprocess.Popen(
                # A worker pool dedicated to reminders: polling every other queue's bands costs CPU for nothing.
                [
                    sys.executable,
                    "manage.py",
                    "rundramatiq",
                    "--processes",
                    "1",
                    "--threads",
                    str(threads),
                    "--queues",
                    *REMINDER_QUEUES,
                ],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    env = configure_environment(bench_database_url(BENCH_DATABASE))
    import django

    django.setup()
    import dramatiq
    from django.core.management import call_command
    from django.db import connection

    from gifting_jobs.conf import get_settings
    from gifting_jobs.models import NotificationSchedule, NotificationStatus
    from gifting_jobs.services import reminders
    from gifting_jobs.services.reminders import process_overdue_reminders

    # Time the claim statements apart from the enqueues, to report both rates.
    claim_seconds = [0.0]
    claim_due = reminders._claim_due

    def timed_claim_due(*args: object, **kwargs: object) -> object:
        started = time.monotonic()
        try:
            return claim_due(*args, **kwargs)
        finally:
            claim_seconds[0] += time.monotonic() - started

    reminders._claim_due = timed_claim_due

    call_command("migrate", verbosity=0)
    sweep_seconds = get_settings().REMINDER_SWEEP_SECONDS
    broker = dramatiq.get_broker()

    print(f"creating {args.count:,} due reminders (due over the last {sweep_seconds} s)…", flush=True)
    create_schedules(args.count, spread_seconds=sweep_seconds)
    procs = start_workers(env, workers=args.workers, threads=args.threads)
    try:
        deadline = time.monotonic() + 60
        while broker.client.zcard(f"{NAMESPACE}:__heartbeats__") < args.workers and time.monotonic() < deadline:
            time.sleep(0.2)

        started = time.monotonic()
        claimed = process_overdue_reminders(args.batch_size)
        sweep_elapsed = time.monotonic() - started
        print(f"sweep: {claimed:,} claimed and enqueued in {sweep_elapsed:.2f} s", flush=True)

        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while True:
            sent = NotificationSchedule.objects.filter(status=NotificationStatus.SENT).count()
            if sent >= claimed or time.monotonic() > deadline:
                break
            time.sleep(1)
        drain_elapsed = time.monotonic() - started
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - scheduled_for)), "
                "percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - scheduled_for)), "
                "count(*) FROM gifting_jobs_notificationschedule WHERE status = 'SENT'"
            )
            p50, p95, sent = cursor.fetchone()
    finally:
        stop_workers(procs)
        keys = list(broker.client.scan_iter(match=f"{NAMESPACE}:*", count=1000))
        for start in range(0, len(keys), 500):
            broker.client.delete(*keys[start : start + 500])

    claims_per_second = claimed / claim_seconds[0]
    sweep_per_second = claimed / sweep_elapsed
    load = os.getloadavg()[0]
    print()
    print(f"reminders                {args.count:>12,}   (load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"workers x threads        {args.workers:>9} x {args.threads}")
    print(
        f"claims/s (SKIP LOCKED)   {claims_per_second:>12,.0f}   target >= {TARGET_CLAIMS_PER_SECOND:,}"
        f"  {'OK' if claims_per_second >= TARGET_CLAIMS_PER_SECOND else 'MISSED'}"
    )
    print(f"sweep claim+enqueue/s    {sweep_per_second:>12,.0f}   ({sweep_elapsed:.1f} s for the whole sweep)")
    print(f"sent                     {sent:>12,}   in {drain_elapsed:.1f} s ({sent / drain_elapsed:,.0f}/s)")
    target = TARGET_P95_SWEEP_INTERVALS * sweep_seconds
    print(f"due→sent p50             {p50 or 0:>11.1f}s")
    print(
        f"due→sent p95             {p95 or 0:>11.1f}s   target < {target} s (2 x sweep interval)"
        f"  {'OK' if p95 is not None and p95 < target else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
