"""The Redis limiter on its own: spacing, token window, concurrency, cooldown, release (real Redis)."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from gifting_jobs.broker import RedisBroker
from gifting_jobs.broker.limits import Denial, Grant, Refusal
from gifting_jobs.conf import ProviderRateLimit, parse_settings
from gifting_jobs.exceptions import ConfigurationError
from tests.conftest import wait_until

PROVIDER = "test.provider"


def limit(**fields: object) -> ProviderRateLimit:
    return ProviderRateLimit(**{"max_wait_seconds": 0, **fields})


def test_acquire__requests_are_spaced_by_their_share_of_the_window(broker: RedisBroker):
    # 60 per minute over a 10 s window: 10 per window, one a second; turns up to 3.5 s ahead are taken.
    rule = limit(requests_per_minute=60, window_seconds=10, max_wait_seconds=3.5)

    outcomes = [admitted_at(broker, rule) for _ in range(6)]

    grants = [at for at, outcome in outcomes if isinstance(outcome, Grant)]
    assert len(grants) == 4  # turns at +0, +1, +2, +3 s; the fifth is beyond the wait
    for before, after in pairwise(grants):
        assert after - before == pytest.approx(1.0, abs=0.02)
    refused = outcomes[4][1]
    assert isinstance(refused, Denial) and refused.reason == Refusal.REQUESTS
    assert outcomes[4][0] + refused.retry_in_s - grants[0] == pytest.approx(4.0, abs=0.02)


def test_acquire__tokens_wait_until_enough_have_left_the_window(broker: RedisBroker):
    rule = limit(tokens_per_minute=6000, window_seconds=1)  # 100 tokens per 1 s window

    first = broker.limits.acquire(PROVIDER, rule, tokens=70)
    second = broker.limits.acquire(PROVIDER, rule, tokens=40)
    small = broker.limits.acquire(PROVIDER, rule, tokens=30)

    assert isinstance(first, Grant)
    assert isinstance(second, Denial) and second.reason == Refusal.TOKENS
    assert 0.5 < second.retry_in_s <= 1.0  # when the first call leaves the window
    assert isinstance(small, Grant)  # 70 + 30 fit


def test_acquire__a_call_larger_than_the_window_is_refused_for_good(broker: RedisBroker):
    rule = limit(tokens_per_minute=6000, window_seconds=1)

    outcome = broker.limits.acquire(PROVIDER, rule, tokens=101)

    assert isinstance(outcome, Denial) and outcome.reason == Refusal.TOO_BIG


def test_release__corrects_the_tokens_from_the_usage(broker: RedisBroker):
    rule = limit(tokens_per_minute=6000, window_seconds=1)
    grant = broker.limits.acquire(PROVIDER, rule, tokens=90)
    assert isinstance(grant, Grant)
    assert isinstance(broker.limits.acquire(PROVIDER, rule, tokens=50), Denial)

    broker.limits.release(grant, used_tokens=40)  # the estimate was too high

    assert isinstance(broker.limits.acquire(PROVIDER, rule, tokens=50), Grant)
    assert broker.limits.tokens_in_window(PROVIDER, window_s=1) == 90


def test_acquire__concurrency_slots_are_held_until_released(broker: RedisBroker):
    rule = limit(max_concurrent=2)
    first, second = (broker.limits.acquire(PROVIDER, rule) for _ in range(2))
    assert isinstance(first, Grant) and isinstance(second, Grant)

    third = broker.limits.acquire(PROVIDER, rule)
    assert isinstance(third, Denial) and third.reason == Refusal.CONCURRENCY
    assert broker.limits.figures(PROVIDER).in_flight == 2

    broker.limits.release(first)
    assert isinstance(broker.limits.acquire(PROVIDER, rule), Grant)


def test_acquire__a_dead_callers_slot_expires_with_its_lease(broker: RedisBroker):
    rule = limit(max_concurrent=1, lease_seconds=0.2)
    assert isinstance(broker.limits.acquire(PROVIDER, rule), Grant)  # never released: its worker "died"

    assert isinstance(broker.limits.acquire(PROVIDER, rule), Denial)
    wait_until(lambda: isinstance(broker.limits.acquire(PROVIDER, rule), Grant), timeout=5, what="lease expiry")


def test_cool_down__refuses_every_call_until_it_ends_and_is_never_shortened(broker: RedisBroker):
    rule = ProviderRateLimit()  # unlimited: the cooldown applies all the same

    assert broker.limits.cool_down(PROVIDER, 2.0) == pytest.approx(2.0, abs=0.01)
    assert 1.7 < broker.limits.cool_down(PROVIDER, 0.5) <= 2.0

    outcome = broker.limits.acquire(PROVIDER, rule)
    assert isinstance(outcome, Denial) and outcome.reason == Refusal.COOLDOWN
    assert 1.7 < outcome.retry_in_s <= 2.0
    assert 1.7 < broker.limits.figures(PROVIDER).cooldown_s <= 2.0
    assert isinstance(broker.limits.acquire("test.other", rule), Grant)  # per provider key


def test_figures__count_calls_of_the_last_minute(broker: RedisBroker):
    rule = limit(requests_per_minute=60_000, max_wait_seconds=1)
    for _ in range(5):
        assert isinstance(broker.limits.acquire(PROVIDER, rule), Grant)

    figures = broker.limits.figures(PROVIDER)

    assert figures.calls_last_minute == 5 and figures.cooldown_s == 0 and figures.snoozed == 0
    assert PROVIDER in broker.limits.known_providers()


def test_rate_limits_setting__is_validated_with_the_fix_named():
    conf = parse_settings({"RATE_LIMITS": {"openai.embeddings": {"requests_per_minute": 3000, "window_seconds": 2}}})
    assert conf.rate_limit("openai.embeddings").requests_per_window == 100
    assert conf.rate_limit("push").requests_per_minute is None  # not configured: unlimited

    with pytest.raises(ConfigurationError, match="dotted lowercase"):
        parse_settings({"RATE_LIMITS": {"OpenAI Embeddings": {}}})
    with pytest.raises(
        ConfigurationError,
        match=r"\['RATE_LIMITS'\]\['push'\] has an unknown key 'requests_per_minit', did you mean 'requests_per_minute'",
    ):
        parse_settings({"RATE_LIMITS": {"push": {"requests_per_minit": 10}}})
    with pytest.raises(ConfigurationError, match="allows no request"):
        parse_settings({"RATE_LIMITS": {"push": {"requests_per_minute": 10, "window_seconds": 1}}})
    with pytest.raises(
        ConfigurationError, match=r"\['tokens_per_minute'\]: Input should be greater than or equal to 1"
    ):
        parse_settings({"RATE_LIMITS": {"push": {"tokens_per_minute": 0}}})


def test_cool_down__a_new_cooldown_slows_the_pace_once_per_episode(broker: RedisBroker):
    rule = limit(requests_per_minute=60, window_seconds=10, max_wait_seconds=3)  # a turn a second

    broker.limits.cool_down(PROVIDER, 0.05)
    broker.limits.cool_down(PROVIDER, 0.05)  # the same episode (calls in flight answering 429 too)
    assert broker.limits.figures(PROVIDER).slowdown == pytest.approx(1.05)

    wait_until(lambda: isinstance(broker.limits.acquire(PROVIDER, rule), Grant), timeout=5, what="cooldown over")
    first, _ = admitted_at(broker, rule)
    second, outcome = admitted_at(broker, rule)
    assert isinstance(outcome, Grant)
    assert second - first == pytest.approx(1.05, abs=0.02)


def admitted_at(broker: RedisBroker, rule: ProviderRateLimit) -> tuple[float, Grant | Denial]:
    """An acquire, and the moment (local clock) it asked plus the wait it was given: its turn."""
    asked = time.time()
    outcome = broker.limits.acquire(PROVIDER, rule)
    return asked + (outcome.wait_s if isinstance(outcome, Grant) else 0.0), outcome
