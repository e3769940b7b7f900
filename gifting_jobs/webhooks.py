"""The CMS product webhook: `POST /webhooks/payload/products/` (name `gifting_jobs:payload-products`).

Every delivery must carry `X-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body>` keyed with `GIFTING_JOBS["WEBHOOK_SECRET"]`; with an empty secret, or
the public dev secret while DEBUG is off, nothing is accepted. Answers, all
JSON: 202 (accepted, redeliveries included), 400 with field errors (anything
that is not a storable product event: bad JSON, nesting too deep, numbers too
long, NUL characters, out-of-range dates…), 401 for a missing or wrong
signature, 405 for other methods, 413 for a body over
`GIFTING_JOBS["WEBHOOK_MAX_BODY_BYTES"]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from gifting_jobs.conf import DEV_WEBHOOK_SECRET, get_settings
from gifting_jobs.exceptions import FieldError, ValidationError, field_error
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
    if secret == DEV_WEBHOOK_SECRET and not settings.DEBUG:
        # The dev secret is printed in the repository: anyone could sign with it.
        logger.error("GIFTING_JOBS['WEBHOOK_SECRET'] is the public dev secret and DEBUG is off: deliveries rejected")
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


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, or None when it is longer than `limit` bytes (read no further than that).

    Read from the stream rather than `request.body`, so this limit, not
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE (a 400 HTML page), decides.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def _reject_constant(name: str) -> Any:
    """`NaN` and `Infinity` are not JSON, whatever Python's parser tolerates."""
    raise ValueError(f"{name} is not a JSON value")


def _parse_json(body: bytes) -> tuple[Any, str | None]:
    """The decoded body, or the reason it cannot be decoded (invalid, too deep, a number too long)."""
    try:
        return json.loads(body, parse_constant=_reject_constant), None
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:
        # JSONDecodeError, UnicodeDecodeError, and the int-digits limit are all ValueErrors.
        return None, f"invalid JSON: {exc}"


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
    limit = get_settings().WEBHOOK_MAX_BODY_BYTES
    body = _read_body(request, limit)
    if body is None:
        return _error(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"body is larger than {limit} bytes",
            errors=[field_error([], f"at most {limit} bytes are accepted", "too_long")],
        )
    problem = _signature_error(request, body)
    if problem is not None:
        logger.warning(
            "webhook delivery rejected: %s",
            problem,
            extra={"remote_addr": request.META.get("REMOTE_ADDR", ""), "path": request.path},
        )
        return _error(HTTPStatus.UNAUTHORIZED, problem)
    data, invalid = _parse_json(body)
    if invalid is not None:
        return _error(
            HTTPStatus.BAD_REQUEST,
            "body is not valid JSON",
            errors=[field_error([], invalid, "json_invalid")],
        )
    if not isinstance(data, dict):
        return _error(
            HTTPStatus.BAD_REQUEST,
            "body must be a JSON object",
            errors=[field_error([], "expected an object with 'event' and 'doc'", "model_type")],
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
