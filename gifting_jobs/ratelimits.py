"""Provider rate limits, the provider side: wrap each call to a rate-limited provider in `limited_call`.

`GIFTING_JOBS["RATE_LIMITS"]` holds limits per provider key (`openai.embeddings`,
`openai.chat`, `push`, `email`, or a key of your own). A call waits for its turn
when it comes within `max_wait_seconds`; otherwise, and while the provider is
cooling down after a 429/503 with Retry-After, `ProviderRateLimited` is raised:
the job spine snoozes the job (re-enqueued later, its attempts untouched).
Custom providers use it the same way::

    with limited_call("acme.translate", tokens=estimate) as call:
        answer = client.translate(texts)
        call.used_tokens = answer.usage
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from gifting_jobs.broker import get_broker
from gifting_jobs.broker.limits import Denial, Grant, Refusal
from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import PermanentJobError, ProviderRateLimited, TransientJobError

logger = logging.getLogger(__name__)

#: The provider keys of the app's own providers.
OPENAI_EMBEDDINGS = "openai.embeddings"
OPENAI_CHAT = "openai.chat"
PUSH = "push"
EMAIL = "email"
#: Statuses that say "slow down": with Retry-After they start a provider-wide cooldown.
RATE_LIMIT_STATUSES = frozenset({429, 503})
#: Cooldown after a 429 that carries no Retry-After (seconds).
DEFAULT_COOLDOWN_SECONDS = 1.0
#: Snoozed jobs come back spread over at least this fraction of their delay, even for an unlimited
#: provider key, so the jobs a cooldown stopped do not all call again in the same millisecond.
MIN_SPREAD_FRACTION = 0.1
#: OpenAI's rule of thumb: about four characters of English per token.
CHARS_PER_TOKEN = 4

#: Inside `waiting_for_turns()`, a refused call waits in this thread instead of snoozing its job.
_patient: ContextVar[bool] = ContextVar("gifting_jobs_patient_calls", default=False)


@contextmanager
def waiting_for_turns() -> Iterator[None]:
    """Calls made inside wait for their turn however far it is (up to `max_snooze_seconds`), never raising.

    For bulk work outside the job spine (backfills), which has no job to snooze.
    """
    token = _patient.set(True)
    try:
        yield
    finally:
        _patient.reset(token)


def estimate_tokens(texts: Sequence[str]) -> int:
    """Tokens OpenAI will count for `texts`, estimated before the call (corrected from the usage after)."""
    return sum(math.ceil(len(text) / CHARS_PER_TOKEN) + 1 for text in texts)


@dataclass
class LimitedCall:
    """The call in progress: set `used_tokens` from the answer's usage to correct the estimate."""

    provider: str
    estimated_tokens: int
    used_tokens: int | None = None


def snooze_delay(denial: Denial, *, spacing_s: float) -> float:
    """When a refused job should come back: at its turn, spread over the turns of the jobs already snoozed.

    Jobs snoozed together would all come back at the same turn and all but
    one be refused again; spread over the time the snoozed backlog needs,
    they come back about as fast as the provider takes them.
    """
    spread = max(denial.snoozed * spacing_s, spacing_s, denial.retry_in_s * MIN_SPREAD_FRACTION)
    return denial.retry_in_s + random.uniform(0, spread)


def _spacing_s(provider: str, tokens: int) -> float:
    """How long one such call occupies the provider's quota (its share of the window)."""
    limit = get_settings().rate_limit(provider)
    shares = [0.0]
    if limit.requests_per_window:
        shares.append(limit.window_seconds / limit.requests_per_window)
    if limit.tokens_per_window and tokens:
        shares.append(limit.window_seconds * tokens / limit.tokens_per_window)
    return max(shares)


def acquire(provider: str, *, tokens: int = 0) -> Grant:
    """Wait for a turn of `provider`'s limits, or raise `ProviderRateLimited` when it is beyond `max_wait_seconds`.

    A call larger than the whole token window raises `PermanentJobError`: it can never pass.
    """
    limit = get_settings().rate_limit(provider)
    limits = get_broker().limits
    started = time.monotonic()
    deadline = started + (limit.max_snooze_seconds if _patient.get() else limit.max_wait_seconds)
    while True:
        outcome = limits.acquire(provider, limit, tokens=tokens)
        if isinstance(outcome, Grant):
            if outcome.wait_s > 0:
                time.sleep(outcome.wait_s)
            return outcome
        if outcome.reason == Refusal.TOO_BIG:
            raise PermanentJobError(
                f"a call of {tokens} tokens exceeds {provider!r}'s whole token window "
                f"({limit.tokens_per_window}): split it into smaller calls"
            )
        patient = _patient.get() or outcome.reason == Refusal.CONCURRENCY
        if patient and time.monotonic() + outcome.retry_in_s <= deadline:
            time.sleep(outcome.retry_in_s)
            continue
        delay = snooze_delay(outcome, spacing_s=_spacing_s(provider, tokens))
        raise ProviderRateLimited(provider, delay, reason=outcome.reason)


def cool_down(provider: str, seconds: float) -> float:
    """Stop every worker from calling `provider` for `seconds`; returns the cooldown now in force.

    A cooldown that starts also slows the provider's pace a little for a while (see `broker.limits`).
    """
    window = get_settings().rate_limit(provider).window_seconds
    return get_broker().limits.cool_down(provider, seconds, window_seconds=window)


def rate_limit_answer(exc: BaseException) -> float | None:
    """The cooldown (seconds) a provider's answer asks for: 429 (with or without Retry-After), 503 with it."""
    if not isinstance(exc, TransientJobError) or isinstance(exc, ProviderRateLimited):
        return None
    if exc.status == 429:
        return exc.retry_after if exc.retry_after is not None else DEFAULT_COOLDOWN_SECONDS
    if exc.status in RATE_LIMIT_STATUSES and exc.retry_after is not None:
        return exc.retry_after
    return None


@contextmanager
def limited_call(provider: str, *, tokens: int = 0) -> Iterator[LimitedCall]:
    """Run one provider call within `provider`'s limits.

    Before: waits for its turn or raises `ProviderRateLimited` (snooze). During:
    a 429 (or 503 with Retry-After) the call raises as `TransientJobError`
    starts a provider-wide cooldown and is re-raised as `ProviderRateLimited`.
    After: frees the concurrency slot and corrects the tokens from `used_tokens`.
    """
    grant = acquire(provider, tokens=tokens)
    call = LimitedCall(provider, grant.tokens)
    try:
        yield call
    except TransientJobError as exc:
        seconds = rate_limit_answer(exc)
        if seconds is None:
            raise
        left = cool_down(provider, seconds)
        logger.warning(
            "%s answered %s: every worker holds off for %.3f s",
            provider,
            exc.status,
            left,
            extra={"provider": provider, "cooldown_s": left},
        )
        cooling = Denial(provider, left, Refusal.COOLDOWN, grant.snoozed)
        delay = snooze_delay(cooling, spacing_s=_spacing_s(provider, tokens))
        raise ProviderRateLimited(provider, delay, reason=f"answered {exc.status}: {exc}") from exc
    finally:
        get_broker().limits.release(grant, used_tokens=call.used_tokens)


def batch_token_cap(provider: str) -> int | None:
    """Tokens to pack into `provider`'s next call: what its window has left, None when tokens are unlimited.

    When nothing is left, the whole window: the call waits for its turn either
    way, and must never be larger than the window. Approximate (a read, no
    reservation): good enough to size a batch, the acquire decides.
    """
    limit = get_settings().rate_limit(provider)
    window = limit.tokens_per_window
    if window is None:
        return None
    left = window - get_broker().limits.tokens_in_window(provider, window_s=limit.window_seconds)
    return left if left > 0 else window


def pack(texts: Sequence[str], *, max_texts: int, max_tokens: int | None) -> list[str]:
    """The longest head of `texts` within `max_texts` texts and `max_tokens` estimated tokens.

    Never empty when `texts` is not: one text always goes, whatever the budget.
    """
    batch: list[str] = []
    total = 0
    for text in texts[:max_texts]:
        tokens = estimate_tokens([text])
        if batch and max_tokens is not None and total + tokens > max_tokens:
            break
        batch.append(text)
        total += tokens
    return batch
