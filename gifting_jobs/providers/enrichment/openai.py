"""LLM enrichment through OpenAI structured output, bound to the gift taxonomy.

The response schema lists every allowed slug as an enum, so the model cannot
answer outside the taxonomy under strict structured output; an answer that
does anyway (or a refusal, or a cut-off completion) is a `PermanentJobError`:
asking again with the same prompt would not help.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import PermanentJobError
from gifting_jobs.providers.enrichment.base import MAX_SUMMARY_CHARS, MAX_TAGS, Enrichment, EnrichmentProvider, one_line
from gifting_jobs.providers.openai_client import build_client, openai_errors
from gifting_jobs.ratelimits import OPENAI_CHAT, estimate_tokens, limited_call
from gifting_jobs.taxonomy import GIFT_TAGS, OCCASIONS, RECIPIENT_TYPES, Term, price_band

if TYPE_CHECKING:
    import openai

#: Longest product text sent to the model, in characters (longer descriptions add cost, not tags).
MAX_PROMPT_TEXT_CHARS = 4000
#: Tokens an answer is expected to take, counted before the call (the usage corrects it).
EXPECTED_COMPLETION_TOKENS = 200

if TYPE_CHECKING:
    # A type checker cannot follow Literals built from the taxonomy at import; pydantic validates them.
    TagSlug = str
    OccasionSlug = str
    RecipientSlug = str
else:
    TagSlug = Literal[tuple(term.slug for term in GIFT_TAGS)]
    OccasionSlug = Literal[tuple(term.slug for term in OCCASIONS)]
    RecipientSlug = Literal[tuple(term.slug for term in RECIPIENT_TYPES)]


class EnrichmentAnswer(BaseModel):
    """A gift product's tags, occasions, recipient types and one-line summary, from the fixed lists."""

    # This docstring and the field descriptions are sent to the model with the schema.

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags: list[TagSlug] = Field(description=f"1 to {MAX_TAGS} gift tags, most relevant first")
    occasions: list[OccasionSlug] = Field(description="occasions the product suits as a gift (may be empty)")
    recipient_types: list[RecipientSlug] = Field(description="who the product suits as a gift (may be empty)")
    summary: str = Field(description=f"one line for gifters, at most {MAX_SUMMARY_CHARS} characters")


def _term_lines(terms: tuple[Term, ...]) -> str:
    return "\n".join(f"- {term.slug}: {term.label} ({term.description})" for term in terms)


SYSTEM_PROMPT = f"""You tag gift products for a gift-recommendation app.
Answer only with slugs from these lists.

Tags (choose 1 to {MAX_TAGS}, most relevant first):
{_term_lines(GIFT_TAGS)}

Occasions (choose those the product clearly suits, or none):
{_term_lines(OCCASIONS)}

Recipient types (choose those the product clearly suits, or none):
{_term_lines(RECIPIENT_TYPES)}

Summary: one plain sentence telling a gifter what the product is, at most {MAX_SUMMARY_CHARS} characters."""


def user_prompt(text: str, price: Decimal | None) -> str:
    """The product as the model reads it."""
    price_line = f"\nPrice: {price}" if price is not None else ""
    return f"Product:\n{text[:MAX_PROMPT_TEXT_CHARS]}{price_line}"


class OpenAIEnrichmentProvider(EnrichmentProvider):
    """`chat.completions.parse(model=ENRICHMENT_MODEL, response_format=EnrichmentAnswer)`.

    Tags beyond the first eight are dropped and the summary is cut to one
    line of 200 characters; a slug outside the taxonomy is never stored.
    """

    is_remote = True
    required_modules = ("openai",)
    is_deterministic = False
    #: The `GIFTING_JOBS["RATE_LIMITS"]` key its requests count against.
    rate_limit_key = OPENAI_CHAT

    def __init__(self, *, model: str | None = None, client: openai.OpenAI | None = None) -> None:
        conf = get_settings()
        self.model = model or conf.ENRICHMENT_MODEL
        self.name = f"openai:{self.model}"
        self._client = client or build_client(conf)

    def enrich(self, text: str, *, price: Decimal | None, description: str | None = None) -> Enrichment:
        prompt = user_prompt(text, price)
        estimate = estimate_tokens([SYSTEM_PROMPT, prompt]) + EXPECTED_COMPLETION_TOKENS
        with limited_call(self.rate_limit_key, tokens=estimate) as call, openai_errors("enrichment"):
            completion = self._client.chat.completions.parse(
                model=self.model,
                messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
                response_format=EnrichmentAnswer,
            )
            if completion.usage is not None:
                call.used_tokens = int(completion.usage.total_tokens)
        if not completion.choices:
            raise PermanentJobError("OpenAI enrichment: the completion has no choices")
        message = completion.choices[0].message
        if message.refusal:
            raise PermanentJobError(f"OpenAI enrichment: the model refused: {message.refusal}")
        answer = message.parsed
        if answer is None:
            raise PermanentJobError("OpenAI enrichment: the completion holds no structured answer")
        try:
            return Enrichment(
                tags=tuple(dict.fromkeys(answer.tags))[:MAX_TAGS],
                occasions=tuple(answer.occasions),
                recipient_types=tuple(answer.recipient_types),
                price_band=price_band(price),
                summary=one_line(answer.summary),
            )
        except pydantic.ValidationError as exc:
            raise PermanentJobError(f"OpenAI enrichment: the answer is not a valid enrichment: {exc}") from exc
