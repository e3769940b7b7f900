"""`complete_taste_profile`: validate, derive facets, save, enqueue the embedding on commit."""

from __future__ import annotations

import json
import time

import dramatiq
import pytest
from django.db import transaction
from django.utils import timezone

from gifting_jobs.answers import parse_answers
from gifting_jobs.catalog import MOST_URGENT
from gifting_jobs.exceptions import ProfileNotFound, ValidationError
from gifting_jobs.models import HeldJob, HeldJobReason, TasteProfile
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.services import complete_taste_profile, get_recommendations
from gifting_jobs.services.profiles import MESSAGE_DELAYED, MESSAGE_PREPARING
from gifting_jobs.work.profiles import taste_profile_text, text_hash
from tests.conftest import wait_until
from tests.data.relevance import PROFILES_BY_KEY, create_products

#: An enqueue against a dead broker must answer at least this fast (connect refused, one retry).
PROMPT_SECONDS = 5

ANSWERS = PROFILES_BY_KEY["coffee_hiker"].answers


def queued_messages(broker, queue: str) -> list[dict]:
    """The messages waiting in one physical queue of this run's namespace."""
    key = f"{broker.namespace}:{queue}"
    return [json.loads(raw) for raw in broker.client.hvals(f"{key}.msgs")]


def test_complete_taste_profile__saves_answers_and_facets_and_sends_the_job_on_commit(
    blank_profile, gifter, clean_broker, transactional_db
):
    answers = {**ANSWERS, "favourite_colour": "green"}

    completion = complete_taste_profile(blank_profile.pk, gifter.pk, answers)

    # The profile is saved with its answers (unknown keys kept) and facets
    profile = TasteProfile.objects.get(pk=blank_profile.pk)
    assert completion.profile.pk == profile.pk
    assert profile.answers["favourite_colour"] == "green"
    assert profile.answers["interests"] == ["specialty coffee", "hiking", "camping"]
    assert profile.facets["interest_tags"] == ["coffee", "outdoors"]
    assert profile.facets["budget_max"] == 100
    assert profile.completed_at is not None
    assert completion.message == MESSAGE_PREPARING and not completion.delayed
    # The job left the outbox for the broker, at the most urgent priority
    assert completion.job_id == f"taste-profile-embedding:{profile.pk}"
    assert not HeldJob.objects.exists()
    [message] = queued_messages(clean_broker, "profiles.urgent")
    assert message["options"]["job_id"] == completion.job_id
    assert message["options"]["priority"] == MOST_URGENT
    assert message["args"][0]["taste_profile_id"] == profile.pk
    assert message["args"][0]["triggered_by"] == "profile.completed"


def test_complete_taste_profile__end_to_end_with_a_worker(blank_profile, gifter, worker):
    create_products()

    completion = complete_taste_profile(blank_profile.pk, gifter.pk, ANSWERS)

    # The worker stores the vector, its text hash and the model that made it
    profile = wait_until(
        lambda: TasteProfile.objects.filter(pk=blank_profile.pk, embedding__isnull=False).first(),
        what="the taste profile embedding",
    )
    expected_text = taste_profile_text(parse_answers(ANSWERS))
    assert profile.embedding_text_hash == text_hash(expected_text)
    assert profile.embedding_model == get_embedding_provider().model_name
    assert completion.message == MESSAGE_PREPARING
    # And recommendations are ranked products inside the budget, without the disliked candles
    recommendations = get_recommendations(gifter.pk)
    assert 5 <= len(recommendations) <= 20
    assert all(20 <= r.product.price <= 100 for r in recommendations)
    assert all("candle" not in r.product.title.lower() for r in recommendations)
    top_tags = {t for r in recommendations[:3] for t in r.product.enrichment["tags"]}
    assert top_tags & {"coffee", "outdoors"}
    assert all(-1.0 <= r.score <= 1.0 and r.reasons for r in recommendations)


def test_complete_taste_profile__broker_down_says_may_be_delayed_and_loses_nothing(
    blank_profile, gifter, down_broker, clean_broker, start_worker
):
    # Given a broker that does not answer
    started = time.monotonic()
    completion = complete_taste_profile(blank_profile.pk, gifter.pk, ANSWERS)

    # The call answers promptly: the profile is saved, the user told it may take a little longer
    assert time.monotonic() - started < PROMPT_SECONDS
    assert completion.delayed
    assert completion.message == MESSAGE_DELAYED
    assert TasteProfile.objects.get(pk=blank_profile.pk).completed_at is not None
    # And the job waits in Postgres, due now
    held = HeldJob.objects.get(job_id=completion.job_id)
    assert held.reason == HeldJobReason.BROKER_DOWN
    assert held.job_type == "taste_profile_embedding"
    assert held.due_at <= timezone.now()

    # When the broker is back, a worker's relay sends it and the profile gets its vector
    dramatiq.set_broker(clean_broker)
    start_worker()
    wait_until(
        lambda: TasteProfile.objects.filter(pk=blank_profile.pk, embedding__isnull=False).exists(),
        what="the held embedding job to run",
    )
    assert not HeldJob.objects.filter(job_id=completion.job_id).exists()


def test_complete_taste_profile__under_a_callers_transaction_sends_after_its_commit(
    blank_profile, gifter, clean_broker, transactional_db
):
    with transaction.atomic():
        completion = complete_taste_profile(blank_profile.pk, gifter.pk, ANSWERS)
        assert HeldJob.objects.get(job_id=completion.job_id).reason == HeldJobReason.OUTBOX
        assert queued_messages(clean_broker, "profiles.urgent") == []

    assert completion.message == MESSAGE_PREPARING
    assert not HeldJob.objects.exists()
    assert len(queued_messages(clean_broker, "profiles.urgent")) == 1


def test_complete_taste_profile__rollback_sends_and_saves_nothing(
    blank_profile, gifter, clean_broker, transactional_db
):
    with pytest.raises(RuntimeError), transaction.atomic():
        complete_taste_profile(blank_profile.pk, gifter.pk, ANSWERS)
        raise RuntimeError("the caller's request failed")

    assert TasteProfile.objects.get(pk=blank_profile.pk).completed_at is None
    assert not HeldJob.objects.exists()
    assert queued_messages(clean_broker, "profiles.urgent") == []


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"interests": "coffee"}, "interests"),
        ({"interests": ["coffee"], "budget_min": "ten"}, "budget_min"),
        ({"interests": ["coffee"], "budget_min": 50, "budget_max": 10}, "budget_max"),
        ({"interests": ["coffee"], "recipient": ["wife"]}, "recipient"),
    ],
)
def test_complete_taste_profile__wrong_answers_save_and_send_nothing(blank_profile, gifter, db, answers, field):
    with pytest.raises(ValidationError) as caught:
        complete_taste_profile(blank_profile.pk, gifter.pk, answers)

    assert field in {".".join(map(str, e["loc"])) for e in caught.value.errors}
    assert field in str(caught.value)
    profile = TasteProfile.objects.get(pk=blank_profile.pk)
    assert profile.answers == {} and profile.completed_at is None
    assert not HeldJob.objects.exists()


def test_complete_taste_profile__profile_of_another_user_is_not_found(blank_profile, other_user, db):
    with pytest.raises(
        ProfileNotFound, match=f"taste profile {blank_profile.pk} was not found for user {other_user.pk}"
    ):
        complete_taste_profile(blank_profile.pk, other_user.pk, ANSWERS)

    assert TasteProfile.objects.get(pk=blank_profile.pk).answers == {}
    assert not HeldJob.objects.exists()


def test_complete_taste_profile__missing_profile_is_not_found(gifter, db):
    with pytest.raises(ProfileNotFound):
        complete_taste_profile(987654, gifter.pk, ANSWERS)


@pytest.mark.parametrize(("profile_id", "user_id"), [(0, 1), (1, -1), ("1", 1), (True, 1)])
def test_complete_taste_profile__bad_ids(profile_id, user_id, db):
    with pytest.raises(ValidationError):
        complete_taste_profile(profile_id, user_id, ANSWERS)
