"""`GET /api/recommendations/`: the logged-in user's recommendations as JSON."""

from __future__ import annotations

import pytest
from django.urls import reverse

from gifting_jobs.models import Recipient
from gifting_jobs.services.recommendations import MESSAGE_NO_PROFILE, MESSAGE_PROCESSING
from tests.data.relevance import PROFILES_BY_KEY, create_profile

URL = "/api/recommendations/"


def test_recommendations_api__url_name():
    assert reverse("gifting_jobs:api-recommendations") == URL


def test_recommendations_api__not_logged_in_is_401_json(client, db):
    response = client.get(URL)

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_recommendations_api__read_only(client, gifter, method):
    client.force_login(gifter)

    response = getattr(client, method)(URL)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"] == "method_not_allowed"


def test_recommendations_api__ranked_products_with_scores(client, gifter, catalog):
    create_profile(gifter, PROFILES_BY_KEY["coffee_hiker"].answers)
    client.force_login(gifter)

    response = client.get(URL, {"limit": "5"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5 and len(body["results"]) == 5
    first = body["results"][0]
    assert set(first) == {"product", "score", "reasons"}
    assert set(first["product"]) == {"id", "external_id", "title", "brand", "price", "currency", "is_featured", "tags"}
    assert first["product"]["external_id"].startswith("relevance-")
    assert isinstance(first["score"], float) and first["reasons"]
    assert all(20 <= float(r["product"]["price"]) <= 100 for r in body["results"])


def test_recommendations_api__for_a_recipient(client, gifter, catalog):
    gran = Recipient.objects.create(user=gifter, name="Gran")
    create_profile(gifter, PROFILES_BY_KEY["gardener"].answers, recipient=gran)
    client.force_login(gifter)

    response = client.get(URL, {"recipient_id": str(gran.pk), "limit": "3"})

    assert response.status_code == 200
    tags = {t for r in response.json()["results"] for t in r["product"]["tags"]}
    assert tags & {"gardening", "pets"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"recipient_id": "abc"}, "recipient_id"),
        ({"recipient_id": "0"}, "recipient_id"),
        ({"recipient_id": "-4"}, "recipient_id"),
        ({"recipient_id": "9" * 30}, "recipient_id"),
        ({"limit": "1000"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_recommendations_api__bad_parameters_are_400(client, gifter, params, field):
    client.force_login(gifter)

    response = client.get(URL, params)

    assert response.status_code == 400
    assert [e["loc"] for e in response.json()["errors"]] == [[field]]


def test_recommendations_api__no_profile_is_404_with_the_onboarding_message(client, gifter):
    client.force_login(gifter)

    response = client.get(URL)

    assert response.status_code == 404
    assert response.json() == {"error": "profile_not_found", "detail": MESSAGE_NO_PROFILE}


def test_recommendations_api__someone_elses_recipient_is_404(client, gifter, other_user):
    theirs = Recipient.objects.create(user=other_user, name="Sam")
    create_profile(other_user, PROFILES_BY_KEY["gardener"].answers, recipient=theirs)
    client.force_login(gifter)

    response = client.get(URL, {"recipient_id": str(theirs.pk)})

    assert response.status_code == 404


def test_recommendations_api__profile_being_processed_is_202_and_enqueues(client, gifter, jobs):
    profile = create_profile(gifter, PROFILES_BY_KEY["bookworm"].answers, embed=False)
    client.force_login(gifter)

    response = client.get(URL)

    assert response.status_code == 202
    assert response["Retry-After"] == "3"
    assert response.json() == {"status": "processing", "detail": MESSAGE_PROCESSING}
    jobs.assert_enqueued("taste_profile_embedding", taste_profile_id=profile.pk, user_id=gifter.pk, count=1)
