"""DirectScripts: EVALSHA on a connection per thread answers and fails as redis-py's client does."""

from __future__ import annotations

import threading

import pytest
import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from gifting_jobs.broker.direct import DirectScripts

ECHO = "return {KEYS[1], ARGV[1]}"
FAIL = "return redis.error_reply('ERR refused by the script')"


@pytest.fixture
def client() -> redis.Redis:
    """A client whose connections retry once, as the broker's do."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, retry=Retry(NoBackoff(), 1))


def test_evalsha__answers_what_the_client_answers(client):
    sha = client.script_load(ECHO)
    direct = DirectScripts(client.connection_pool)

    assert direct.evalsha(sha, ["gj-test:key"], ["value"]) == client.evalsha(sha, 1, "gj-test:key", "value")
    direct.close()


def test_evalsha__an_error_reply_is_raised_and_the_connection_stays_in_step(client):
    direct = DirectScripts(client.connection_pool)
    echo, fail = client.script_load(ECHO), client.script_load(FAIL)

    with pytest.raises(redis.ResponseError, match="refused by the script"):
        direct.evalsha(fail, [], [])
    with pytest.raises(redis.exceptions.NoScriptError):
        direct.evalsha("0" * 40, [], [])
    # The next reply is its own, not one left over
    assert direct.evalsha(echo, ["k"], ["after"]) == [b"k", b"after"]
    direct.close()


def test_evalsha__a_connection_the_server_closed_is_made_again_by_the_retry(client):
    direct = DirectScripts(client.connection_pool)
    sha = client.script_load(ECHO)
    assert direct.evalsha(sha, ["k"], ["1"]) == [b"k", b"1"]
    client.client_setname("gj-test-admin")
    killed = sum(
        client.client_kill_filter(_id=entry["id"])
        for entry in client.client_list()
        if entry["name"] != "gj-test-admin" and entry["cmd"].startswith("evalsha")
    )
    assert killed >= 1

    assert direct.evalsha(sha, ["k"], ["2"]) == [b"k", b"2"]
    direct.close()


def test_evalsha__each_thread_has_its_own_connection_and_a_forked_child_makes_a_new_one(client):
    direct = DirectScripts(client.connection_pool)
    sha = client.script_load(ECHO)
    seen: list[object] = []

    def call() -> None:
        direct.evalsha(sha, ["k"], ["v"])
        seen.append(direct._local.connection)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len({id(connection) for connection in seen}) == 3

    call()
    mine = direct._local.connection
    mine.pid = -1  # As seen from a forked child: the connection belongs to its parent.
    call()
    assert direct._local.connection is not mine
    direct.close()
