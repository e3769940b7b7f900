"""The fault suite (`make faults`): real processes attacked as an operator's bad day would.

Every scenario is a pytest test marked `faults` in this folder. It runs
`rundramatiq` (and `runscheduler`) subprocesses on the shipped defaults
(`tests.faults.settings`), against a Redis on its own port that the scenario
starts, stops, restarts or hangs, and the embedded Postgres. Each scenario
records one row with the `fault_row` fixture; the session prints them as one
table and writes it to `.local/faults-table.md`. A verdict that fails fails
its test, so CI fails. Another area adds its scenarios (webhook fuzzing,
insecure defaults) the same way: a test here that calls `fault_row(...)`.

The suite runs only when asked (`GIFTING_FAULTS=1`, which `make faults` sets):
a plain `pytest` deselects it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from gifting_jobs.broker import RedisBroker
from tests.conftest import ROOT, ManagePyProcess, flush_namespace
from tests.integration.spine.conftest import StoppableRedis, make_broker

#: The environment switch that makes the suite run (`make faults` sets it).
ENABLED_ENV = "GIFTING_FAULTS"
FAULTS_DIR = Path(__file__).resolve().parent
#: Where the latest table is written, for the README.
TABLE_PATH = ROOT / ".local" / "faults-table.md"
HEADER = ("scenario", "jobs sent", "ran", "lost", "ran twice", "recovery time", "verdict")


@dataclass(frozen=True)
class FaultRow:
    """One scenario's outcome: what was sent, what ran, what was lost or duplicated, how long recovery took."""

    scenario: str
    sent: int
    ran: int
    lost: int
    ran_twice: int
    recovery: str
    passed: bool
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            self.scenario,
            str(self.sent),
            str(self.ran),
            str(self.lost),
            str(self.ran_twice),
            self.recovery,
            verdict + (f" ({self.note})" if self.note else ""),
        )


_ROWS: list[FaultRow] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(ENABLED_ENV):
        return
    ours = [item for item in items if FAULTS_DIR in Path(str(item.path)).parents]
    if ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


def table(rows: list[FaultRow]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    text = table(_ROWS)
    terminalreporter.section("fault suite")
    terminalreporter.write_line(text)
    TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    TABLE_PATH.write_text(text + "\n")


@pytest.fixture
def fault_row() -> Callable[..., FaultRow]:
    """Record a scenario's row (before asserting its verdict, so a failure shows in the table too)."""

    def record(**fields: Any) -> FaultRow:
        row = FaultRow(**fields)
        _ROWS.append(row)
        return row

    return record


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


@pytest.fixture
def redis_servers(tmp_path: Path) -> Iterator[Callable[..., StoppableRedis]]:
    """Start private Redis servers (AOF on or off) on their own ports; all stopped at the end."""
    started: list[StoppableRedis] = []

    def start(*, appendonly: bool = False) -> StoppableRedis:
        server = StoppableRedis(tmp_path / f"redis-{len(started)}", appendonly=appendonly)
        server.tmp.mkdir()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def use_redis(swap_broker: Callable[[RedisBroker], RedisBroker]) -> Iterator[Callable[[str], RedisBroker]]:
    """Make a broker on `url` this process's global broker (enqueues go there) for the test; flushed after."""
    made: list[RedisBroker] = []

    def use(url: str) -> RedisBroker:
        broker = swap_broker(make_broker(url))
        made.append(broker)
        return broker

    yield use
    for broker in made:
        try:
            flush_namespace(broker)
        except Exception:  # The scenario may have left its Redis down: nothing to flush then.
            pass
        broker.client.connection_pool.disconnect()


class Processes:
    """`rundramatiq` / `runscheduler` subprocesses on the fault settings and a given Redis."""

    def __init__(self) -> None:
        self.started: list[ManagePyProcess] = []

    def env(self, redis_url: str, **extra: str) -> dict[str, str]:
        return {"DJANGO_SETTINGS_MODULE": "tests.faults.settings", "REDIS_URL": redis_url, **extra}

    def worker(self, redis_url: str, *args: str, threads: int = 4, **env: str) -> ManagePyProcess:
        """One `rundramatiq` process with `threads` worker threads, consuming every queue unless `args` say."""
        process = ManagePyProcess(
            "rundramatiq", "--processes", "1", "--threads", str(threads), *args, env=self.env(redis_url, **env)
        )
        self.started.append(process)
        return process

    def scheduler(self, redis_url: str, **env: str) -> ManagePyProcess:
        process = ManagePyProcess("runscheduler", env=self.env(redis_url, **env))
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@pytest.fixture
def processes(transactional_db: None) -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.stop_all()
    connection.close()


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.25) -> float | None:
    """Poll until `predicate` is truthy; the seconds it took, or None on timeout (the row then says so)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    return None
