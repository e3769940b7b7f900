"""GroupCommit: concurrent submits are written together, each returns once its own entry is written."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

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


def behind_a_call_in_flight(send: Recorder, gathering: list[int]) -> tuple[Future[None], list[Future[None]]]:
    """Submit 0 and hold its call in flight, submit `gathering` meanwhile, then release: the futures of both."""
    commit = GroupCommit(send)
    send.release.clear()
    with ThreadPoolExecutor(max_workers=1 + len(gathering)) as pool:
        first = pool.submit(commit.submit, 0)
        assert send.in_flight.wait(WAIT)
        others = [pool.submit(commit.submit, n) for n in gathering]
        wait_until(gathered(commit, len(gathering)), interval=0.001)
        assert not any(future.done() for future in others), "returned before its entry was written"
        send.release.set()
        wait([first, *others], timeout=WAIT)
    return first, others


def test_submit__entries_arriving_while_a_call_is_in_flight_go_together_in_the_next_call():
    send = Recorder()

    first, others = behind_a_call_in_flight(send, [1, 2, 3, 4, 5])

    assert first.result() is None and all(future.result() is None for future in others)
    assert [sorted(batch) for batch in send.batches] == [[0], [1, 2, 3, 4, 5]]


def test_submit__a_failed_call_raises_in_its_thread_only_and_the_next_batch_goes_on():
    send = Recorder(failures={0: ConnectionError("redis went away")})

    first, others = behind_a_call_in_flight(send, [1, 2])

    with pytest.raises(ConnectionError, match="redis went away"):
        first.result()
    assert all(future.result() is None for future in others)
    assert [sorted(batch) for batch in send.batches] == [[0], [1, 2]]


def test_submit__every_thread_of_a_failed_batch_raises_its_own_copy_of_the_error():
    send = Recorder(failures={1: ConnectionError("lost")})

    first, others = behind_a_call_in_flight(send, [1, 2, 3])

    errors = [future.exception() for future in others]
    assert first.result() is None
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
