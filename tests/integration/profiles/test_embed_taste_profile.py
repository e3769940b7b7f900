"""The taste-profile embedding job and the batch re-embedding of stale profiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from gifting_jobs.answers import parse_answers
from gifting_jobs.exceptions import EntityNotFound, PermanentJobError, ValidationError
from gifting_jobs.models import TasteProfile
from gifting_jobs.payloads import TasteProfileEmbeddingPayload
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.providers.embeddings.minilm import MiniLMEmbeddingProvider
from gifting_jobs.work.profiles import embed_stale_taste_profiles, embed_taste_profile, taste_profile_text, text_hash
from tests.data.relevance import PROFILES_BY_KEY, create_profile

ANSWERS = PROFILES_BY_KEY["home_chef"].answers


def payload(profile: TasteProfile, user_id: int | None = None) -> TasteProfileEmbeddingPayload:
    return TasteProfileEmbeddingPayload(
        taste_profile_id=profile.pk, user_id=user_id or profile.user_id, triggered_by="manual"
    )


def test_embed_taste_profile__stores_vector_hash_and_model(gifter, db):
    profile = create_profile(gifter, ANSWERS, embed=False)

    embed_taste_profile(payload(profile))

    profile.refresh_from_db()
    provider = get_embedding_provider()
    text = taste_profile_text(parse_answers(ANSWERS))
    assert profile.embedding_model == provider.model_name
    assert profile.embedding_text_hash == text_hash(text)
    assert np.allclose(profile.embedding, provider.embed_one(text), atol=1e-6)
    assert profile.embedded_at is not None


def test_embed_taste_profile__unchanged_text_and_model_is_skipped(gifter, db):
    profile = create_profile(gifter, ANSWERS)
    embedded_at = profile.embedded_at

    embed_taste_profile(payload(profile))

    profile.refresh_from_db()
    assert profile.embedded_at == embedded_at


def test_embed_taste_profile__dislikes_are_not_embedded(gifter, other_user, db):
    liked = create_profile(gifter, ANSWERS)
    also_dislikes = create_profile(other_user, {**ANSWERS, "dislikes": ["coffee", "anything pink"]})

    assert also_dislikes.embedding_text_hash == liked.embedding_text_hash
    assert np.allclose(also_dislikes.embedding, liked.embedding)


def test_embed_taste_profile__changed_answers_or_model_are_re_embedded(gifter, db):
    profile = create_profile(gifter, ANSWERS)
    old_hash = profile.embedding_text_hash

    TasteProfile.objects.filter(pk=profile.pk).update(answers={**ANSWERS, "interests": ["pottery"]})
    embed_taste_profile(payload(profile))
    profile.refresh_from_db()
    assert profile.embedding_text_hash != old_hash

    TasteProfile.objects.filter(pk=profile.pk).update(embedding_model="text-embedding-3-small")
    embed_taste_profile(payload(profile))
    profile.refresh_from_db()
    assert profile.embedding_model == get_embedding_provider().model_name


def test_embed_taste_profile__missing_profile_is_permanent(gifter, db):
    with pytest.raises(EntityNotFound):
        embed_taste_profile(
            TasteProfileEmbeddingPayload(taste_profile_id=424242, user_id=gifter.pk, triggered_by="manual")
        )


def test_embed_taste_profile__profile_of_another_user_is_permanent(gifter, other_user, db):
    profile = create_profile(gifter, ANSWERS, embed=False)

    with pytest.raises(PermanentJobError, match="belongs to user"):
        embed_taste_profile(payload(profile, user_id=other_user.pk))
    profile.refresh_from_db()
    assert profile.embedding is None


def test_embed_taste_profile__never_completed_profile_is_permanent(blank_profile, db):
    with pytest.raises(PermanentJobError, match="invalid answers"):
        embed_taste_profile(payload(blank_profile))


class AnswersChangeWhileEmbedding(MiniLMEmbeddingProvider):
    """The default offline provider, except that the gifter saves new answers during the first call."""

    calls: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        type(self).calls.append(texts[0])
        if len(type(self).calls) == 1:
            TasteProfile.objects.update(answers={**ANSWERS, "interests": ["sourdough"]})
        return super().embed(texts)


def test_embed_taste_profile__answers_saved_meanwhile_are_embedded_in_the_same_job(gifter, settings, db):
    profile = create_profile(gifter, ANSWERS, embed=False)
    settings.GIFTING_JOBS = {
        **settings.GIFTING_JOBS,
        "EMBEDDING_PROVIDER": f"{__name__}.AnswersChangeWhileEmbedding",
    }
    AnswersChangeWhileEmbedding.calls = []

    embed_taste_profile(payload(profile))

    # The vector of the old answers was not stored against the new ones; the new ones were embedded
    profile.refresh_from_db()
    new_text = taste_profile_text(parse_answers(profile.answers))
    assert len(AnswersChangeWhileEmbedding.calls) == 2
    assert AnswersChangeWhileEmbedding.calls[1] == new_text
    assert profile.embedding_text_hash == text_hash(new_text)


def test_embed_stale_taste_profiles__embeds_missing_stale_and_other_model_vectors(django_user_model, db):
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(5)]
    missing = create_profile(users[0], ANSWERS, embed=False)
    current = create_profile(users[1], ANSWERS)
    other_model = create_profile(users[2], ANSWERS)
    TasteProfile.objects.filter(pk=other_model.pk).update(embedding_model="text-embedding-3-small")
    edited = create_profile(users[3], ANSWERS)
    TasteProfile.objects.filter(pk=edited.pk).update(answers={**ANSWERS, "style": "rustic"})
    TasteProfile.objects.create(user=users[4])  # never completed: nothing to embed
    batches: list[int] = []

    assert embed_stale_taste_profiles(batch_size=2, dry_run=True) == 3
    assert TasteProfile.objects.get(pk=missing.pk).embedding is None

    assert embed_stale_taste_profiles(batch_size=2, on_batch=batches.append) == 3
    assert batches == [2, 1]
    model = get_embedding_provider().model_name
    for profile in TasteProfile.objects.filter(pk__in=[missing.pk, other_model.pk, edited.pk]):
        assert profile.embedding is not None and profile.embedding_model == model
        assert profile.embedding_text_hash == text_hash(taste_profile_text(parse_answers(profile.answers)))
    assert TasteProfile.objects.get(pk=current.pk).embedded_at == current.embedded_at

    assert embed_stale_taste_profiles(batch_size=10) == 0
    assert embed_stale_taste_profiles(batch_size=10, force=True) == 4


def test_embed_stale_taste_profiles__bad_batch_size(db):
    with pytest.raises(ValidationError, match="batch_size"):
        embed_stale_taste_profiles(batch_size=0)
