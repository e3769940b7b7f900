"""The HTTP layer shared by the OpenAI providers: one client factory, one error mapping.

The client never retries on its own (`max_retries=0`): the job spine retries
with backoff and jitter, and a hidden second layer of retries would multiply
attempts and hide rate limits from the logs. Every SDK error is translated
into `TransientJobError` (worth retrying, with the server's Retry-After) or
`PermanentJobError` (dead-lettered at once), so the spine's classification
never has to know the SDK.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import openai
import pydantic

from gifting_jobs.conf import GiftingJobsSettings, get_settings
from gifting_jobs.exceptions import ConfigurationError, JobError, PermanentJobError, TransientJobError
from gifting_jobs.retry_policy import TRANSIENT_HTTP_STATUSES

logger = logging.getLogger(__name__)

#: The SDK's own retries are off: the job spine owns retries.
SDK_MAX_RETRIES = 0
#: A Retry-After longer than this is treated as absent (the backoff then applies).
MAX_RETRY_AFTER_SECONDS = 3600.0
#: Headers carrying the server's retry hint, most precise first, with their unit in seconds.
RETRY_AFTER_HEADERS = (("retry-after-ms", 0.001), ("retry-after", 1.0))


def build_client(conf: GiftingJobsSettings | None = None) -> openai.OpenAI:
    """An `openai.OpenAI` client configured from `GIFTING_JOBS` (key, base URL, timeout).

    Raises `ConfigurationError` when no API key is set, naming the setting.
    """
    conf = conf or get_settings()
    if not conf.OPENAI_API_KEY:
        raise ConfigurationError(
            "GIFTING_JOBS['OPENAI_API_KEY'] is empty: set it (core settings read the OPENAI_API_KEY "
            "environment variable), or use the 'local' providers"
        )
    return openai.OpenAI(
        api_key=conf.OPENAI_API_KEY,
        base_url=conf.OPENAI_BASE_URL,
        timeout=conf.OPENAI_TIMEOUT_SECONDS,
        max_retries=SDK_MAX_RETRIES,
    )


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The server's retry hint in seconds, from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    if not headers:
        return None
    for name, unit in RETRY_AFTER_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * unit
        except ValueError:
            parsed = email.utils.parsedate_tz(value) if name == "retry-after" else None
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds) and 0 <= seconds <= MAX_RETRY_AFTER_SECONDS:
            return seconds
    return None


def translate_error(exc: Exception, *, operation: str) -> Exception:
    """The job error an exception of the OpenAI SDK (or of parsing its answer) stands for.

    Transient: 408/409/425/429 and 5xx answers, timeouts, connection errors.
    Permanent: other 4xx (bad request, authentication, permission, not found,
    unprocessable), answers that do not fit the schema, refusals, truncated or
    filtered completions. Our own job errors, and anything unknown, are
    returned as they are, for the spine to classify.
    """
    if isinstance(exc, JobError):
        return exc
    if isinstance(exc, openai.APIConnectionError):
        # APITimeoutError is a subclass: both mean the request may not have reached the server.
        kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "could not connect"
        return TransientJobError(f"OpenAI {operation}: {kind} ({exc})")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = f"OpenAI {operation}: HTTP {status}: {_error_message(exc)}"
        if status in TRANSIENT_HTTP_STATUSES or status >= 500:
            return TransientJobError(message, retry_after=retry_after_seconds(exc.response.headers), status=status)
        return PermanentJobError(message)
    if isinstance(exc, (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError)):
        return PermanentJobError(f"OpenAI {operation}: the completion was cut off or filtered ({exc})")
    if isinstance(exc, (openai.APIResponseValidationError, pydantic.ValidationError, ValueError)):
        return PermanentJobError(f"OpenAI {operation}: the answer does not fit the expected schema: {exc}")
    if isinstance(exc, openai.OpenAIError):
        return PermanentJobError(f"OpenAI {operation}: {exc}")
    return exc


@contextmanager
def openai_errors(operation: str) -> Iterator[None]:
    """Run an SDK call, re-raising its errors as `TransientJobError` / `PermanentJobError`."""
    try:
        yield
    except (openai.OpenAIError, pydantic.ValidationError, ValueError) as exc:
        translated = translate_error(exc, operation=operation)
        if translated is exc:
            raise
        raise translated from exc


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
    return exc.message
