"""The provider side: `limited_call` around real provider calls, and what counts as a rate-limit answer."""

from __future__ import annotations

import threading
from decimal import Decimal

import dramatiq
import pytest

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import PermanentJobError, ProviderRateLimited, TransientJobError
from gifting_jobs.providers.enrichment import get_enrichment_provider
from gifting_jobs.ratelimits import OPENAI_CHAT, acquire, limited_call, rate_limit_answer
from tests.fake_openai import Fail

PROVIDER = "acme.translate"


@pytest.mark.parametrize(
    ("error", "cooldown"),
    [
        (TransientJobError("429", status=429, retry_after=3.0), 3.0),
        (TransientJobError("429 without a hint", status=429), 1.0),
        (TransientJobError("503", status=503, retry_after=7.0), 7.0),
        (TransientJobError("503 without a hint", status=503), None),
        (TransientJobError("500", status=500, retry_after=2.0), None),
        (TransientJobError("timed out"), None),
        (PermanentJobError("400"), None),
        (ProviderRateLimited(PROVIDER, 1.0, reason="requests"), None),
    ],
)
def test_rate_limit_answer__429_always_and_503_with_retry_after_start_a_cooldown(error, cooldown):
    assert rate_limit_answer(error) == cooldown


def test_limited_call__a_429_inside_cools_the_provider_down_and_snoozes(limits):
    limits({})

    with pytest.raises(ProviderRateLimited, match="answered 429") as caught, limited_call(PROVIDER):
        raise TransientJobError("gateway said slow down", status=429, retry_after=2.0)

    assert 1.9 < caught.value.retry_after <= 2.2  # the cooldown, plus a spread of up to 10%
    with pytest.raises(ProviderRateLimited, match=r"\(cooldown\)"):
        acquire(PROVIDER)


def test_limited_call__other_errors_pass_through_and_free_the_slot(limits):
    limits({PROVIDER: {"max_concurrent": 1, "max_wait_seconds": 0}})

    with pytest.raises(TransientJobError, match="boom"), limited_call(PROVIDER):
        raise TransientJobError("boom", status=500)

    with limited_call(PROVIDER):  # the slot was given back
        pass


def test_acquire__waits_for_a_concurrency_slot_within_max_wait_then_snoozes(limits):
    limits({PROVIDER: {"max_concurrent": 1, "max_wait_seconds": 1.0}})
    broker = dramatiq.get_broker()
    holder = broker.limits.acquire(PROVIDER, get_settings().rate_limit(PROVIDER))

    with pytest.raises(ProviderRateLimited, match="concurrency"):
        acquire(PROVIDER)  # nobody frees the slot within 1 s

    freeing = threading.Timer(0.2, broker.limits.release, args=(holder,))
    freeing.start()
    grant = acquire(PROVIDER)  # the slot comes free while it waits
    freeing.join()
    assert grant.holds_slot


def test_enrichment__counts_its_tokens_from_the_answers_usage(openai_providers, limits):
    limits({OPENAI_CHAT: {"tokens_per_minute": 100_000, "requests_per_minute": 600}})

    get_enrichment_provider().enrich("A ceramic pour-over coffee dripper", price=Decimal("25.00"))

    broker = dramatiq.get_broker()
    # The fake server reports 2 tokens used: the estimate (prompt + expected answer) was corrected.
    assert broker.limits.tokens_in_window(OPENAI_CHAT, window_s=60) == 2
    assert broker.limits.figures(OPENAI_CHAT).calls_last_minute == 1


def test_enrichment__a_429_snoozes_instead_of_failing(openai_providers, limits):
    limits({})
    openai_providers.script("chat", Fail(429, retry_after="2", message="Rate limit reached"))

    with pytest.raises(ProviderRateLimited, match="answered 429"):
        get_enrichment_provider().enrich("A wool blanket", price=None)

    assert 1.5 < dramatiq.get_broker().limits.figures(OPENAI_CHAT).cooldown_s <= 2.0
