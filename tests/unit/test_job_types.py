"""The public way to declare a job type of a host project, and the open `triggered_by`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gifting_jobs import jobs
from gifting_jobs.catalog import get_spec, registered_names
from gifting_jobs.exceptions import ConfigurationError, ValidationError
from gifting_jobs.payloads import TRIGGERED_BY_PATTERN, ProductEmbeddingPayload, TriggeredBy
from gifting_jobs.retry_policy import ErrorKind, classify_error


class GreetingPayload(jobs.JobPayload):
    user_id: int


def greet(payload: GreetingPayload) -> None:
    """The work of the declared type (never run here)."""


GREETING = jobs.declare_job_type(
    "unit_greeting",
    payload=GreetingPayload,
    work=greet,
    job_id=lambda p: f"greeting:{p.user_id}",
    queue="greetings",
    priority=2,
    attempts=4,
    min_backoff=timedelta(seconds=1),
    max_backoff=timedelta(seconds=8),
    time_limit=timedelta(seconds=30),
)


def test_declare_job_type__registers_every_declared_option():
    spec = GREETING
    assert "unit_greeting" in registered_names()
    assert get_spec("unit_greeting") == spec
    assert spec.work == f"{__name__}.greet"
    assert (spec.queue, spec.priority, spec.retry.attempts, spec.time_limit) == (
        "greetings",
        2,
        4,
        timedelta(seconds=30),
    )
    payload = GreetingPayload(user_id=7, triggered_by="signup")
    assert spec.default_id(payload) == "greeting:7" and spec.entity_id(payload) == "greeting:7"


def test_declare_job_type__payload_must_be_a_job_payload():
    with pytest.raises(ConfigurationError, match=r"payload must subclass gifting_jobs\.jobs\.JobPayload"):
        jobs.declare_job_type("unit_bad_payload", payload=dict, work=greet, job_id=str)  # type: ignore[arg-type]


def test_declare_job_type__work_must_be_importable_by_workers():
    def nested(payload: GreetingPayload) -> None:
        """A local function: a worker process could not import it."""

    with pytest.raises(ConfigurationError, match="module-level function"):
        jobs.declare_job_type("unit_nested", payload=GreetingPayload, work=nested, job_id=str)


def test_declare_job_type__bad_retry_policy_and_priority_name_the_type():
    with pytest.raises(ConfigurationError, match="unit_zero_attempts"):
        jobs.declare_job_type("unit_zero_attempts", payload=GreetingPayload, work=greet, job_id=str, attempts=0)
    with pytest.raises(ConfigurationError, match=r"priority must be 1\.\.10"):
        jobs.declare_job_type("unit_priority", payload=GreetingPayload, work=greet, job_id=str, priority=11)


def test_declare_job_type__a_name_cannot_be_taken_twice():
    with pytest.raises(ConfigurationError, match="already registered"):
        jobs.declare_job_type("product_embedding", payload=GreetingPayload, work=greet, job_id=str)


@pytest.mark.parametrize(
    "reason", [*(member.value for member in TriggeredBy), "signup", "billing.renewed", "import_v2"]
)
def test_triggered_by__built_in_and_host_values_are_accepted(reason):
    assert ProductEmbeddingPayload(product_id=1, triggered_by=reason).triggered_by == reason


@pytest.mark.parametrize("reason", ["", "Signup", "sign up", ".created", "product.", "x" * 65, "héllo"])
def test_triggered_by__values_outside_the_pattern_are_refused(reason):
    with pytest.raises(Exception, match="triggered_by"):
        ProductEmbeddingPayload(product_id=1, triggered_by=reason)


def test_triggered_by__a_built_in_member_is_stored_as_its_value():
    payload = ProductEmbeddingPayload(product_id=1, triggered_by=TriggeredBy.RETRY)
    assert payload.triggered_by == "retry" and type(payload.triggered_by) is str
    assert payload.model_dump(mode="json")["triggered_by"] == "retry"
    assert TRIGGERED_BY_PATTERN.startswith("^")


def test_enqueue_job__bad_fields_raise_before_sending():
    with pytest.raises(ValidationError, match="user_id"):
        jobs.enqueue_job("unit_greeting", {"user_id": "not a number"}, triggered_by="signup")


@pytest.mark.parametrize("exc", [ModuleNotFoundError("No module named 'wordllama'"), ConfigurationError("bad setting")])
def test_classify_error__a_missing_module_or_setting_is_permanent(exc):
    assert classify_error(exc) is ErrorKind.PERMANENT
