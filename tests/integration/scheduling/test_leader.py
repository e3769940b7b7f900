"""The scheduler's leader lock: one holder per database, freed when the holder's session ends."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from gifting_jobs.scheduling import LeaderLock, current_holder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def locks() -> Iterator[list[LeaderLock]]:
    made = [LeaderLock(application_name="scheduler-a"), LeaderLock(application_name="scheduler-b")]
    yield made
    for lock in made:
        lock.release()


def test_leader_lock__one_holder_at_a_time(locks):
    a, b = locks

    assert a.try_acquire() and not b.try_acquire()
    assert a.held() and not b.held()
    assert current_holder() == "scheduler-a"

    a.release()

    assert current_holder() is None
    assert b.try_acquire() and current_holder() == "scheduler-b"


def test_leader_lock__taking_it_again_while_held_is_harmless(locks):
    a, _ = locks

    assert a.try_acquire() and a.try_acquire()
    a.release()

    assert current_holder() is None


def test_leader_lock__a_dead_holder_session_frees_it_for_the_standby(locks):
    a, b = locks
    assert a.try_acquire()

    # The holder's session ends as it would when its process dies.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'scheduler-a'")

    assert not a.held()
    assert b.try_acquire() and current_holder() == "scheduler-b"


class UnreachableLeaderLock(LeaderLock):
    """The lock against a Postgres that does not answer (nothing listens on port 9)."""

    def _connect(self):
        return psycopg.connect(host="127.0.0.1", port=9, dbname="postgres", connect_timeout=2, autocommit=True)


def test_leader_lock__an_unreachable_database_is_not_leadership():
    lock = UnreachableLeaderLock(application_name="scheduler-x")

    assert not lock.try_acquire() and not lock.held()
