"""Script calls on a connection of each thread's own, without the pool's per-command bookkeeping.

Every send and ack is one EVALSHA. Through redis-py's client, each command
also takes a connection from the pool and checks it with a `poll` system call,
records metrics, and gives it back: 20-40 us on a ~100 us round trip. Here a
thread keeps one connection (made from the same pool's settings: timeouts,
retry) and only packs, sends and reads. Failures behave as the client's do:
the connection's retry policy retries a connection error or a timeout after
closing the connection, and an error reply (e.g. NOSCRIPT) is raised as
redis-py raises it, leaving the connection usable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.connection import AbstractConnection


class DirectScripts:
    """EVALSHA on a per-thread connection built like `pool`'s; a forked child makes its own."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._local = threading.local()

    def evalsha(self, sha: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply; raises what `redis.Redis.evalsha` raises."""
        connection = self._connection()
        packed = connection.pack_command("EVALSHA", sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        return connection.retry.call_with_retry(
            lambda: self._call(connection, packed),
            lambda error: connection.disconnect(),  # type: ignore[no-untyped-call]
        )

    @staticmethod
    def _call(connection: AbstractConnection, packed: list[bytes]) -> Any:
        try:
            connection.send_packed_command(packed, check_health=False)  # type: ignore[no-untyped-call]
            return connection.read_response()
        except redis.ResponseError:
            raise  # The reply was read whole: the connection stays in step.
        except BaseException:
            # A reply may still be on its way (an interrupted read): never read it as the next one's.
            connection.disconnect()  # type: ignore[no-untyped-call]
            raise

    def _connection(self) -> AbstractConnection:
        connection: AbstractConnection | None = getattr(self._local, "connection", None)
        if connection is None or connection.pid != os.getpid():
            connection = self._local.connection = self._pool.connection_class(**self._pool.connection_kwargs)
        return connection

    def close(self) -> None:
        """Close the calling thread's connection (others close when their thread ends)."""
        connection: AbstractConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.disconnect()  # type: ignore[no-untyped-call]
            self._local.connection = None
