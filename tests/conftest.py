"""Shared fixtures: the real Redis broker, in-process and subprocess Dramatiq workers.

Real services are required: a Redis or Postgres that does not answer fails the
run, it is never skipped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.conf import settings
from django.db import connection
from dramatiq.message import Message

from gifting_jobs.broker import RedisBroker

# gifting_jobs' own pytest plugin (a pip-installed package loads it through its entry point;
# this checkout is not installed). Same name as the entry point's, so it never loads twice.
pytest_plugins = ["gifting_jobs.testing.plugin"]

ROOT = Path(__file__).resolve().parent.parent
#: Default time a test waits for a condition before failing.
WAIT_TIMEOUT = 20.0


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = WAIT_TIMEOUT, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll `predicate` until it returns a truthy value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def flush_namespace(broker: RedisBroker) -> None:
    keys = list(broker.client.scan_iter(match=f"{broker.namespace}:*", count=1000))
    for start in range(0, len(keys), 500):
        broker.client.delete(*keys[start : start + 500])


@pytest.fixture(scope="session")
def broker() -> Iterator[RedisBroker]:
    current = dramatiq.get_broker()
    assert isinstance(current, RedisBroker)
    current.client.ping()  # A missing Redis fails the run here, loudly.
    flush_namespace(current)
    yield current
    flush_namespace(current)


@pytest.fixture(autouse=True)
def _fresh_rate_limits(broker: RedisBroker) -> Iterator[None]:
    """Every test starts with no provider cooldown, window or snooze state (a 429 test would cool the next one down)."""
    yield
    broker.limits.reset()


@pytest.fixture
def clean_broker(broker: RedisBroker) -> Iterator[RedisBroker]:
    """The broker with this run's namespace emptied before and after the test."""
    flush_namespace(broker)
    yield broker
    flush_namespace(broker)


@pytest.fixture
def swap_broker() -> Iterator[Callable[[RedisBroker], RedisBroker]]:
    """Make another broker the global one for the test (enqueue uses `dramatiq.get_broker()`)."""
    original = dramatiq.get_broker()
    swapped: list[RedisBroker] = []

    def swap(broker: RedisBroker) -> RedisBroker:
        dramatiq.set_broker(broker)
        swapped.append(broker)
        return broker

    yield swap
    dramatiq.set_broker(original)
    for broker in swapped:
        broker.client.connection_pool.disconnect()


@pytest.fixture
def queued(broker: RedisBroker) -> Callable[[str], list[Message]]:
    """Read the messages waiting in a physical queue straight from Redis, in order."""

    def read(queue_name: str) -> list[Message]:
        key = f"{broker.namespace}:{queue_name}"
        ids = broker.client.lrange(key, 0, -1)
        if not ids:
            return []
        return [Message.decode(data) for data in broker.client.hmget(key + ".msgs", ids)]

    return read


@pytest.fixture
def worker(clean_broker: RedisBroker, transactional_db: None) -> Iterator[dramatiq.Worker]:
    """A real Dramatiq worker (4 threads) in this process, on the real Redis broker."""
    worker = dramatiq.Worker(clean_broker, worker_threads=4, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop(timeout=10_000)
    connection.close()


def database_url() -> str:
    """The URL of the test database, for worker subprocesses."""
    conf = connection.settings_dict
    return f"postgresql://{conf['USER']}:{conf['PASSWORD']}@/{conf['NAME']}?host={conf['HOST']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a `manage.py` subprocess on this run's test database and Redis namespace."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DRAMATIQ_NAMESPACE": dramatiq.get_broker().namespace,
        **extra,
    }


def free_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagePyProcess:
    """`manage.py <command>` in its own process group, on this run's test database and namespace.

    Its output goes to a log file under `.local/`, readable during and after the run.
    """

    #: Seconds a SIGTERM gets before the process group is killed.
    stop_timeout = 20.0

    def __init__(self, command: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path = ROOT / ".local" / f"{command}-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w+b")  # noqa: SIM115 (outlives this call; closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", command, *args],
            cwd=ROOT,
            env=subprocess_env(**(env or {})),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        """Send `signum` to the whole process group (a master and its children), if it still runs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group."""
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        if not self.log.closed:
            self.log.close()


class WorkerProcess(ManagePyProcess):
    """`manage.py rundramatiq` (one process, 4 threads) in a subprocess."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__("rundramatiq", "--processes", "1", "--threads", "4", *args, env=env)


@pytest.fixture
def start_worker(clean_broker: RedisBroker, transactional_db: None) -> Iterator[Callable[..., dramatiq.Worker]]:
    """Start in-process workers when the test says so (after it queued its jobs)."""
    workers: list[dramatiq.Worker] = []

    def start(
        *, broker: RedisBroker | None = None, threads: int = 4, queues: set[str] | None = None
    ) -> dramatiq.Worker:
        worker = dramatiq.Worker(broker or clean_broker, worker_threads=threads, worker_timeout=50, queues=queues)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(timeout=10_000)
    connection.close()


@pytest.fixture
def gifter(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("gifter", password="pw")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("someone-else", password="pw")


@pytest.fixture
def worker_processes(clean_broker: RedisBroker, transactional_db: None) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `rundramatiq` subprocesses; all are stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        process = WorkerProcess(*args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def fake_openai() -> Iterator[Any]:
    """A running OpenAI-compatible server on 127.0.0.1 (`.url`, `.requests`, `.script(...)`)."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def openai_providers(fake_openai: Any) -> Iterator[Any]:
    """`GIFTING_JOBS` with both providers on OpenAI, pointed at `fake_openai`; yields the server.

    Retry backoffs are scaled down (`RETRY_BACKOFF_SCALE`) so a job's retries take milliseconds;
    a server's Retry-After still applies in full.
    """
    from django.test import override_settings

    from tests.fake_openai import openai_settings

    with override_settings(GIFTING_JOBS=openai_settings(fake_openai, settings.GIFTING_JOBS, RETRY_BACKOFF_SCALE=0.01)):
        yield fake_openai
