"""The broker calls only the middleware hooks that do something, exactly as Dramatiq would."""

from __future__ import annotations

import logging

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


def make_broker(*middleware: Middleware) -> RedisBroker:
    return RedisBroker(url=settings.REDIS_URL, namespace="gj-hooks-test", middleware=list(middleware))


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
