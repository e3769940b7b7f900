"""A push backend that POSTs JSON to an HTTP push gateway (a generic webhook push).

Request: `POST GIFTING_JOBS["PUSH_URL"]` with `Authorization: Bearer <PUSH_TOKEN>`,
`Idempotency-Key: <message.idempotency_key>` and a JSON body::

    {"to": {"user_id": "42"},
     "notification": {"title": "...", "body": "..."},
     "data": {"occasion_id": "7", ...}}

A 2xx answer is accepted; its JSON `id` (or `message_id`, or FCM's `name`) becomes
the provider message id, else the idempotency key does. Errors are classified like
the spine's: 408/409/425/429/5xx, timeouts and connection errors are transient
(a Retry-After header is honoured), any other status is permanent.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ConfigurationError, PermanentJobError, TransientJobError
from gifting_jobs.limits import PROVIDER_MESSAGE_ID_MAX_LENGTH
from gifting_jobs.providers.push.base import PushBackend, PushMessage, PushResult
from gifting_jobs.retry_policy import TRANSIENT_HTTP_STATUSES

logger = logging.getLogger(__name__)

#: How much of an error response body is kept in the error message.
ERROR_BODY_EXCERPT = 300
#: Longest Retry-After honoured: a provider asking for more is retried at this.
MAX_RETRY_AFTER_SECONDS = 3600.0
#: The JSON keys a gateway may name its message id with, in order of preference.
MESSAGE_ID_KEYS = ("id", "message_id", "name")
USER_AGENT = "gifting-jobs-push/1"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def classify_status(status: int, body: str, retry_after: float | None) -> TransientJobError | PermanentJobError:
    """The job error an unsuccessful HTTP status stands for."""
    message = f"push gateway answered {status}: {body[:ERROR_BODY_EXCERPT]}"
    if status in TRANSIENT_HTTP_STATUSES or status >= 500:
        return TransientJobError(message, retry_after=retry_after, status=status)
    return PermanentJobError(message)


class HttpPushBackend(PushBackend):
    """Sends each push as one JSON POST; the gateway is expected to honour `Idempotency-Key`."""

    supports_idempotency_key = True

    def __init__(self, *, url: str | None = None, token: str | None = None, timeout: float | None = None) -> None:
        conf = get_settings()
        self.url = url if url is not None else conf.PUSH_URL
        self.token = token if token is not None else conf.PUSH_TOKEN
        self.timeout = timeout if timeout is not None else conf.PUSH_TIMEOUT_SECONDS
        if not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"HttpPushBackend needs GIFTING_JOBS['PUSH_URL'] to be an http(s) URL, got {self.url!r}"
            )

    def request_body(self, message: PushMessage) -> dict[str, Any]:
        return {
            "to": {"user_id": str(message.user_id)},
            "notification": {"title": message.title, "body": message.body},
            "data": dict(message.data),
        }

    def send(self, message: PushMessage) -> PushResult:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        request = urllib.request.Request(
            self.url, data=json.dumps(self.request_body(message)).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            raise classify_status(exc.code, body, parse_retry_after(exc.headers.get("Retry-After"))) from exc
        except TimeoutError as exc:
            # The gateway may have accepted it: the retry carries the same Idempotency-Key.
            raise TransientJobError(f"push gateway timed out after {self.timeout}s") from exc
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            raise TransientJobError(f"push gateway unreachable: {getattr(exc, 'reason', exc)}") from exc
        return PushResult(provider_message_id=self._message_id(raw) or message.idempotency_key)

    @staticmethod
    def _message_id(raw: bytes) -> str:
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            return ""
        if not isinstance(answer, dict):
            return ""
        for key in MESSAGE_ID_KEYS:
            if answer.get(key):
                return str(answer[key])[:PROVIDER_MESSAGE_ID_MAX_LENGTH]
        return ""
