"""`manage.py backfill_embeddings`: stale detection, batches, --all, --dry-run, bad options."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from gifting_jobs.models import Product
from gifting_jobs.providers.embeddings.base import BULK_RETRY
from gifting_jobs.providers.embeddings.test import hashed_unit_vector
from gifting_jobs.work.products import embed_products
from tests.fake_openai import OK, RATE_LIMITED, SERVER_ERROR

pytestmark = pytest.mark.django_db


def backfill(*args: str) -> str:
    out = StringIO()
    call_command("backfill_embeddings", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def catalog(recording_providers, make_product):
    """Four products: current, without vector, with a changed text, with another model's vector."""
    products = {name: make_product(title=f"{name} product") for name in ("current", "missing", "edited", "other_model")}
    embed_products(Product.objects.exclude(pk=products["missing"].pk), provider=recording_providers.embeddings)
    Product.objects.filter(pk=products["edited"].pk).update(description="A new description from the CMS.")
    Product.objects.filter(pk=products["other_model"].pk).update(embedding_model="wordllama:l2_supercat:256")
    recording_providers.embeddings.reset()
    return products


def test_backfill_embeddings__embeds_only_stale_products(catalog, recording_providers):
    current_before = Product.objects.get(pk=catalog["current"].pk)

    output = backfill()

    assert "products: 3 stale" in output
    assert "products: 3 embedded" in output
    embedded = sorted(recording_providers.embeddings.texts)
    assert embedded == sorted(
        Product.objects.get(pk=catalog[n].pk).embedding_text() for n in ("missing", "edited", "other_model")
    )
    for product in Product.objects.all():
        assert product.embedding_text_hash == product.text_hash()
        assert product.embedding_model == "test:sha256:256"
        assert np.allclose(product.embedding, hashed_unit_vector(product.embedding_text(), 256), atol=1e-6)
    assert Product.objects.get(pk=catalog["current"].pk).embedded_at == current_before.embedded_at
    assert "products: 0 stale" in backfill()


def test_backfill_embeddings__dry_run_counts_and_changes_nothing(catalog, recording_providers):
    before = {p.pk: (p.embedding_text_hash, p.embedding_model, p.embedded_at) for p in Product.objects.all()}

    output = backfill("--dry-run")

    assert "embedding model: test:sha256:256" in output
    assert "products: 3 stale" in output
    assert recording_providers.embeddings.calls == []
    assert {p.pk: (p.embedding_text_hash, p.embedding_model, p.embedded_at) for p in Product.objects.all()} == before


def test_backfill_embeddings__all_re_embeds_everything_in_batches(catalog, recording_providers):
    output = backfill("--all", "--batch-size", "3")

    assert "products: 4 to re-embed" in output and "products: 4 embedded" in output
    assert [len(call) for call in recording_providers.embeddings.calls] == [3, 1]


@pytest.mark.parametrize("value", ["0", "-5", "10001", "many"])
def test_backfill_embeddings__bad_batch_size_is_a_command_error(catalog, recording_providers, value):
    with pytest.raises(CommandError, match="batch-size"):
        backfill("--batch-size", value)

    assert recording_providers.embeddings.calls == []


def test_backfill_embeddings__bad_batch_size_through_call_command_kwargs(catalog, recording_providers):
    with pytest.raises(CommandError, match="--batch-size must be between 1 and 10000, got 0"):
        call_command("backfill_embeddings", batch_size=0, stdout=StringIO())


def test_backfill_embeddings__model_switch_re_embeds_with_the_new_model(make_product, openai_providers, settings):
    # Given a catalog embedded by the local model.
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "EMBEDDING_PROVIDER": "local", "EMBEDDING_BATCH_SIZE": 2}
    for n in range(5):
        make_product(title=f"Gift {n}")
    backfill()
    assert set(Product.objects.values_list("embedding_model", flat=True)) == {"minilm-l6-int8-onnx:rp256"}

    # When the provider becomes OpenAI and the command runs once.
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "EMBEDDING_PROVIDER": "openai"}
    output = backfill()

    assert "products: 5 stale" in output
    assert set(Product.objects.values_list("embedding_model", flat=True)) == {"openai:text-embedding-3-small:256"}
    assert [len(r.body["input"]) for r in openai_providers.requests_to("embeddings")] == [2, 2, 1]


def test_backfill_embeddings__rate_limit_is_waited_out(make_product, openai_providers):
    make_product(title="Gift")
    openai_providers.script("embeddings", RATE_LIMITED)

    output = backfill()

    assert "products: 1 embedded" in output
    requests = openai_providers.requests_to("embeddings")
    assert len(requests) == 2 and requests[1].received_at - requests[0].received_at >= 1.0


def test_backfill_embeddings__persistent_failure_stops_with_how_to_resume(make_product, openai_providers):
    make_product(title="Gift")
    openai_providers.script("embeddings", then=SERVER_ERROR)

    with pytest.raises(CommandError, match=r"stopped after 0 of 1 rows .*HTTP 500.*run the command again to resume"):
        backfill()

    assert len(openai_providers.requests_to("embeddings")) == BULK_RETRY.attempts
    assert Product.objects.get().embedding is None


def test_backfill_embeddings__shows_a_progress_bar(catalog):
    err = StringIO()

    call_command("backfill_embeddings", stdout=StringIO(), stderr=err)

    assert "products: 100%" in err.getvalue() and "3/3" in err.getvalue()


def test_backfill_embeddings__stops_between_batches_and_resumes(make_product, openai_providers):
    # Given three products, embedded one per batch, and a provider failing for good on the second batch.
    for n in range(3):
        make_product(title=f"Gift {n}")
    openai_providers.script("embeddings", OK, then=SERVER_ERROR)

    with pytest.raises(CommandError, match="stopped after 1 of 3 rows"):
        backfill("--batch-size", "1")
    assert Product.objects.filter(embedding__isnull=False).count() == 1

    # When the provider recovers, a second run embeds only what is left.
    openai_providers.script("embeddings", then=OK)
    output = backfill("--batch-size", "1")

    assert "products: 2 stale" in output and "products: 2 embedded" in output
    assert Product.objects.filter(embedding__isnull=False).count() == 3


def test_backfill_embeddings__missing_api_key_is_a_command_error(make_product, openai_providers, settings):
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "OPENAI_API_KEY": ""}

    with pytest.raises(CommandError, match="OPENAI_API_KEY"):
        backfill()


def test_backfill_embeddings__covers_taste_profiles_made_by_another_model(recording_providers, django_user_model):
    # Given a completed profile whose vector was made by another model
    from django.utils import timezone

    from gifting_jobs.models import TasteProfile

    user = django_user_model.objects.create_user("backfill-user")
    profile = TasteProfile.objects.create(
        user=user,
        answers={"interests": ["coffee", "hiking"]},
        completed_at=timezone.now(),
        embedding=[0.0] * 255 + [1.0],
        embedding_model="some-old-model:256",
        embedding_text_hash="0" * 64,
    )
    # When the backfill runs
    output = backfill()
    # Then the profile is re-embedded by the current provider
    profile.refresh_from_db()
    assert "taste profiles: 1 stale" in output
    assert profile.embedding_model == recording_providers.embeddings.model_name
    assert profile.embedding_text_hash != "0" * 64
