"""The read-only API answers other methods with its JSON 405, with or without a CSRF token."""

from __future__ import annotations

import pytest
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

URLS = ["/api/recommendations/", "/api/collections/home/"]


@pytest.fixture
def csrf_client() -> Client:
    """A client that, like a browser, is subject to the CSRF middleware."""
    return Client(enforce_csrf_checks=True)


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("logged_in", [True, False], ids=["session", "anonymous"])
def test_read_only_api__other_methods_without_csrf_token_are_405_json(csrf_client, gifter, url, method, logged_in):
    if logged_in:
        csrf_client.force_login(gifter)

    response = getattr(csrf_client, method)(url)

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("url", URLS)
def test_read_only_api__post_with_a_valid_csrf_token_is_405_json(csrf_client, gifter, url):
    csrf_client.force_login(gifter)
    token = get_token(RequestFactory().get("/"))
    csrf_client.cookies["csrftoken"] = token

    response = csrf_client.post(url, {"csrfmiddlewaretoken": token})

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
