"""GroupCommit: concurrent submits are written together, each returns once its own entry is written."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from gifting_jobs.broker.group_commit import GroupCommit
from tests.conftest import wait_until

WAIT = 5.0


class Recorder:
    """A send that records its batches, can be held in flight until released, and fails the calls asked."""

    def __init__(self, *, failures: dict[int, BaseException] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.in_flight = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.failures = failures or {}

    def __call__(self, entries: list[int]) -> None:
        call = len(self.batches)
        self.batches.append(list(entries))
        self.in_flight.set()
        assert self.release.wait(WAIT)
        if call in self.failures:
            raise self.failures[call]


def gathered(commit: GroupCommit[int], count: int) -> Callable[[], bool]:
    """Whether `count` entries wait for the call in flight."""
    return lambda: commit._gathering is not None and len(commit._gathering.entries) == count


def test_submit__alone_is_sent_at_once_in_a_batch_of_its_own():
    send = Recorder()
    commit = GroupCommit(send)

    commit.submit(1)
    commit.submit(2)

    assert send.batches == [[1], [2]]


def test_submit__entries_arriving_while_a_call_is_in_flight_go_together_in_the_next_call():
    send = Recorder()
    commit = GroupCommit(send)
    send.release.clear()
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(commit.submit, 0)
        assert send.in_flight.wait(WAIT)
        others = [pool.submit(commit.submit, n) for n in range(1, 6)]
        wait_until(gathered(commit, 5), interval=0.001)
        assert not any(future.done() for future in others), "returned before its entry was written"
        send.release.set()
        for future in [first, *others]:
            future.result(timeout=WAIT)

    assert send.batches[0] == [0]
    assert sorted(send.batches[1]) == [1, 2, 3, 4, 5]
    assert len(send.batches) == 2


def test_submit__a_failed_call_raises_in_its_thread_only_and_the_next_batch_goes_on():
    send = Recorder(failures={0: ConnectionError("redis went away")})
    commit = GroupCommit(send)
    send.release.clear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(commit.submit, 0)
        assert send.in_flight.wait(WAIT)
        following = [pool.submit(commit.submit, n) for n in (1, 2)]
        wait_until(gathered(commit, 2), interval=0.001)
        send.release.set()
        with pytest.raises(ConnectionError, match="redis went away"):
            first.result(timeout=WAIT)
        for future in following:
            assert future.result(timeout=WAIT) is None

    assert [sorted(batch) for batch in send.batches] == [[0], [1, 2]]


def test_submit__every_thread_of_a_failed_batch_raises_its_own_copy_of_the_error():
    send = Recorder(failures={1: ConnectionError("lost")})
    commit = GroupCommit(send)
    send.release.clear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(commit.submit, 0)
        assert send.in_flight.wait(WAIT)
        failing = [pool.submit(commit.submit, n) for n in (1, 2, 3)]
        wait_until(gathered(commit, 3), interval=0.001)
        send.release.set()
        first.result(timeout=WAIT)
        errors = [future.exception(timeout=WAIT) for future in failing]

    assert [sorted(batch) for batch in send.batches] == [[0], [1, 2, 3]]
    assert all(isinstance(error, ConnectionError) and str(error) == "lost" for error in errors)
    assert len({id(error) for error in errors}) == 3


def test_submit__many_threads_lose_nothing_and_write_nothing_twice():
    written: list[int] = []
    lock = threading.Lock()

    def send(entries: list[int]) -> None:
        with lock:
            written.extend(entries)

    commit = GroupCommit(send)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(commit.submit, range(5000)))

    assert sorted(written) == list(range(5000))
