"""The app's read-only JSON API: recommendations for the logged-in user, and a surface's collections.

`GET /api/recommendations/?recipient_id=&limit=` and
`GET /api/collections/<surface>/?date=YYYY-MM-DD`. Every answer is JSON:
401 when not logged in, 405 for methods other than GET and HEAD, 400 with
field errors for bad query parameters. Recommendations answer 404 when the
user has no completed taste profile (onboarding first) and 202 with a
`Retry-After` while the profile's embedding is being made.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, overload

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from gifting_jobs.exceptions import FieldError, ProfileBeingProcessed, ProfileNotFound, ValidationError, field_error
from gifting_jobs.models import CuratedCollection, Product, Surface
from gifting_jobs.services.collections import latest_collections
from gifting_jobs.services.recommendations import DEFAULT_LIMIT, Recommendation, get_recommendations, product_tags

if TYPE_CHECKING:
    from django.contrib.auth.models import User

#: Methods the read-only endpoints answer.
SAFE_METHODS = ("GET", "HEAD")
#: Seconds a client should wait before asking again while a profile is being embedded.
PROCESSING_RETRY_AFTER_SECONDS = 3
#: Largest id a query parameter may carry (Postgres bigint).
MAX_ID = 2**63 - 1
#: The one date format the collections endpoint accepts.
DATE_FORMAT = "%Y-%m-%d"

View = Callable[..., JsonResponse]


class LoggedInRequest(HttpRequest):
    """The request a `read_only_json` view gets: its user is logged in."""

    user: User


def error_response(status: int, code: str, detail: str, *, errors: list[FieldError] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JsonResponse(body, status=status)


def read_only_json(view: View) -> View:
    """GET/HEAD only (405 otherwise) and a logged-in user (401 otherwise), both answered in JSON.

    CSRF-exempt: the view changes nothing, and a POST must get the JSON 405,
    not the CSRF middleware's 403 HTML page (GET and HEAD are never checked anyway).
    """

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if request.method not in SAFE_METHODS:
            response = error_response(405, "method_not_allowed", f"{request.method} is not allowed; use GET")
            response["Allow"] = ", ".join(SAFE_METHODS)
            return response
        if not request.user.is_authenticated:
            response = error_response(401, "not_authenticated", "Log in to see this.")
            response["WWW-Authenticate"] = 'Session realm="gifting"'
            return response
        return view(request, *args, **kwargs)

    return wrapper


@overload
def _positive_int(raw: str | None, name: str, *, default: int) -> int: ...
@overload
def _positive_int(raw: str | None, name: str, *, default: None) -> int | None: ...
def _positive_int(raw: str | None, name: str, *, default: int | None) -> int | None:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdecimal() or not 1 <= int(raw) <= MAX_ID:
        raise ValidationError.for_field(
            name,
            "Input should be a positive integer",
            "int_parsing",
            message=f"invalid {name}: expected a positive integer, got {raw!r}",
        )
    return int(raw)


def product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.pk,
        "external_id": product.external_id,
        "title": product.title,
        "brand": product.brand,
        "price": str(product.price) if product.price is not None else None,
        "currency": product.currency,
        "is_featured": product.is_featured,
        "tags": sorted(product_tags(product)),
    }


def recommendation_json(recommendation: Recommendation) -> dict[str, Any]:
    return {
        "product": product_json(recommendation.product),
        "score": recommendation.score,
        "reasons": list(recommendation.reasons),
    }


@read_only_json
def recommendations_view(request: LoggedInRequest) -> JsonResponse:
    """The logged-in user's recommendations (for a recipient with `recipient_id`)."""
    try:
        recipient_id = _positive_int(request.GET.get("recipient_id"), "recipient_id", default=None)
        limit = _positive_int(request.GET.get("limit"), "limit", default=DEFAULT_LIMIT)
        results = get_recommendations(request.user.pk, recipient_id, limit)
    except ValidationError as exc:
        return error_response(400, "invalid_request", str(exc), errors=exc.errors)
    except ProfileNotFound as exc:
        return error_response(404, "profile_not_found", str(exc))
    except ProfileBeingProcessed as exc:
        response = JsonResponse({"status": "processing", "detail": str(exc)}, status=202)
        response["Retry-After"] = str(PROCESSING_RETRY_AFTER_SECONDS)
        return response
    return JsonResponse({"count": len(results), "results": [recommendation_json(r) for r in results]})


def collection_json(collection: CuratedCollection) -> dict[str, Any]:
    return {
        "position": collection.position,
        "theme": collection.theme,
        "title": collection.title,
        "description": collection.description,
        "items": [
            {"rank": item.rank, "score": item.score, "product": product_json(item.product)}
            for item in collection.items.all()
        ],
    }


@read_only_json
def collections_view(request: HttpRequest, surface: str) -> JsonResponse:
    """The latest collections of a surface for `date` (default: today)."""
    if surface not in Surface.values:
        return error_response(
            404, "unknown_surface", f"unknown surface {surface!r}; known surfaces: {', '.join(Surface.values)}"
        )
    raw_date = request.GET.get("date") or ""
    try:
        target: date = datetime.strptime(raw_date, DATE_FORMAT).date() if raw_date else timezone.localdate()
    except ValueError:
        return error_response(
            400,
            "invalid_request",
            f"invalid date: expected YYYY-MM-DD, got {raw_date!r}",
            errors=[field_error("date", "Input should be a date as YYYY-MM-DD", "date_parsing")],
        )
    collections = latest_collections(surface, target)
    return JsonResponse(
        {"surface": surface, "date": target.isoformat(), "collections": [collection_json(c) for c in collections]}
    )


urlpatterns: list[URLPattern] = [
    path("api/recommendations/", recommendations_view, name="api-recommendations"),
    path("api/collections/<str:surface>/", collections_view, name="api-collections"),
]
