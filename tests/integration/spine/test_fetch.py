"""A fetch holds its messages and counts their deliveries in one call, with or without Dramatiq's maintenance."""

from __future__ import annotations

import pytest
from dramatiq.message import Message

from gifting_jobs.broker import RedisBroker
from gifting_jobs.broker.keys import DELAY_SUFFIX
from gifting_jobs.dispatch import enqueue

#: The shipped chance (one fetch in a thousand runs Dramatiq's maintenance script) never
#: comes up in a short test: 0 is the one-call FETCH path, a million the maintenance path.
PATHS = {"one call": 0, "with maintenance": 1_000_000}


@pytest.fixture(params=PATHS.values(), ids=PATHS.keys())
def broker(request, clean_broker: RedisBroker, monkeypatch) -> RedisBroker:
    monkeypatch.setattr(clean_broker, "maintenance_chance", request.param)
    return clean_broker


def test_fetch__holds_the_messages_and_counts_a_redelivery_as_a_second_delivery(broker, transactional_db):
    jobs = [enqueue("test_record", {"key": f"fetch-{n}", "triggered_by": "manual"}, {}) for n in range(3)]

    fetched = broker.do_fetch(jobs[0].queue, 10)

    rids = [Message.decode(data).options["redis_message_id"] for data in fetched]
    assert [Message.decode(data).message_id for data in fetched] == [job.message_id for job in jobs]
    assert broker.client.smembers(broker.keys.acks(broker.broker_id, jobs[0].queue)) == {r.encode() for r in rids}
    assert all(broker._held[rid] == jobs[0].queue for rid in rids)
    assert [int(broker.client.get(broker.keys.deliveries(rid))) for rid in rids] == [1, 1, 1]
    assert broker.starts_after_crash(rids[0]) == 0  # A first delivery starts uncounted.

    # When a message comes back (its worker died) and is fetched again, it is a redelivery
    broker.client.rpush(broker.keys.queue(jobs[0].queue), rids[1])
    assert len(broker.do_fetch(jobs[0].queue, 10)) == 1
    assert int(broker.client.get(broker.keys.deliveries(rids[1]))) == 2
    assert broker.starts_after_crash(rids[1]) == 1


def test_fetch__a_message_whose_data_is_gone_is_skipped_and_not_held(broker, transactional_db):
    kept, _gone = (enqueue("test_record", {"key": f"gone-{n}", "triggered_by": "manual"}, {}) for n in range(2))
    queue = kept.queue
    ids = [i.decode() for i in broker.client.lrange(broker.keys.queue(queue), 0, -1)]
    broker.client.hdel(broker.keys.messages(queue), ids[1])

    fetched = broker.do_fetch(queue, 10)

    assert fetched[1] is None and Message.decode(fetched[0]).message_id == kept.message_id
    assert ids[0] in broker._held and ids[1] not in broker._held


def test_fetch__a_delay_queue_holds_its_messages_without_counting_them(broker, transactional_db):
    job = enqueue("test_record", {"key": "delayed-fetch", "triggered_by": "manual"}, {"delay": 60})
    delay_queue = f"{job.queue}{DELAY_SUFFIX}"

    (data,) = broker.do_fetch(delay_queue, 10)

    rid = Message.decode(data).options["redis_message_id"]
    assert broker._held[rid] == delay_queue
    assert not broker.client.exists(broker.keys.deliveries(rid))
