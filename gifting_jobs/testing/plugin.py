"""The pytest plugin of gifting_jobs (entry point `pytest11`): job capture and a private broker per test.

The ini option `gifting_jobs_capture` decides when jobs are captured:

- `all` (the default, what a host project wants): every test captures its jobs,
  so nothing reaches the developer's Redis; a test that asks for the
  `real_broker` fixture sends to Redis instead, in a namespace of its own.
- `opt-in`: only tests that use the `jobs` fixture capture (this repository's
  own suite, whose spine tests need the real broker).

Fixtures: `jobs` (the `JobCapture` of the test), `inline_jobs` (a capture
that runs each job as it is sent), `real_broker` (a broker in a fresh
namespace, set as Dramatiq's global broker, its keys deleted afterwards).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gifting_jobs.broker import RedisBroker
    from gifting_jobs.testing.capture import JobCapture

#: The ini option and its values.
CAPTURE_OPTION = "gifting_jobs_capture"
CAPTURE_ALL, CAPTURE_OPT_IN = "all", "opt-in"
#: The fixture that turns capture off for a test.
REAL_BROKER_FIXTURE = "real_broker"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        CAPTURE_OPTION,
        help=f"'{CAPTURE_ALL}' (default): every test captures the jobs it enqueues, none reach Redis unless it "
        f"uses the '{REAL_BROKER_FIXTURE}' fixture; '{CAPTURE_OPT_IN}': only tests using the 'jobs' fixture.",
        default=CAPTURE_ALL,
    )


def pytest_configure(config: pytest.Config) -> None:
    mode = config.getini(CAPTURE_OPTION)
    if mode not in (CAPTURE_ALL, CAPTURE_OPT_IN):
        raise pytest.UsageError(f"{CAPTURE_OPTION} must be '{CAPTURE_ALL}' or '{CAPTURE_OPT_IN}', got {mode!r}")


def _django_ready() -> bool:
    try:
        from django.apps import apps
    except ImportError:
        return False
    return apps.ready


@pytest.fixture(autouse=True)
def _gifting_jobs_auto_capture(request: pytest.FixtureRequest) -> Iterator[JobCapture | None]:
    """In `all` mode, the capture every test runs under (none for tests using `real_broker`)."""
    wanted = request.config.getini(CAPTURE_OPTION) == CAPTURE_ALL
    if not wanted or REAL_BROKER_FIXTURE in request.fixturenames or not _django_ready():
        yield None
        return
    from gifting_jobs.testing.capture import capture_jobs

    with capture_jobs() as capture:
        yield capture


@pytest.fixture
def jobs(_gifting_jobs_auto_capture: JobCapture | None) -> Iterator[JobCapture]:
    """The test's job capture: `assert_enqueued`, `refute_enqueued`, `enqueued_jobs`, `perform_job`, `drain_jobs`."""
    if _gifting_jobs_auto_capture is not None:
        yield _gifting_jobs_auto_capture
        return
    from gifting_jobs.testing.capture import capture_jobs

    with capture_jobs() as capture:
        yield capture


@pytest.fixture
def inline_jobs() -> Iterator[JobCapture]:
    """A capture that runs each job as soon as it is sent (inside a transaction: at its commit)."""
    from gifting_jobs.testing.capture import capture_jobs

    with capture_jobs(inline=True) as capture:
        yield capture


@pytest.fixture
def real_broker() -> Iterator[RedisBroker]:
    """A real Redis broker in a namespace of this test's own, made Dramatiq's global broker.

    Same Redis, options, middleware and actors as the configured broker; every
    key of the namespace is deleted when the test ends.
    """
    import dramatiq
    from django.conf import settings
    from django.utils.module_loading import import_string

    from gifting_jobs.broker import RedisBroker, get_broker

    configured = get_broker()
    conf: dict[str, Any] = settings.DRAMATIQ_BROKER
    options = {**conf.get("OPTIONS", {}), "namespace": f"{configured.namespace}-test-{uuid.uuid4().hex[:12]}"}
    broker = RedisBroker(middleware=[import_string(path)() for path in conf.get("MIDDLEWARE", [])], **options)
    for name in configured.get_declared_actors():
        broker.declare_actor(configured.get_actor(name))
    for queue in configured.get_declared_queues():
        broker.declare_queue(queue)
    dramatiq.set_broker(broker)
    try:
        yield broker
    finally:
        dramatiq.set_broker(configured)
        broker.delete_namespace()
        broker.close()
