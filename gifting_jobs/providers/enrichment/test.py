"""A recording enrichment provider for tests (like anymail's test backend).

Set `GIFTING_JOBS["ENRICHMENT_PROVIDER"] = "test"`: tags are the taxonomy
slugs that appear as words in the text (else "experiences"), the summary is
the text's first line, and every call is recorded so a test can assert what
was enriched, and that nothing was when the work should skip.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from decimal import Decimal

from gifting_jobs.providers.enrichment.base import MAX_TAGS, Enrichment, EnrichmentProvider, one_line
from gifting_jobs.taxonomy import GIFT_TAGS, OCCASIONS, RECIPIENT_TYPES, price_band

#: The tag given to a text that names no tag.
FALLBACK_TAG = "experiences"


@dataclass(frozen=True)
class EnrichCall:
    text: str
    price: Decimal | None
    description: str | None


def _mentioned(text: str, slugs: list[str]) -> tuple[str, ...]:
    words = set(re.findall(r"[a-z_]+", text.lower()))
    return tuple(slug for slug in slugs if slug in words)


class RecordingEnrichmentProvider(EnrichmentProvider):
    """Deterministic keyword tagging; `calls` holds every `enrich` call. Thread-safe."""

    # Keeps pytest from collecting this class when a test module imports it.
    __test__ = False

    name = "test:keywords"
    is_remote = False
    is_deterministic = True

    def __init__(self) -> None:
        self._calls: list[EnrichCall] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> list[EnrichCall]:
        with self._lock:
            return list(self._calls)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def enrich(self, text: str, *, price: Decimal | None, description: str | None = None) -> Enrichment:
        with self._lock:
            self._calls.append(EnrichCall(text=text, price=price, description=description))
        tags = _mentioned(text, [t.slug for t in GIFT_TAGS])[:MAX_TAGS] or (FALLBACK_TAG,)
        lines = [line for line in text.splitlines() if line.strip()]
        return Enrichment(
            tags=tags,
            occasions=_mentioned(text, [t.slug for t in OCCASIONS]),
            recipient_types=_mentioned(text, [t.slug for t in RECIPIENT_TYPES]),
            price_band=price_band(price),
            summary=one_line(lines[0]) if lines else "",
        )
