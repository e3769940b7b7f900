"""Exhaustiveness: every job type is fully declared, and the public API covers it."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime

import dramatiq
import pytest
from django.utils.module_loading import import_string

from gifting_jobs import jobs
from gifting_jobs.catalog import JobType, get_spec
from gifting_jobs.payloads import JobPayload

#: A valid payload per built-in type, to derive ids from.
SAMPLES = {
    JobType.PRODUCT_ENRICHMENT: {"product_id": 7, "triggered_by": "manual"},
    JobType.PRODUCT_EMBEDDING: {"product_id": 7, "triggered_by": "manual", "previous_text_hash": "ab12cd34"},
    JobType.TASTE_PROFILE_EMBEDDING: {"taste_profile_id": 3, "user_id": 1, "triggered_by": "profile.completed"},
    JobType.CURATED_COLLECTIONS: {"surface": "home", "target_date": date(2026, 12, 1), "triggered_by": "scheduler"},
    JobType.REMINDER_DISPATCH: {
        "schedule_id": 9,
        "user_id": 1,
        "channel": "EMAIL",
        "payload": {"title": "t", "body": "b"},
        "scheduled_for": datetime(2026, 12, 1, 9, tzinfo=UTC),
        "triggered_by": "scheduler",
    },
}
#: The public function of each type.
ENQUEUE_FUNCTIONS = {
    JobType.PRODUCT_ENRICHMENT: jobs.enqueue_product_enrichment,
    JobType.PRODUCT_EMBEDDING: jobs.enqueue_product_embedding,
    JobType.TASTE_PROFILE_EMBEDDING: jobs.enqueue_taste_profile_embedding,
    JobType.CURATED_COLLECTIONS: jobs.enqueue_curated_collections,
    JobType.REMINDER_DISPATCH: jobs.enqueue_reminder_dispatch,
}


@pytest.mark.parametrize("job_type", list(JobType))
def test_catalog__every_type_is_fully_declared(job_type):
    spec = get_spec(job_type)
    assert issubclass(spec.payload_model, JobPayload)
    assert callable(import_string(spec.work)), f"{job_type}: work {spec.work} is not importable"
    assert dramatiq.get_broker().get_actor(job_type).queue_name == spec.queue
    assert 1 <= spec.priority <= 10 and spec.retry.attempts >= 1 and spec.time_limit.total_seconds() > 0
    payload = spec.payload_model.model_validate(SAMPLES[job_type])
    # Default ids are deterministic and name their type; the entity id is set.
    assert spec.default_id(payload) == spec.default_id(spec.payload_model.model_validate(SAMPLES[job_type]))
    assert spec.default_id(payload).startswith(job_type.replace("_", "-"))
    assert spec.entity_id(payload)
    assert job_type in ENQUEUE_FUNCTIONS


def test_catalog__taste_profile_embedding_is_most_urgent():
    assert get_spec(JobType.TASTE_PROFILE_EMBEDDING).priority == 1


def test_catalog__public_functions_take_keyword_only_options():
    for function in ENQUEUE_FUNCTIONS.values():
        parameters = inspect.signature(function).parameters
        assert parameters["triggered_by"].kind is inspect.Parameter.KEYWORD_ONLY
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def test_catalog__unknown_type_names_the_known_ones():
    from gifting_jobs.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="product_embedding"):
        get_spec("product_embeddings")
