"""Collection planning: themes, ranking, determinism and surface differences (no database)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pytest

from gifting_jobs.payloads import SurfaceName
from gifting_jobs.taxonomy import GIFT_TAGS, OCCASIONS
from gifting_jobs.work.collections import (
    SURFACES,
    THEME_TITLES,
    CatalogItem,
    ThemeKind,
    plan_collections,
    theme_key,
    theme_title,
)

DAY = date(2026, 3, 14)
TAGS = ("coffee", "tea", "outdoors", "books", "music", "pets", "wellness", "gaming")


def synthetic_catalog(
    *, per_tag: int = 12, featured_every: int = 3, occasions: bool = True, seed: int = 7
) -> list[CatalogItem]:
    """Products clustered by tag in a 16-dim space; every `featured_every`-th product is featured."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(TAGS), 16))
    items = []
    pk = 1
    for t, tag in enumerate(TAGS):
        for i in range(per_tag):
            vector = centres[t] + 0.4 * rng.normal(size=16)
            themes = {theme_key(ThemeKind.TAG, tag)}
            if occasions and i % 2 == 0:
                themes.add(theme_key(ThemeKind.OCCASION, "birthday" if t % 2 else "christmas"))
            items.append(CatalogItem(pk, vector / np.linalg.norm(vector), frozenset(themes), i % featured_every == 0))
            pk += 1
    return items


def plan(surface: SurfaceName, catalog: list[CatalogItem], **kwargs):
    options = {"target_date": DAY, "collections_count": 4, "products_per_collection": 6, **kwargs}
    return plan_collections(catalog, surface=surface, **options)


def test_theme_titles__every_taxonomy_term_has_a_title():
    expected = {theme_key(ThemeKind.TAG, t.slug) for t in GIFT_TAGS} | {
        theme_key(ThemeKind.OCCASION, o.slug) for o in OCCASIONS
    }
    assert set(THEME_TITLES) == expected
    assert theme_title("tag:coffee") == "For the coffee lovers"
    assert theme_title("occasion:unknown_day") == "Unknown day gifts"


def test_surfaces__every_surface_has_a_strategy():
    assert set(SURFACES) == set(SurfaceName)


@pytest.mark.parametrize("surface", list(SurfaceName))
def test_plan_collections__count_size_and_no_repeats(surface):
    planned = plan(surface, synthetic_catalog())

    assert len(planned) == 4
    all_ids = [pk for c in planned for pk, _ in c.items]
    assert all(len(c.items) == 6 for c in planned)
    assert len(all_ids) == len(set(all_ids)), "a product appears twice on one surface"
    assert all(c.title and c.title == theme_title(c.theme) for c in planned)
    for collection in planned:
        scores = [score for _, score in collection.items]
        assert scores == sorted(scores, reverse=True)


def test_plan_collections__deterministic_per_surface_and_date():
    catalog = synthetic_catalog()

    first = plan(SurfaceName.HOME, catalog)
    again = plan(SurfaceName.HOME, list(reversed(catalog)))
    next_day = [plan(SurfaceName.HOME, catalog, target_date=date(2026, 3, d)) for d in range(15, 22)]

    assert first == again
    assert any(p != first for p in next_day), "a week of home surfaces never rotates"


def test_plan_collections__items_belong_to_their_theme():
    catalog = synthetic_catalog()
    themes = {item.product_id: item.themes for item in catalog}

    for surface in SurfaceName:
        for collection in plan(surface, catalog):
            assert all(collection.theme in themes[pk] for pk, _ in collection.items)


def test_plan_collections__home_favours_featured_discovery_the_rest():
    catalog = synthetic_catalog()
    featured = {item.product_id for item in catalog if item.is_featured}

    def featured_share(surface: SurfaceName) -> float:
        ids = [pk for c in plan(surface, catalog) for pk, _ in c.items]
        return sum(pk in featured for pk in ids) / len(ids)

    # A third of the catalog is featured; home shows all it can, discovery fewer than their share.
    assert featured_share(SurfaceName.HOME) > 0.6
    assert featured_share(SurfaceName.DISCOVERY) < 1 / 3


def test_plan_collections__occasion_surface_starts_with_occasions():
    planned = plan(SurfaceName.OCCASION, synthetic_catalog(), collections_count=4)

    kinds = [c.theme.split(":")[0] for c in planned]
    assert kinds[:2] == ["occasion", "occasion"]
    assert kinds[2:] == ["tag", "tag"]


def test_plan_collections__occasion_surface_favours_the_season():
    catalog = synthetic_catalog()

    def first_theme(day: date) -> str:
        return plan(SurfaceName.OCCASION, catalog, target_date=day, collections_count=1)[0].theme

    december = Counter(first_theme(date(2026, 12, d)) for d in range(1, 29))
    assert december["occasion:christmas"] > december["occasion:birthday"]


def test_plan_collections__discovery_favours_themes_shown_less():
    catalog = synthetic_catalog(occasions=False)
    shown = Counter({theme_key(ThemeKind.TAG, t): 10 for t in TAGS[:4]})

    picked = Counter(
        c.theme
        for d in range(1, 29)
        for c in plan(SurfaceName.DISCOVERY, catalog, target_date=date(2026, 2, d), recent=shown, collections_count=2)
    )
    rested = sum(n for theme, n in picked.items() if theme not in shown)
    assert rested > 0.8 * sum(picked.values())


def test_plan_collections__fewer_collections_when_themes_run_out():
    catalog = synthetic_catalog(per_tag=5, occasions=False)

    planned = plan(SurfaceName.HOME, catalog, collections_count=20, products_per_collection=5)

    assert len(planned) == len(TAGS)


def test_plan_collections__empty_catalog():
    assert plan(SurfaceName.HOME, []) == []


def test_plan_collections__a_product_whose_words_name_a_theme_joins_it_and_ranks_first():
    # Given a coffee product the tagger put under tea, at the coffee centroid like its peers
    catalog = synthetic_catalog(occasions=False)
    coffee = [item for item in catalog if theme_key(ThemeKind.TAG, "coffee") in item.themes]
    centroid = np.mean([item.vector for item in coffee], axis=0)
    named = CatalogItem(
        999,
        centroid / np.linalg.norm(centroid),
        frozenset({theme_key(ThemeKind.TAG, "tea")}),
        False,
        named_themes=frozenset({theme_key(ThemeKind.TAG, "coffee")}),
    )

    planned = plan(SurfaceName.DISCOVERY, [*catalog, named], collections_count=len(TAGS))

    by_theme = {p.theme: [pk for pk, _ in p.items] for p in planned}
    assert by_theme[theme_key(ThemeKind.TAG, "coffee")][0] == 999
    assert 999 not in by_theme.get(theme_key(ThemeKind.TAG, "tea"), [])
