"""Redis restarted under load: with AOF nothing is lost and no job-id lock leaks; without persistence, reconcile heals."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.db import transaction

from gifting_jobs.models import FailedJob, Product, ProductStatus
from tests.faults.conftest import seconds, wait_for
from tests.faults.loads import duplicates, effects_done, send_effects

pytestmark = pytest.mark.faults

JOBS = 800
HOLD_MS = 20
#: Jobs completed before Redis is restarted under the workers.
DONE_BEFORE_RESTART = 150
DRAIN_TIMEOUT = 120
#: How long locks may take to be freed after the last job (acks in flight), before they count as leaked.
LOCK_SETTLE_SECONDS = 15
PRODUCTS = 150
#: The reconcile period of the data-loss scenario (shipped: 3600 s); named in its row.
RECONCILE_SECONDS = 20
#: Worker and scheduler start-up plus draining the re-enqueued jobs, on top of one reconcile period.
HEAL_ALLOWANCE_SECONDS = 30


def restart(server) -> None:
    """SIGTERM (Redis writes its AOF and exits), then start again on the same port and directory."""
    server.proc.terminate()
    server.proc.wait(timeout=30)
    server.proc = None
    server.start()


def where_are(broker, job_ids: set[str]) -> str:
    """Where the messages of unfinished jobs sit in Redis (a failing row's diagnosis)."""
    places: dict[str, int] = {}
    client = broker.client
    for key in client.scan_iter(match=broker.keys.queue("*"), count=1000):
        name = key.decode()
        kind = client.type(key).decode()
        if kind != "hash":
            continue
        for rid, data in client.hscan_iter(key):
            if any(f'"job_id":"{job_id}"'.encode() in data for job_id in job_ids):
                listed = [
                    k.decode()
                    for k in client.scan_iter(match=broker.keys.queue("*"), count=1000)
                    if client.type(k) in (b"set", b"list")
                    and (rid in client.smembers(k) if client.type(k) == b"set" else rid in client.lrange(k, 0, -1))
                ]
                place = f"{name} in {','.join(listed) or 'no list or ack set'}"
                places[place] = places.get(place, 0) + 1
    return "; ".join(f"{n} x {p}" for p, n in places.items()) or "nowhere in Redis"


def lock_keys(broker) -> list[str]:
    return list(broker.client.scan_iter(match=broker.keys.lock("*"), count=1000))


def kill_and_start(server) -> None:
    """SIGKILL (no shutdown work at all), then start again; AOF with fsync always kept every write."""
    server.stop()
    server.start()


@pytest.mark.parametrize(
    ("how", "restart"),
    [("SIGTERM", restart), ("SIGKILL", kill_and_start)],
    ids=["sigterm", "sigkill"],
)
def test_redis_restart_with_aof__nothing_lost_no_lock_leaked(
    how, restart, redis_servers, use_redis, processes, fault_row
):
    server = redis_servers(appendonly=True)
    broker = use_redis(server.url)
    for _ in range(2):
        processes.worker(server.url)
    send_effects("aof", JOBS, hold_ms=HOLD_MS)
    assert wait_for(lambda: len(effects_done("aof")) >= DONE_BEFORE_RESTART, timeout=DRAIN_TIMEOUT) is not None

    restart(server)
    recovery = wait_for(lambda: len(effects_done("aof")) == JOBS, timeout=DRAIN_TIMEOUT)
    wait_for(lambda: not lock_keys(broker), timeout=LOCK_SETTLE_SECONDS)
    leaked = lock_keys(broker)

    done = len(effects_done("aof"))
    twice = duplicates("aof")
    dead = FailedJob.objects.count()
    passed = done == JOBS and twice == 0 and not leaked and dead == 0
    missing = {f"test-effect:aof-{n}" for n in range(JOBS)} - {f"test-effect:{key}" for key in effects_done("aof")}
    diagnosis = f"; unfinished: {where_are(broker, missing)}" if missing else ""
    fault_row(
        scenario=f"Redis restart ({how}) under load, AOF on (appendfsync always)",
        sent=JOBS,
        ran=done,
        lost=JOBS - done,
        ran_twice=twice,
        recovery=f"{seconds(recovery)} to drain",
        passed=passed,
        note=f"{len(leaked)} job-id locks leaked; {dead} dead letters{diagnosis}",
    )
    assert passed


def healed(prefix: str) -> bool:
    rows = Product.objects.filter(external_id__startswith=prefix).defer("embedding")
    return not rows.filter(embedding_text_hash="").exists() and not rows.filter(enrichment_version="").exists()


def test_redis_data_lost__reconcile_heals_the_catalog(redis_servers, use_redis, processes, fault_row):
    server = redis_servers(appendonly=False)
    use_redis(server.url)
    # Given a catalog whose processing jobs are queued in Redis, and no worker yet
    with transaction.atomic():
        for n in range(PRODUCTS):
            Product.objects.create(
                external_id=f"lost-{n}",
                title=f"Lost product {n}",
                description="A product whose jobs Redis lost",
                price=Decimal("12.00"),
                currency="EUR",
                status=ProductStatus.PUBLISHED,
                visible_to_gifter=True,
            )
    sent = 2 * PRODUCTS
    assert server.proc is not None

    # When Redis dies without persistence and comes back empty
    server.stop()
    server.start()
    lost_at = time.monotonic()
    processes.worker(server.url)
    processes.scheduler(server.url, FAULTS_RECONCILE_SECONDS=str(RECONCILE_SECONDS))

    # Then the reconcile duty re-enqueues the stale products and workers heal the catalog
    recovery = wait_for(lambda: healed("lost-"), timeout=RECONCILE_SECONDS + HEAL_ALLOWANCE_SECONDS + 60)
    rows = Product.objects.filter(external_id__startswith="lost-").defer("embedding")
    done = 2 * PRODUCTS - rows.filter(embedding_text_hash="").count() - rows.filter(enrichment_version="").count()
    passed = recovery is not None and recovery <= RECONCILE_SECONDS + HEAL_ALLOWANCE_SECONDS and done == sent
    fault_row(
        scenario=f"Redis killed without persistence, {sent} jobs queued (RECONCILE_SECONDS={RECONCILE_SECONDS})",
        sent=sent,
        ran=done,
        lost=sent - done,
        ran_twice=0,
        recovery=f"{seconds(recovery)} to heal (target <= {RECONCILE_SECONDS} s period + {HEAL_ALLOWANCE_SECONDS} s start and drain)",
        passed=passed,
        note="all queued jobs vanished with Redis' data; reconcile re-enqueued them",
    )
    assert time.monotonic() - lost_at >= 0 and passed
