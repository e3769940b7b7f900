"""Error fingerprints: dead letters that failed the same way share one, whatever ids their messages name.

A fingerprint hashes the job type, the error class and the error message with
its variable parts masked (see `mask_message`), so "product 42 not found" and
"product 97 not found" group together while a different job type or error
class never does. A plain module (no models): the data migration imports it.
"""

from __future__ import annotations

import hashlib
import re

#: Hex characters of a fingerprint (a prefix of a SHA-256 digest: 64 bits).
FINGERPRINT_LENGTH = 16
#: Characters of the masked message that count: a message that only differs after them shares the group.
MASKED_MESSAGE_MAX_CHARS = 500

#: The masks, applied in this order (earlier ones swallow what later ones would half-mask).
#: URLs and emails first (they hold numbers and hex), then UUIDs, hex ids, quoted values, numbers.
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", re.IGNORECASE)
#: 0x-prefixed, or a run of 8+ hex characters holding at least one digit (so plain words stay).
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.IGNORECASE)
#: A quoted value, unless it is a bare identifier without digits ('title', "product_id"): those name
#: fields and settings, which tell errors apart, while values (names, ids, text) vary per job.
_QUOTED = re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|\"[^\"\n]*\"")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_.]*")
#: An HTTP status after a word that introduces one is kept: a 429 and a 500 are different failures.
_HTTP_STATUS = re.compile(r"\b((?:HTTP(?:/[\d.]+)?|status(?: code)?|code)[:=]?\s*)([1-5]\d\d)\b", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*")
_STATUS_PLACEHOLDER = "\x00"
_WHITESPACE = re.compile(r"\s+")


def mask_message(message: str) -> str:
    """The error message with its variable parts replaced by placeholders.

    `<url>`, `<email>`, `<uuid>`, `<hex>`, `'<str>'` / `"<str>"` (quoted values
    that are not bare identifiers), `<n>` (numbers, signs and decimals included;
    an HTTP status after "HTTP", "status" or "code" is kept). Whitespace runs
    become one space, and only the first `MASKED_MESSAGE_MAX_CHARS` characters count.
    """
    text = _URL.sub("<url>", message)
    text = _EMAIL.sub("<email>", text)
    text = _UUID.sub("<uuid>", text)
    text = _HEX.sub("<hex>", text)
    text = _QUOTED.sub(_mask_quoted, text)
    # Statuses are set aside behind a placeholder digit-free marker, then restored.
    statuses: list[str] = []

    def keep_status(match: re.Match[str]) -> str:
        statuses.append(match.group(2))
        return match.group(1) + _STATUS_PLACEHOLDER

    text = _HTTP_STATUS.sub(keep_status, text)
    text = _NUMBER.sub("<n>", text)
    for status in statuses:
        text = text.replace(_STATUS_PLACEHOLDER, status, 1)
    return _WHITESPACE.sub(" ", text).strip()[:MASKED_MESSAGE_MAX_CHARS]


def _mask_quoted(match: re.Match[str]) -> str:
    quoted = match.group(0)
    quote, inner = quoted[0], quoted[1:-1]
    return quoted if _IDENTIFIER.fullmatch(inner) else f"{quote}<str>{quote}"


def error_fingerprint(job_type: str, error_class: str, error_message: str) -> str:
    """The group key of a failure: a hash of job type, error class and masked message."""
    key = "\n".join((job_type, error_class, mask_message(error_message)))
    return hashlib.sha256(key.encode()).hexdigest()[:FINGERPRINT_LENGTH]
