"""Acks of concurrent worker threads go to Redis together, and each does all a single ack does."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from dramatiq.message import Message

from gifting_jobs.broker import RedisBroker
from gifting_jobs.broker.stats import Counter, JobKind, Outcome, minute_series
from gifting_jobs.dispatch import enqueue
from tests.conftest import wait_until

JOBS = 24


def test_acks__concurrent_acks_are_sent_in_one_call_each_freeing_its_id_and_counted_once(
    clean_broker: RedisBroker, transactional_db, monkeypatch
):
    # Given 24 fetched messages whose jobs ended, each holding its job id
    jobs = [enqueue("test_record", {"key": f"batch-{n}", "triggered_by": "manual"}, {}) for n in range(JOBS)]
    rids = [Message.decode(data).options["redis_message_id"] for data in clean_broker.do_fetch("testing", JOBS)]
    assert len(rids) == JOBS
    for job, rid in zip(jobs, rids, strict=True):
        clean_broker.finish_on_ack(job.id, job.message_id, rid)
        clean_broker.record_outcome(rid, Outcome("test_record", (Counter.PROCESSED,), "1000.0", 3.0))

    # When 24 threads ack at once while the first call is held in flight
    calls: list[int] = []
    first_call_held = threading.Event()
    send = clean_broker._acks._send

    def held_send(entries: list[tuple[object, ...]]) -> None:
        calls.append(len(entries))
        if len(calls) == 1:
            assert first_call_held.wait(10)
        send(entries)

    monkeypatch.setattr(clean_broker._acks, "_send", held_send)
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        acks = [pool.submit(clean_broker.do_ack, "testing", rid) for rid in rids]
        wait_until(
            lambda: (
                clean_broker._acks._gathering is not None and len(clean_broker._acks._gathering.entries) == JOBS - 1
            ),
            interval=0.005,
        )
        assert sum(ack.done() for ack in acks) == 0, "an ack returned before it was written"
        first_call_held.set()
        for ack in acks:
            ack.result(timeout=10)

    # Then two calls acked all 24: nothing left in flight, every id free, each counted once
    assert calls == [1, JOBS - 1]
    client = clean_broker.client
    assert not any(client.scard(key) for key in client.scan_iter(match=f"{clean_broker.keys.acks_prefix}*"))
    assert client.hlen(clean_broker.keys.messages("testing")) == 0
    assert not any(clean_broker.job_pending(job.id) for job in jobs)
    assert not any(client.exists(clean_broker.keys.deliveries(rid)) for rid in rids)
    counts = minute_series(clean_broker, minutes=2).by_kind[JobKind("testing", "test_record")]
    assert counts[Counter.PROCESSED] == JOBS
