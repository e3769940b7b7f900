"""`GET /api/collections/<surface>/?date=`: a surface's latest collections as JSON."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from gifting_jobs.models import Product, ProductStatus
from gifting_jobs.payloads import CuratedCollectionsPayload
from gifting_jobs.work.collections import build_curated_collections
from tests.integration.collections.conftest import DAY


def url(surface: str = "home") -> str:
    return f"/api/collections/{surface}/"


def build(surface: str = "home", target_date=DAY, **params) -> None:
    build_curated_collections(
        CuratedCollectionsPayload(surface=surface, target_date=target_date, triggered_by="manual", **params)
    )


def test_collections_api__url_name():
    assert reverse("gifting_jobs:api-collections", args=["home"]) == url()


def test_collections_api__not_logged_in_is_401_json(client, db):
    response = client.get(url())

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_collections_api__read_only(client, gifter):
    client.force_login(gifter)

    response = client.post(url(), {})

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_collections_api__unknown_surface_is_404(client, gifter):
    client.force_login(gifter)

    response = client.get(url("sidebar"))

    assert response.status_code == 404
    assert response.json()["error"] == "unknown_surface"
    assert "home, discovery, occasion" in response.json()["detail"]


@pytest.mark.parametrize("value", ["14-03-2026", "2026-13-01", "yesterday", "2026-3-14x"])
def test_collections_api__bad_date_is_400(client, gifter, value):
    client.force_login(gifter)

    response = client.get(url(), {"date": value})

    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["date"]


def test_collections_api__the_days_collections_ranked(client, gifter, catalog):
    build("home", collections_count=3, products_per_collection=5)
    client.force_login(gifter)

    response = client.get(url(), {"date": DAY.isoformat()})

    assert response.status_code == 200
    body = response.json()
    assert body["surface"] == "home" and body["date"] == "2026-03-14"
    assert [c["position"] for c in body["collections"]] == [0, 1, 2]
    first = body["collections"][0]
    assert first["title"] and first["theme"].startswith("tag:")
    assert [i["rank"] for i in first["items"]] == [1, 2, 3, 4, 5]
    assert {"id", "title", "price", "tags"} <= set(first["items"][0]["product"])


def test_collections_api__latest_build_and_no_product_unpublished_since(client, gifter, catalog):
    build("home", collections_count=3, products_per_collection=5)
    build("home", collections_count=2, products_per_collection=4)
    client.force_login(gifter)
    shown = client.get(url(), {"date": DAY.isoformat()}).json()["collections"]
    first_product = shown[0]["items"][0]["product"]["id"]
    Product.objects.filter(pk=first_product).update(status=ProductStatus.ARCHIVED)

    collections = client.get(url(), {"date": DAY.isoformat()}).json()["collections"]

    # The manual rebuild with other parameters is the latest: two collections of four
    assert [len(c["items"]) for c in shown] == [4, 4]
    assert len(collections) == 2
    assert first_product not in {i["product"]["id"] for c in collections for i in c["items"]}


def test_collections_api__defaults_to_today_and_empty_before_a_build(client, gifter, catalog):
    today = timezone.localdate()
    client.force_login(gifter)

    before = client.get(url("discovery")).json()
    build("discovery", target_date=today)
    after = client.get(url("discovery")).json()

    assert before == {"surface": "discovery", "date": today.isoformat(), "collections": []}
    assert after["date"] == today.isoformat() and after["collections"]
