"""The CMS product webhook: `POST /webhooks/payload/products/` (name `gifting_jobs:payload-products`).

Every delivery must carry `X-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body>` keyed with `GIFTING_JOBS["WEBHOOK_SECRET"]`; with an empty secret
nothing is accepted. Answers: 202 (accepted, redeliveries included), 400 with
field errors, 401 for a missing or wrong signature, 405 for other methods.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import FieldError, ValidationError
from gifting_jobs.services.ingestion import handle_product_changed

logger = logging.getLogger(__name__)

#: The header carrying the body's signature (Django's META name below).
SIGNATURE_HEADER = "X-Signature-256"
SIGNATURE_META_KEY = "HTTP_X_SIGNATURE_256"
#: `sha256=` followed by the 64 hex digits of an HMAC-SHA256.
SIGNATURE_PATTERN = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
#: Tells a client how to authenticate after a 401 (RFC 9110 requires the header).
WWW_AUTHENTICATE = f'HMAC-SHA256 header="{SIGNATURE_HEADER}"'


def sign(body: bytes, secret: str) -> str:
    """The `X-Signature-256` value of `body`: what the CMS sends, and what tests and tools use."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _signature_error(request: HttpRequest, body: bytes) -> str | None:
    """Why the request's signature is not acceptable, or None when it is valid."""
    secret = get_settings().WEBHOOK_SECRET
    if not secret:
        logger.error("GIFTING_JOBS['WEBHOOK_SECRET'] is empty: every webhook delivery is rejected")
        return "webhook signing is not configured on this server"
    header = request.META.get(SIGNATURE_META_KEY)
    if header is None:
        return f"missing {SIGNATURE_HEADER} header"
    match = SIGNATURE_PATTERN.match(header.strip())
    if match is None:
        return f"malformed {SIGNATURE_HEADER} header: expected 'sha256=<64 hex digits>'"
    if not hmac.compare_digest("sha256=" + match.group(1).lower(), sign(body, secret)):
        return "signature does not match the body"
    return None


def _error(status: HTTPStatus, message: str, *, errors: list[FieldError] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    response = JsonResponse(body, status=status)
    if status == HTTPStatus.UNAUTHORIZED:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


@csrf_exempt
def payload_products(request: HttpRequest) -> JsonResponse:
    """Mirror one signed CMS product event; answers 202 with the action taken."""
    if request.method != "POST":
        response = _error(HTTPStatus.METHOD_NOT_ALLOWED, f"method {request.method} not allowed; use POST")
        response["Allow"] = "POST"
        return response
    body = request.body
    problem = _signature_error(request, body)
    if problem is not None:
        logger.warning(
            "webhook delivery rejected: %s",
            problem,
            extra={"remote_addr": request.META.get("REMOTE_ADDR", ""), "path": request.path},
        )
        return _error(HTTPStatus.UNAUTHORIZED, problem)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _error(
            HTTPStatus.BAD_REQUEST,
            "body is not valid JSON",
            errors=[{"loc": [], "msg": f"invalid JSON: {exc}", "type": "json_invalid"}],
        )
    if not isinstance(data, dict):
        return _error(
            HTTPStatus.BAD_REQUEST,
            "body must be a JSON object",
            errors=[{"loc": [], "msg": "expected an object with 'event' and 'doc'", "type": "model_type"}],
        )
    try:
        result = handle_product_changed(data)
    except ValidationError as exc:
        return _error(HTTPStatus.BAD_REQUEST, str(exc), errors=exc.errors)
    return JsonResponse(
        {"external_id": result.external_id, "product_id": result.product_id, "action": result.action.value},
        status=HTTPStatus.ACCEPTED,
    )


urlpatterns: list[URLPattern] = [
    path("webhooks/payload/products/", payload_products, name="payload-products"),
]
