"""`get_recommendations`: ranking, the hard filters, diversity and the error paths."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from gifting_jobs.exceptions import ProfileBeingProcessed, ProfileNotFound, ValidationError
from gifting_jobs.models import HeldJob, Product, ProductStatus, Recipient, TasteProfile
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.services import get_recommendations
from gifting_jobs.services.recommendations import (
    DEFAULT_TUNING,
    MESSAGE_NO_PROFILE,
    MESSAGE_PROCESSING,
    recommend_for_profile,
)
from tests.conftest import wait_until
from tests.data.relevance import PRODUCTS_BY_KEY, PROFILES_BY_KEY, ProductSpec, create_products, create_profile


def answers(key: str, **changes: object) -> dict:
    return {**PROFILES_BY_KEY[key].answers, **changes}


def variant(key: str, suffix: str, **changes: object) -> ProductSpec:
    """A copy of a labelled product under another key (same text unless changed)."""
    return replace(PRODUCTS_BY_KEY[key], key=f"{key}-{suffix}", **changes)


def test_get_recommendations__ranked_products_with_scores_and_reasons(gifter, catalog):
    create_profile(gifter, answers("coffee_hiker"))

    recommendations = get_recommendations(gifter.pk, limit=10)

    assert len(recommendations) == 10
    assert len({r.product.pk for r in recommendations}) == 10
    assert recommendations[0].score == max(r.score for r in recommendations)
    assert all(0 < r.score <= 1 for r in recommendations)
    top = recommendations[0]
    assert set(top.product.enrichment["tags"]) & {"coffee", "outdoors"}
    # The first reason names the interest phrase the product matches, in the gifter's words
    assert top.reasons[0] in {f"Matches their interest in {p}" for p in ("specialty coffee", "hiking", "camping")}
    assert any(reason.startswith("Within the budget (20 to 100)") for r in recommendations for reason in r.reasons)


def test_get_recommendations__only_inside_the_budget(gifter, catalog):
    create_products((variant("p01", "unpriced", price=None),))
    create_profile(gifter, answers("coffee_hiker", budget_min=30, budget_max=60))

    recommendations = get_recommendations(gifter.pk, limit=40)

    prices = [r.product.price for r in recommendations]
    assert prices and all(price is not None and Decimal(30) <= price <= Decimal(60) for price in prices)
    in_budget = Product.objects.filter(price__gte=30, price__lte=60).exclude(title__icontains="candle").count()
    assert len(recommendations) == in_budget


def test_get_recommendations__no_budget_keeps_unpriced_products(gifter, catalog):
    unpriced = catalog["p33"]
    Product.objects.filter(pk=unpriced.pk).update(price=None)
    create_profile(gifter, {k: v for k, v in answers("gardener").items() if not k.startswith("budget")})

    recommendations = get_recommendations(gifter.pk, limit=10)

    assert unpriced.pk in {r.product.pk for r in recommendations}


def test_get_recommendations__a_disliked_tag_lowers_a_product_its_text_alone_excludes(gifter, catalog):
    create_profile(gifter, answers("music_gamer", budget_min=None, budget_max=None))

    recommendations = get_recommendations(gifter.pk, limit=100)

    # p01-p03 say "coffee": excluded. p04 (espresso cups) is only tagged coffee: kept, ranked low
    ids = [r.product.pk for r in recommendations]
    assert len(ids) == Product.objects.count() - 3
    assert not {catalog[k].pk for k in ("p01", "p02", "p03")} & set(ids)
    assert ids.index(catalog["p04"].pk) >= len(ids) // 2


def test_get_recommendations__a_dislike_never_removes_what_the_interests_name(gifter, catalog):
    # Given a dislike that shares a word ("games") and a tag (gaming) with the interests
    create_products((variant("p23", "party", title="Noisy Party Games Night Box", description="Loud party games."),))
    create_profile(
        gifter,
        {"interests": ["strategy board games", "puzzles"], "dislikes": ["noisy party games"], "budget_max": 150},
    )

    recommendations = get_recommendations(gifter.pk, limit=5)

    ids = [r.product.pk for r in recommendations]
    assert ids[0] == catalog["p23"].pk
    assert recommendations[0].reasons[0] == "Matches their interest in strategy board games"
    assert not set(ids) & set(Product.objects.filter(title__startswith="Noisy").values_list("pk", flat=True))


def test_get_recommendations__dislikes_exclude_by_text_even_before_enrichment(gifter, catalog):
    # Given candle products the tags do not reveal: one not enriched yet, one tagged otherwise
    created = create_products(
        (
            variant("p31", "raw", title="Beeswax Candles Gift Box", tags=()),
            variant("p29", "text", description="A diffuser that smells like a scented candle."),
            variant("p30", "plain", title="Merino Throw"),
        )
    )
    Product.objects.filter(pk=created["p31-raw"].pk).update(enrichment=None)
    Product.objects.filter(pk=created["p30-plain"].pk).update(enrichment=None)
    create_profile(gifter, answers("bookworm", dislikes=["candles"], budget_min=None, budget_max=None))

    recommendations = get_recommendations(gifter.pk, limit=100)

    ids = {r.product.pk for r in recommendations}
    assert not {created["p31-raw"].pk, created["p29-text"].pk, catalog["p31"].pk} & ids
    # A product not enriched yet and not matching stays in (NULL enrichment is no dislike)
    assert created["p30-plain"].pk in ids


def test_get_recommendations__only_published_visible_and_same_model(gifter, catalog):
    hidden = create_products(
        (
            variant("p01", "draft"),
            variant("p01", "archived"),
            variant("p01", "invisible"),
            variant("p01", "other-model"),
        )
    )
    Product.objects.filter(pk=hidden["p01-draft"].pk).update(status=ProductStatus.DRAFT)
    Product.objects.filter(pk=hidden["p01-archived"].pk).update(status=ProductStatus.ARCHIVED)
    Product.objects.filter(pk=hidden["p01-invisible"].pk).update(visible_to_gifter=False)
    Product.objects.filter(pk=hidden["p01-other-model"].pk).update(embedding_model="text-embedding-3-small")
    create_profile(gifter, answers("coffee_hiker"))

    recommendations = get_recommendations(gifter.pk, limit=100)

    assert catalog["p01"].pk in {r.product.pk for r in recommendations}
    assert not {p.pk for p in hidden.values()} & {r.product.pk for r in recommendations}


def test_get_recommendations__a_page_is_not_ten_near_identical_items(gifter, catalog):
    # Given ten near-identical hiking backpacks, the catalog's closest products to the profile
    twins = create_products(
        tuple(
            variant("p07", f"twin{i}", title=f"Lightweight Hiking Backpack {name}")
            for i, name in enumerate(["Mini", "Pro", "Max", "Lite", "Plus", "One", "Two", "S", "X", "Go"])
        )
    )
    profile = create_profile(gifter, answers("coffee_hiker"))
    backpacks = {p.pk for p in twins.values()} | {catalog["p07"].pk}

    diverse = [r.product.pk for r in get_recommendations(gifter.pk, limit=10)]
    by_relevance = [
        r.product.pk
        for r in recommend_for_profile(
            profile, limit=10, tuning=replace(DEFAULT_TUNING, mmr_lambda=1.0, duplicate_similarity=2.0)
        )
    ]

    # Pure relevance fills the page with backpacks; the default shows one and the rest of their taste
    assert sum(pk in backpacks for pk in by_relevance) == 10
    assert sum(pk in backpacks for pk in diverse) == 1
    assert {catalog["p02"].pk, catalog["p09"].pk} <= set(diverse)


def test_get_recommendations__per_recipient_profile(gifter, catalog):
    recipient = Recipient.objects.create(user=gifter, name="Gran", relationship="grandmother")
    create_profile(gifter, answers("coffee_hiker"))
    create_profile(gifter, answers("gardener"), recipient=recipient)

    own = get_recommendations(gifter.pk)
    for_gran = get_recommendations(gifter.pk, recipient_id=recipient.pk, limit=3)

    assert {r.product.pk for r in for_gran} <= {catalog[k].pk for k in ("p33", "p34", "p35", "p36")}
    assert [r.product.pk for r in own[:3]] != [r.product.pk for r in for_gran]


def test_get_recommendations__no_profile_says_complete_onboarding(gifter, db):
    with pytest.raises(ProfileNotFound) as caught:
        get_recommendations(gifter.pk)

    assert str(caught.value) == MESSAGE_NO_PROFILE
    assert "onboarding" in MESSAGE_NO_PROFILE


def test_get_recommendations__unfinished_profile_or_someone_elses_recipient_is_no_profile(gifter, other_user, db):
    TasteProfile.objects.create(user=gifter)
    theirs = Recipient.objects.create(user=other_user, name="Sam")
    create_profile(other_user, answers("coffee_hiker"), recipient=theirs, embed=False)

    with pytest.raises(ProfileNotFound):
        get_recommendations(gifter.pk)
    with pytest.raises(ProfileNotFound):
        get_recommendations(gifter.pk, recipient_id=theirs.pk)


def test_get_recommendations__bad_arguments(gifter, db):
    with pytest.raises(ValidationError, match="limit"):
        get_recommendations(gifter.pk, limit=0)
    with pytest.raises(ValidationError, match="recipient_id"):
        get_recommendations(gifter.pk, recipient_id="abc")


def test_get_recommendations__without_vector_enqueues_the_embedding_then_serves(gifter, catalog, worker):
    profile = create_profile(gifter, answers("home_chef"), embed=False)

    with pytest.raises(ProfileBeingProcessed) as caught:
        get_recommendations(gifter.pk)

    assert str(caught.value) == MESSAGE_PROCESSING
    wait_until(lambda: TasteProfile.objects.filter(pk=profile.pk, embedding__isnull=False).exists(), what="embedding")
    recommendations = get_recommendations(gifter.pk, limit=5)
    assert {"cooking", "baking", "gardening"} & set(recommendations[0].product.enrichment["tags"])


def test_get_recommendations__vector_of_another_model_is_never_compared(gifter, catalog, db):
    profile = create_profile(gifter, answers("home_chef"))
    TasteProfile.objects.filter(pk=profile.pk).update(embedding_model="text-embedding-3-small")

    with pytest.raises(ProfileBeingProcessed):
        get_recommendations(gifter.pk)

    # Inside the test's transaction the job waits in the outbox: it was enqueued
    held = HeldJob.objects.get(job_id=f"taste-profile-embedding:{profile.pk}")
    assert held.job_type == "taste_profile_embedding"
    assert get_embedding_provider().model_name != "text-embedding-3-small"


def test_recommend_for_profile__leaves_no_planner_settings_in_the_callers_transaction(gifter, catalog):
    from django.db import connection

    profile = create_profile(gifter, answers("home_chef"))

    # The test runs inside a transaction, as a view under ATOMIC_REQUESTS would
    recommend_for_profile(profile, limit=5)
    recommend_for_profile(profile, limit=5, exact=True)
    recommend_for_profile(profile, limit=5, tuning=replace(DEFAULT_TUNING, force_index=True))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('enable_indexscan'), current_setting('enable_seqscan'), "
            "current_setting('enable_sort'), current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')"
        )
        assert cursor.fetchone() == ("on", "on", "on", "40", "off")


def test_get_recommendations__the_same_on_a_connection_with_pgvectors_own_loaders(gifter, catalog):
    # Given a host project that registered pgvector's psycopg types on the connection (Vectors, not bytes)
    from django.db import connection
    from pgvector.psycopg import register_vector

    create_profile(gifter, answers("coffee_hiker"))
    plain = [(r.product.pk, r.score) for r in get_recommendations(gifter.pk, limit=10)]
    register_vector(connection.connection)

    # Then the searches read its vectors all the same
    assert [(r.product.pk, r.score) for r in get_recommendations(gifter.pk, limit=10)] == plain
