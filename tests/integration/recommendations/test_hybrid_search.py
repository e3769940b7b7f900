"""Hybrid search: the full-text half, phrase stems, the GIN plan, and ranking without phrase vectors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from django.db import connection
from django.test import override_settings

from gifting_jobs.answers import facets_of
from gifting_jobs.exceptions import TransientJobError
from gifting_jobs.models import Product, ProductStatus
from gifting_jobs.models.catalog import ENRICHMENT_TAGS, enrichment_list
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.providers.embeddings.minilm import MiniLMEmbeddingProvider
from gifting_jobs.services.recommendations import (
    DEFAULT_TUNING,
    CandidateSource,
    PhraseTerms,
    ProductQuery,
    hybrid_candidates,
    phrase_vectors,
    recommend_for_profile,
    score_candidates,
    search_candidates,
)
from gifting_jobs.text_search import phrase_lexemes, spelling_lexemes
from tests.data.relevance import PRODUCTS_BY_KEY, create_products, create_profile


class PhraseFailingProvider(MiniLMEmbeddingProvider):
    """The offline model for whole profiles, but failing like a remote API on short phrases."""

    def embed(self, texts):
        if any(len(text.split()) <= 3 for text in texts):
            raise TransientJobError("embeddings API unavailable")
        return super().embed(texts)


def test_phrase_lexemes__postgres_stems_without_generic_words(db):
    assert phrase_lexemes(["pour-over coffee", "gift ideas", "Mechanical Puzzles"]) == [
        ("coffe", "pour", "pour-ov"),
        ("idea",),
        ("mechan", "puzzl"),
    ]


def test_phrase_terms__a_dislike_keeps_only_the_words_the_interests_do_not_use(db):
    terms = PhraseTerms.for_phrases(["strategy board games", "puzzles"], ["noisy party games"])

    assert terms.interest_lexemes == (("board", "game", "strategi"), ("puzzl",))
    assert terms.dislike_lexemes == (("noisi", "parti"),)
    assert terms.dislike_sizes == (3,)


def test_spelling_lexemes__other_spellings_by_the_stem_they_stand_in_for(db):
    assert spelling_lexemes(["single malt whisky", "Colour pencils", "hiking"]) == {
        "whiski": ("whiskey",),
        "colour": ("color",),
    }
    assert spelling_lexemes(["hiking"]) == {}


def test_hybrid_search__an_interest_finds_its_words_in_another_spelling(gifter, catalog):
    # Given a product that spells the interest's word the other way
    odd = create_products((replace(PRODUCTS_BY_KEY["p23"], key="odd", title="Crystal Whiskey Decanter", tags=()),))[
        "odd"
    ]
    profile = create_profile(gifter, {"interests": ["single malt whisky"]})
    query = ProductQuery.for_profile(profile, facets_of(profile))

    candidates, _ = hybrid_candidates(query, count=10)

    found = {c.product_id: c for c in candidates}
    assert odd.pk in found
    assert found[odd.pk].coverage[0] == pytest.approx(1 / 3)  # "whisky" of "single malt whisky"


def test_score_candidates__a_pet_product_is_for_another_audience_unless_the_profile_has_a_pet(
    gifter, catalog, django_user_model
):
    # Given a dog harness that matches "hiking" by its words, and two hikers, one with a dog
    harness = create_products(
        (replace(PRODUCTS_BY_KEY["p23"], key="dog", title="Dog Hiking Harness", tags=("dog", "hiking")),)
    )["dog"]
    answers = {"interests": ["hiking"], "budget_max": 100}
    no_pet = create_profile(gifter, answers)
    with_dog = create_profile(
        django_user_model.objects.create_user("dog-owner"), {**answers, "about": "Hikes with her dog"}
    )

    def other_audience(profile):
        pool = score_candidates(profile, count=20)
        return dict(zip([c.product_id for c in pool.candidates], pool.signals.has_other_audience, strict=True))

    # Then only the hiker without a pet gets it flagged (and so ranked lower), and no product for people
    flagged = other_audience(no_pet)
    pet_products = {harness.pk, catalog["p35"].pk, catalog["p36"].pk}  # and a dog bed and a cat toy
    assert flagged[harness.pk]
    assert not other_audience(with_dog)[harness.pk]
    assert not any(flag for pk, flag in flagged.items() if pk not in pet_products)


def test_hybrid_search__full_text_finds_what_the_vector_search_misses(gifter, catalog):
    # Given a product named exactly like an interest, whose vector points far from the profile
    odd = create_products((replace(PRODUCTS_BY_KEY["p23"], key="odd", title="Mechanical Puzzle Cube", tags=()),))["odd"]
    far = -np.asarray(get_embedding_provider().embed_one("mechanical puzzles strategy board games"))
    Product.objects.filter(pk=odd.pk).update(embedding=(far / np.linalg.norm(far)).tolist())
    profile = create_profile(gifter, {"interests": ["mechanical puzzles", "strategy board games"]})
    query = ProductQuery.for_profile(profile, facets_of(profile))

    candidates, _ = hybrid_candidates(query, count=10)
    vector_only, _ = hybrid_candidates(query, count=10, tuning=replace(DEFAULT_TUNING, lexical=False))

    found = {c.product_id: c for c in candidates}
    assert odd.pk in found and found[odd.pk].source is CandidateSource.LEXICAL
    assert found[odd.pk].coverage[0] == 1.0  # both words of "mechanical puzzles" in the title
    assert odd.pk not in {c.product_id for c in vector_only}


def test_hybrid_search__exact_and_index_paths_agree_on_a_small_catalog(gifter, catalog):
    profile = create_profile(gifter, {"interests": ["pour-over coffee", "hiking"], "budget_max": 100})

    indexed = [r.product.pk for r in recommend_for_profile(profile, limit=10)]
    exact = [r.product.pk for r in recommend_for_profile(profile, limit=10, exact=True)]

    assert indexed == exact


@pytest.mark.parametrize("phrases", [["coffee"], []])
def test_phrase_vectors__none_when_the_provider_fails_and_empty_without_phrases(db, phrases):
    provider_path = f"{PhraseFailingProvider.__module__}.PhraseFailingProvider"
    with override_settings(GIFTING_JOBS={"EMBEDDING_PROVIDER": provider_path}):
        model = get_embedding_provider().model_name
        vectors = phrase_vectors([f"{p} {n}" for n, p in enumerate(phrases)], model_name=model)

    assert (vectors is None) if phrases else (vectors.size == 0)


def test_get_recommendations__served_without_phrase_vectors_when_the_provider_fails(gifter, catalog):
    profile = create_profile(gifter, {"interests": ["specialty coffee roasts", "hiking trails"], "budget_max": 100})
    provider_path = f"{PhraseFailingProvider.__module__}.PhraseFailingProvider"

    with override_settings(GIFTING_JOBS={"EMBEDDING_PROVIDER": provider_path}):
        recommendations = recommend_for_profile(profile, limit=5)

    assert len(recommendations) == 5
    assert recommendations[0].reasons[0].startswith("Matches their interest in ")


@pytest.mark.parametrize(
    "answers",
    [
        {"about": "Loves slow mornings with a good book"},
        {"style": "cosy", "dislikes": ["candles"]},
        {"interests": ["gifts", "presents"], "about": "Anything nice"},
        {"interests": ["children's books", "it's a 'quote' \\ test"]},
    ],
)
def test_get_recommendations__profiles_without_searchable_interest_words(gifter, catalog, answers):
    profile = create_profile(gifter, answers)

    recommendations = recommend_for_profile(profile, limit=5)

    assert len(recommendations) == 5
    assert all(r.reasons for r in recommendations)


def test_product_query__the_searches_sql_filters_keep_the_same_rows_as_the_orm_reference(gifter, catalog):
    # Given products the filters drop for each reason: status, visibility, budget, a dislike anywhere, another model
    keep = catalog["p01"]
    Product.objects.filter(pk=catalog["p02"].pk).update(status=ProductStatus.DRAFT)
    Product.objects.filter(pk=catalog["p03"].pk).update(visible_to_gifter=False)
    Product.objects.filter(pk=catalog["p04"].pk).update(embedding_model="another-model")
    Product.objects.filter(pk=catalog["p05"].pk).update(description="Comes with a scented candle.")
    Product.objects.filter(pk=catalog["p06"].pk).update(tags=["Candles", "home"])
    Product.objects.filter(pk=catalog["p07"].pk).update(title="Candlestick holder")  # not the whole word
    profile = create_profile(
        gifter, {"interests": ["coffee"], "dislikes": ["candle"], "budget_min": 10, "budget_max": 100}
    )
    query = ProductQuery.for_profile(profile, facets_of(profile))
    where, params = query.where()

    # When both ask Postgres for the allowed products
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "{Product._meta.db_table}" WHERE {where}', params)
        by_sql = {row[0] for row in cursor.fetchall()}
    by_orm = set(query.filtered().values_list("pk", flat=True))
    sql, params = query.nearest_in_budget(len(catalog))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        by_budget_scan = {row[0] for row in cursor.fetchall()}

    # Then they agree (the exact budget scan too, which checks dislikes on the rows it joins), and every reason to drop a product was exercised
    assert by_sql == by_orm == by_budget_scan
    assert keep.pk in by_sql and catalog["p07"].pk in by_sql
    assert not {catalog[k].pk for k in ("p02", "p03", "p04", "p05", "p06")} & by_sql
    assert {p.pk for p in catalog.values() if p.price is not None and not 10 <= p.price <= 100}.isdisjoint(by_sql)


@pytest.mark.parametrize(
    "enrichment",
    [
        {"tags": ["coffee", "outdoors"]},
        {"tags": ["outdoors"]},
        {"tags": "coffee"},
        {"tags": {"coffee": True}},
        {"tags": [["coffee"], 3]},
        {"recipients": ["parent"]},
        ["coffee"],
        None,
    ],
)
def test_product_query__tag_matches_read_the_enrichment_as_enrichment_list_does(gifter, catalog, enrichment):
    # Given a product with well-formed or odd enrichment, and a profile naming the tag "coffee" and disliking "outdoors"
    product = catalog["p01"]
    Product.objects.filter(pk=product.pk).update(enrichment=enrichment)
    profile = create_profile(gifter, {"interests": ["coffee"]})
    query = replace(
        ProductQuery.for_profile(profile, facets_of(profile)), interest_tags=("coffee",), dislike_tags=("outdoors",)
    )

    # When Postgres matches the tags of every candidate
    candidates, _ = search_candidates(query, count=len(catalog), exact=True)
    found = next(c for c in candidates if c.product_id == product.pk)

    # Then it agrees with Python's reading of the same JSON
    tags = enrichment_list(enrichment, ENRICHMENT_TAGS)
    assert (found.interest_tag, found.dislike_tag) == ("coffee" in tags, "outdoors" in tags)
