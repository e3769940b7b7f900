"""Embedding batches packed within the token quota, and bulk embedding that waits out rate limits."""

from __future__ import annotations

import time

import pytest

from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.ratelimits import OPENAI_EMBEDDINGS, cool_down, estimate_tokens, pack
from gifting_jobs.retry_policy import RetryPolicy

#: 20 characters: 5 tokens by the estimate, plus 1 per text.
TEXT = "a warm woollen scarf"


def test_pack__stops_at_the_batch_size_or_the_token_budget_and_always_takes_one():
    texts = [TEXT] * 10
    per_text = estimate_tokens([TEXT])

    assert len(pack(texts, max_texts=4, max_tokens=None)) == 4
    assert len(pack(texts, max_texts=64, max_tokens=3 * per_text)) == 3
    assert len(pack(texts, max_texts=64, max_tokens=3 * per_text - 1)) == 2
    assert pack(texts, max_texts=64, max_tokens=0) == [TEXT]  # a call carries at least one text
    assert pack([], max_texts=64, max_tokens=10) == []


def test_embed__packs_texts_up_to_what_the_token_window_has_left(openai_providers, limits):
    # 100 tokens per 1 s window; the fake server reports 1 token used per text, which corrects the estimates.
    limits({OPENAI_EMBEDDINGS: {"tokens_per_minute": 6000, "window_seconds": 1}})
    texts = [f"{TEXT} {n:03d}" for n in range(40)]  # 24 characters: 7 tokens each by the estimate

    vectors = get_embedding_provider().embed(texts)

    assert len(vectors) == 40
    sizes = [len(r.body["input"]) for r in openai_providers.requests_to("embeddings")]
    # 100 // 7 = 14 first; then 100 - 14 used = 86 -> 12; then 100 - 26 = 74 -> 10; the 4 left.
    assert sizes == [14, 12, 10, 4]


def test_embed__a_spent_window_still_packs_no_more_than_the_window(openai_providers, limits):
    import dramatiq

    from gifting_jobs.conf import get_settings

    limits({OPENAI_EMBEDDINGS: {"tokens_per_minute": 6000, "window_seconds": 1, "max_wait_seconds": 2}})
    broker = dramatiq.get_broker()
    broker.limits.acquire(OPENAI_EMBEDDINGS, get_settings().rate_limit(OPENAI_EMBEDDINGS), tokens=100)  # all spent
    texts = [f"{TEXT} {n:03d}" for n in range(20)]

    vectors = get_embedding_provider().embed(texts)  # the first call waits for its turn, ~1 s

    assert len(vectors) == 20
    sizes = [len(r.body["input"]) for r in openai_providers.requests_to("embeddings")]
    assert sizes[0] == 14 and sum(sizes) == 20  # 100 // 7: the whole window, never more


def test_embed_with_retries__waits_out_a_cooldown_without_spending_an_attempt(openai_providers, limits):
    limits({})
    cool_down(OPENAI_EMBEDDINGS, 1.0)
    started = time.monotonic()

    vectors = get_embedding_provider().embed_with_retries([TEXT], policy=RetryPolicy(attempts=1))

    assert len(vectors) == 1
    assert time.monotonic() - started >= 0.95
    assert len(openai_providers.requests_to("embeddings")) == 1


def test_embed__a_text_larger_than_the_whole_token_window_is_a_permanent_error(openai_providers, limits):
    from gifting_jobs.exceptions import PermanentJobError

    limits({OPENAI_EMBEDDINGS: {"tokens_per_minute": 600, "window_seconds": 1}})

    with pytest.raises(PermanentJobError, match=r"exceeds 'openai\.embeddings'.s whole token window"):
        get_embedding_provider().embed(["x" * 200])
    assert openai_providers.requests_to("embeddings") == []
