"""The broker calls only the middleware hooks that do something, exactly as Dramatiq would."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from dramatiq.message import Message
from dramatiq.middleware import Middleware, SkipMessage

from gifting_jobs.broker import RedisBroker


class Recorder(Middleware):
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def before_enqueue(self, broker, message, delay):
        self.calls.append(f"{self.name}.before_enqueue")

    def after_enqueue(self, broker, message, delay):
        self.calls.append(f"{self.name}.after_enqueue")


class Failing(Middleware):
    def before_enqueue(self, broker, message, delay):
        raise RuntimeError("hook bug")


class Skipping(Middleware):
    def before_process_message(self, broker, message):
        raise SkipMessage()


class Capturing(Middleware):
    """Keeps the messages its enqueue hooks were handed."""

    def __init__(self) -> None:
        self.before: list[Message] = []
        self.after: list[Message] = []

    def before_enqueue(self, broker, message, delay):
        self.before.append(message)

    def after_enqueue(self, broker, message, delay):
        self.after.append(message)


def make_broker(*middleware: Middleware, namespace: str = "gj-hooks-test") -> RedisBroker:
    return RedisBroker(url=settings.REDIS_URL, namespace=namespace, middleware=list(middleware))


@pytest.fixture
def sending_broker() -> Iterator[tuple[RedisBroker, Capturing]]:
    """A broker of its own namespace whose only middleware captures enqueues; its keys go at the end."""
    capturing = Capturing()
    broker = make_broker(capturing, namespace=f"gj-hooks-{uuid.uuid4().hex[:8]}")
    try:
        yield broker, capturing
    finally:
        broker.delete_namespace()
        broker.close()


def job_message(job_id: str) -> Message:
    return Message(queue_name="q", actor_name="a", args=({"key": 1},), kwargs={}, options={"job_id": job_id})


def stored(broker: RedisBroker, queue_name: str) -> list[Message]:
    ids = broker.client.lrange(broker.keys.queue(queue_name), 0, -1)
    return [Message.decode(data) for data in broker.client.hmget(broker.keys.messages(queue_name), ids)]


def message() -> Message:
    return Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={})


def test_emit__calls_overridden_hooks_in_dramatiqs_order():
    calls: list[str] = []
    broker = make_broker(Recorder("first", calls), Middleware(), Recorder("second", calls))

    broker.emit_before("enqueue", message(), None)
    broker.emit_after("enqueue", message(), None)

    assert calls == ["first.before_enqueue", "second.before_enqueue", "second.after_enqueue", "first.after_enqueue"]


def test_emit__middleware_added_later_is_called():
    calls: list[str] = []
    broker = make_broker(Recorder("first", calls))
    broker.emit_before("enqueue", message(), None)

    broker.add_middleware(Recorder("late", calls))
    broker.emit_before("enqueue", message(), None)

    assert calls == ["first.before_enqueue", "first.before_enqueue", "late.before_enqueue"]


def test_emit__a_failing_hook_is_logged_and_the_others_still_run(caplog):
    calls: list[str] = []
    broker = make_broker(Failing(), Recorder("after", calls))

    with caplog.at_level(logging.CRITICAL):
        broker.emit_before("enqueue", message(), None)

    assert calls == ["after.before_enqueue"]
    assert "Unexpected failure in before_enqueue" in caplog.text


def test_emit__middleware_errors_propagate_like_in_dramatiq():
    broker = make_broker(Skipping())

    with pytest.raises(SkipMessage):
        broker.emit_before("process_message", message())


def test_send_unique__hooks_get_the_message_as_stored(sending_broker):
    broker, capturing = sending_broker
    original = job_message("hooked-1")

    assert broker.send_unique(original, lock_ttl_ms=60_000) is None

    [kept] = stored(broker, "q")
    assert capturing.before == capturing.after == [kept]
    assert kept == original.copy(options={"redis_message_id": kept.options["redis_message_id"]})
    assert "redis_message_id" not in original.options  # The caller's message is not changed.


def test_send_unique__a_delayed_message_is_stored_in_the_delay_queue_with_its_eta(sending_broker):
    broker, capturing = sending_broker
    original = job_message("hooked-delayed")

    assert broker.send_unique(original, lock_ttl_ms=60_000, delay_ms=30_000) is None

    [kept] = stored(broker, "q.DQ")
    assert capturing.after == [kept]
    assert kept.queue_name == "q.DQ"
    assert kept.options["eta"] >= original.message_timestamp + 30_000
    assert kept == original.copy(queue_name="q.DQ", options={k: kept.options[k] for k in ("redis_message_id", "eta")})


def test_send_unique__a_deduplicated_send_calls_only_the_before_hook(sending_broker):
    broker, capturing = sending_broker
    broker.send_unique(job_message("hooked-twice"), lock_ttl_ms=60_000)

    second = job_message("hooked-twice")
    owner = broker.send_unique(second, lock_ttl_ms=60_000)

    assert owner is not None and owner != second.message_id
    assert (len(capturing.before), len(capturing.after)) == (2, 1)
    assert len(stored(broker, "q")) == 1


def test_send_unique_many__hooks_get_each_message_as_stored(sending_broker):
    broker, capturing = sending_broker
    messages = [job_message(f"hooked-many-{n}") for n in range(3)]

    assert broker.send_unique_many([(m, 60_000, None) for m in messages]) == [None] * 3

    kept = stored(broker, "q")
    assert capturing.before == capturing.after == kept
    assert [m.message_id for m in kept] == [m.message_id for m in messages]
