"""The enrichment interface: a product's text in, taxonomy-bound gift metadata out."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from gifting_jobs.taxonomy import OCCASION_SLUGS, PRICE_BAND_SLUGS, RECIPIENT_SLUGS, TAG_SLUGS

#: Most tags one product may carry.
MAX_TAGS = 8
#: Longest summary, in characters (one line).
MAX_SUMMARY_CHARS = 200
#: Appended to a summary cut to fit.
ELLIPSIS = "…"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def one_line(text: str, *, limit: int = MAX_SUMMARY_CHARS) -> str:
    """`text` on one line (whitespace collapsed), cut at a word boundary to at most `limit` chars."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - len(ELLIPSIS)]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + ELLIPSIS


def first_sentence(text: str) -> str:
    """The first sentence of `text` (up to the first ., ! or ? followed by a space)."""
    line = " ".join(text.split())
    return _SENTENCE_END.split(line, maxsplit=1)[0]


def _within(allowed: frozenset[str], family: str) -> AfterValidator:
    def check(values: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ValueError(
                f"{family} outside the taxonomy: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )
        # Duplicates carry no meaning; keep the first occurrence (the most relevant).
        return tuple(dict.fromkeys(values))

    return AfterValidator(check)


def _collapse_whitespace(value: object) -> object:
    return " ".join(value.split()) if isinstance(value, str) else value


def _check_band(value: str) -> str:
    if value not in PRICE_BAND_SLUGS:
        raise ValueError(f"price band {value!r} outside the taxonomy; allowed: {', '.join(sorted(PRICE_BAND_SLUGS))}")
    return value


class Enrichment(BaseModel):
    """What enrichment says about a product; stored as JSON on `Product.enrichment`.

    Every slug belongs to `gifting_jobs.taxonomy`: a value outside it is a
    validation error, never stored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags: Annotated[tuple[str, ...], Field(min_length=1, max_length=MAX_TAGS), _within(TAG_SLUGS, "tags")]
    occasions: Annotated[tuple[str, ...], _within(OCCASION_SLUGS, "occasions")] = ()
    recipient_types: Annotated[tuple[str, ...], _within(RECIPIENT_SLUGS, "recipient types")] = ()
    price_band: Annotated[str, AfterValidator(_check_band)] | None = None
    summary: Annotated[str, StringConstraints(max_length=MAX_SUMMARY_CHARS), BeforeValidator(_collapse_whitespace)] = ""


class EnrichmentProvider:
    """Tags a product's text with the fixed gift taxonomy.

    Capability flags tell callers what to expect, as anymail's backends do.
    """

    #: Short description of the provider and its model, for logs.
    name: str = ""
    #: Whether it calls a remote service (and so can fail transiently, and costs money).
    is_remote: bool = False
    #: Whether equal inputs always give equal outputs.
    is_deterministic: bool = True
    #: Modules the provider imports when used; `manage.py check` reports a missing one.
    required_modules: tuple[str, ...] = ()
    #: The optional dependency that installs them: `pip install "gifting-jobs[<extra>]"`.
    extra: str | None = None

    def enrich(self, text: str, *, price: Decimal | None, description: str | None = None) -> Enrichment:
        """The enrichment of a product whose text (title, brand, description, tags) is `text`.

        `price` sets the price band. `description`, when the caller has it
        apart from `text`, is what an offline summary is taken from.
        Raises `PermanentJobError` when the output cannot be made valid and
        `TransientJobError` when a retry may help.
        """
        raise NotImplementedError
