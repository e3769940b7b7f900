"""Fixtures of the resilience tests: private Redis servers to stop, pause or hang, and a swapped broker."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.spine.conftest import StoppableRedis, stoppable_redis  # noqa: F401 (a fixture)

#: Connections a hung server accepts and holds at most.
HUNG_BACKLOG = 64


class HungRedis:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self.port = free_port()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(HUNG_BACKLOG)
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)  # Read nothing, answer nothing.

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def hung_redis() -> Iterator[HungRedis]:
    server = HungRedis()
    yield server
    server.close()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[StoppableRedis]:
    """A private Redis persisting every write (AOF, fsync always): a restart keeps its keys."""
    server = StoppableRedis(tmp_path, appendonly=True)
    server.start()
    yield server
    server.stop()
