"""The curated-collections job: contents, rules, replacement and idempotency."""

from __future__ import annotations

from collections import Counter

import pytest

from gifting_jobs.models import CuratedCollection, CuratedCollectionItem, Product, ProductStatus
from gifting_jobs.payloads import CuratedCollectionsPayload
from gifting_jobs.work.collections import build_curated_collections
from tests.integration.collections.conftest import DAY, TAGS, product_rows


def build(surface: str = "home", **params) -> CuratedCollectionsPayload:
    payload = CuratedCollectionsPayload(
        surface=surface,
        target_date=params.pop("target_date", DAY),
        triggered_by="manual",
        **{"collections_count": 4, "products_per_collection": 6, **params},
    )
    build_curated_collections(payload)
    return payload


def snapshot(payload: CuratedCollectionsPayload) -> list[tuple[str, str, list[int]]]:
    """(theme, title, product ids in rank order) of the stored build of a payload."""
    collections = CuratedCollection.objects.filter(
        surface=payload.surface, target_date=payload.target_date, params_hash=payload.params_hash()
    ).order_by("position")
    return [
        (c.theme, c.title, list(c.items.order_by("rank").values_list("product_id", flat=True))) for c in collections
    ]


def test_build_curated_collections__themed_ranked_collections(catalog):
    payload = build("home")

    collections = list(CuratedCollection.objects.order_by("position"))
    assert [c.position for c in collections] == [0, 1, 2, 3]
    assert all(c.params_hash == payload.params_hash() and c.params["collections_count"] == 4 for c in collections)
    tags_by_product = {p.pk: set(p.enrichment["tags"]) for p in catalog}
    for collection in collections:
        items = list(collection.items.order_by("rank"))
        assert [i.rank for i in items] == [1, 2, 3, 4, 5, 6]
        assert len({i.product_id for i in items}) == 6
        assert [i.score for i in items] == sorted((i.score for i in items), reverse=True)
        tag = collection.theme.removeprefix("tag:")
        assert tag in TAGS and all(tag in tags_by_product[i.product_id] for i in items)
        assert collection.title and "tag:" not in collection.title
    assert {c.title for c in collections} <= {
        "For the coffee lovers",
        "Tea time treats",
        "For the outdoor adventurer",
        "For the bookworm",
        "For the music lover",
        "For the pet lovers",
        "Wellness & spa",
        "For the gamer",
    }


def test_build_curated_collections__never_shows_products_that_are_not_ready(catalog):
    # Given attractive (featured) products that must never appear
    hidden = Product.objects.bulk_create(
        [
            *product_rows(prefix="draft", status=ProductStatus.DRAFT, is_featured=True),
            *product_rows(prefix="archived", status=ProductStatus.ARCHIVED, is_featured=True),
            *product_rows(prefix="invisible", visible_to_gifter=False, is_featured=True),
            *product_rows(prefix="raw", enrichment=None, is_featured=True),
            *product_rows(prefix="unembedded", embedding=None, embedding_model="", is_featured=True),
            *product_rows(prefix="other-model", embedding_model="text-embedding-3-small", is_featured=True),
        ]
    )

    for surface in ("home", "discovery", "occasion"):
        build(surface, collections_count=8, products_per_collection=8)

    shown = set(CuratedCollectionItem.objects.values_list("product_id", flat=True))
    assert shown and shown <= {p.pk for p in catalog}
    assert not shown & {p.pk for p in hidden}


def test_build_curated_collections__rebuild_replaces_never_duplicates(catalog):
    payload = build("discovery")
    first = snapshot(payload)
    first_ids = set(CuratedCollection.objects.values_list("pk", flat=True))

    build("discovery")

    assert snapshot(payload) == first, "a rebuild of the same (surface, date, parameters) differs"
    assert CuratedCollection.objects.count() == 4
    assert CuratedCollectionItem.objects.count() == 24
    assert not first_ids & set(CuratedCollection.objects.values_list("pk", flat=True))


def test_build_curated_collections__other_parameters_are_a_separate_build(catalog):
    default = build("home")
    smaller = build("home", collections_count=2, products_per_collection=3)
    build("home")

    assert len(snapshot(default)) == 4 and len(snapshot(smaller)) == 2
    assert CuratedCollection.objects.count() == 6
    assert all(len(ids) == 3 for _, _, ids in snapshot(smaller))


def test_build_curated_collections__other_dates_and_surfaces_are_left_alone(catalog):
    build("home")
    build("home", target_date=DAY.replace(day=15))
    build("occasion")

    assert Counter(CuratedCollection.objects.values_list("surface", "target_date")) == {
        ("home", DAY): 4,
        ("home", DAY.replace(day=15)): 4,
        ("occasion", DAY): 4,
    }


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"is_featured": True}, lambda p: p.is_featured),
        ({"min_price": "30", "max_price": "60"}, lambda p: 30 <= p.price <= 60),
        ({"tags": ["coffee", "Tea"]}, lambda p: {"coffee", "tea"} & set(p.enrichment["tags"])),
        ({"brands": ["brand 1"]}, lambda p: p.brand == "Brand 1"),
    ],
)
def test_build_curated_collections__honours_filters(catalog, filters, check):
    build("home", products_per_collection=2, filters=filters)

    items = list(CuratedCollectionItem.objects.select_related("product"))
    assert items
    assert all(check(item.product) for item in items)


def test_build_curated_collections__home_favours_featured_occasion_starts_with_occasions(catalog):
    home = build("home", products_per_collection=4)
    discovery = build("discovery", products_per_collection=4)
    occasion = build("occasion", products_per_collection=4)
    featured = {p.pk for p in catalog if p.is_featured}

    def featured_share(payload: CuratedCollectionsPayload) -> float:
        ids = [pk for _, _, ids in snapshot(payload) for pk in ids]
        return sum(pk in featured for pk in ids) / len(ids)

    assert featured_share(home) > featured_share(discovery)
    assert snapshot(occasion)[0][0].startswith("occasion:")
    assert snapshot(occasion)[0][1] in {"Birthday gifts", "Christmas gifts"}


def test_build_curated_collections__empty_catalog_stores_an_empty_build(db):
    build("home")

    assert not CuratedCollection.objects.exists()


def test_load_catalog__themes_named_by_a_products_title_or_cms_tags(catalog):
    from gifting_jobs.providers.embeddings import get_embedding_provider
    from gifting_jobs.work.collections import load_catalog

    # Given products the tagger filed elsewhere, whose own words say what they are
    dripper = product_rows(("tea",), prefix="named", title="Ceramic Coffee Dripper")[0]
    stand = product_rows(("tea",), prefix="cms", title="Walnut Stand")[0]
    stand.tags = ["Home Decor", "puzzles"]
    Product.objects.bulk_create([dripper, stand])

    items = {item.product_id: item for item in load_catalog(None, model_name=get_embedding_provider().model_name)}

    assert "tag:tea" in items[dripper.pk].themes and "tag:coffee" not in items[dripper.pk].themes
    assert items[dripper.pk].named_themes == {"tag:coffee"}
    assert items[stand.pk].named_themes == {"tag:home_decor", "tag:puzzles"}
    # The catalog's own products are named by their titles ("Coffee gift 3"): the same theme as their tag
    assert all(items[p.pk].named_themes <= items[p.pk].themes for p in catalog)
